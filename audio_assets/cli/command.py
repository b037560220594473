"""``audio-assets``: make a sample corpus, register speaker partitions, materialise them, run the demo.

Runs go through Dagster's real multiprocess executor against the instance in ``$DAGSTER_HOME``, so
they show up in ``dg dev`` exactly like runs launched from the UI. Like Dagster's own CLI, it first
reads the ``.env`` of the folder it is started in.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
import yaml
from dotenv import dotenv_values

from audio_assets.execution import start_step_launcher
from audio_assets.partitions import RUN_SPEAKERS, range_tags, speaker_partitions, speaker_ranges
from audio_assets.resources.audio_library import AudioLibrary, AudioRootUnavailable
from audio_assets.speaker_keys import key_problem


def refuse_impossible_keys(keys: Sequence[str]) -> None:
    """Stop before any run when a key asked for can never name a speaker folder."""
    problems = [f"{key!r}: {why}" for key in keys if (why := key_problem(key))]
    if problems:
        raise SystemExit("audio-assets: not a speaker folder name: " + "; ".join(problems))


def possible_keys(instance: dg.DagsterInstance) -> list[str]:
    """The registered keys, without those the sensor removes (added in the UI or over GraphQL)."""
    keys = []
    for key in instance.get_dynamic_partitions(speaker_partitions.name):
        if why := key_problem(key):
            print(f"partition {key!r} left out: {why} (the sensor removes it)", file=sys.stderr)
        else:
            keys.append(key)
    return keys


def load_dotenv_like_dagster(folder: Path) -> None:
    """Set the variables of ``folder/.env`` as Dagster's CLI does: its values replace the environment's
    (the project's .env writes ``${NAME:-default}`` where an exported value must win)."""
    path = folder / ".env"
    if path.is_file():
        os.environ.update({k: v for k, v in dotenv_values(path).items() if v is not None})


@contextlib.contextmanager
def configured_audio_library() -> Iterator[AudioLibrary]:
    """The definitions' ``audio_library`` (AUDIO_ROOT from the environment), ready to use here."""
    from audio_assets.definitions import defs

    with dg.build_resources({"audio_library": defs.resources["audio_library"]}) as resources:
        yield resources.audio_library


def register_speakers(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """Add a partition for every speaker folder of AUDIO_ROOT; returns (all keys, newly added)."""
    with configured_audio_library() as library:
        folders = []
        for name in library.speakers():
            problem = key_problem(name)
            if problem:
                print(f"speaker folder {name!r} skipped: {problem}; rename it to process it", file=sys.stderr)
            else:
                folders.append(name)
    known = set(instance.get_dynamic_partitions(speaker_partitions.name))
    new = [f for f in folders if f not in known]
    if new:
        instance.add_dynamic_partitions(speaker_partitions.name, new)
    return folders, new


def run_ranges(
    instance: dg.DagsterInstance, selected: Sequence[str], library: AudioLibrary, run_files: int
) -> list[tuple[str, str]]:
    """The runs for ``selected``, (first, last) speaker each: consecutive registered speakers, up to
    ``run_files`` files a run as the sensor makes them (a bigger folder gets a run alone)."""
    ordered = instance.get_dynamic_partitions(speaker_partitions.name)
    files = {speaker: state.files for speaker, state in library.folder_states().items()}
    try:  # a folder that is gone counts 0: its run skips it and reports it
        return speaker_ranges(selected, ordered, RUN_SPEAKERS, {s: files.get(s, 0) for s in selected}, (run_files,))
    except KeyError as error:
        raise SystemExit(f"{error.args[0]} (run `audio-assets register`)") from None


def materialize(instance: dg.DagsterInstance, selected: Sequence[str], run_config: dict | None = None) -> bool:
    """Materialise all speaker assets for ``selected``; several speakers share a run (and its model load)."""
    from audio_assets.definitions import executor, process_speakers_job, run_files

    with configured_audio_library() as library:
        ranges = run_ranges(instance, selected, library, run_files)
    if ranges:
        start_step_launcher(executor)
    ok = True
    for first, last in ranges:
        tags = range_tags(first, last)
        print(f"materialising speakers {first} … {last}" if first != last else f"materialising speaker {first}")
        result = dg.execute_job(
            dg.reconstructable(process_speakers_job), instance=instance, run_config=run_config, tags=tags
        )
        print(f"  run {result.run_id}: {'success' if result.success else 'FAILED'}")
        ok = ok and result.success
    return ok


def print_results(instance: dg.DagsterInstance, selected: Sequence[str]) -> None:
    for speaker in selected:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("merged_jsonl"), asset_partitions=[speaker]), limit=1
        ).records
        if not records:
            print(f"  {speaker}: not materialised")
            continue
        meta = records[0].asset_materialization.metadata
        print(f"  {speaker}: {meta['rows'].value} rows, {meta['errors'].value} errors → {meta['path'].value}")


def _load_config(path: str | None) -> dict:
    """Run config from a YAML file, with the console log at INFO (the per-event DEBUG lines are noise here)."""
    config = yaml.safe_load(Path(path).read_text()) if path else {}
    config.setdefault("loggers", {"console": {"config": {"log_level": "INFO"}}})
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audio-assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    corpus = sub.add_parser("corpus", help="synthesise a VCTK-layout corpus with espeak-ng")
    corpus.add_argument("out", type=Path)
    corpus.add_argument("--speakers", type=int, default=2)
    corpus.add_argument("--clips", type=int, default=3)
    sub.add_parser("register", help="add a partition for every speaker folder in AUDIO_ROOT")
    run = sub.add_parser("materialize", help="materialise speakers (default: all registered)")
    run.add_argument("speakers", nargs="*")
    run.add_argument("-c", "--config", help="run config YAML, e.g. to choose the Whisper backend or model")
    backfill = sub.add_parser("backfill", help="launch an asset backfill through a running webserver (like the UI)")
    backfill.add_argument("speakers", nargs="*", help="speakers to backfill (default: all partitions)")
    backfill.add_argument("--url", default="http://127.0.0.1:3000", help="the dagster webserver")
    backfill.add_argument("--wait", action="store_true", help="wait until the backfill has finished")
    demo = sub.add_parser("demo", help="register every speaker folder, materialise all, print the results")
    demo.add_argument("-c", "--config", help="run config YAML")
    args = parser.parse_args(argv)
    load_dotenv_like_dagster(Path.cwd())
    try:
        return _run(args)
    except AudioRootUnavailable as error:
        raise SystemExit(f"audio-assets: {error}") from None


def _run(args: argparse.Namespace) -> int:
    if args.command in ("materialize", "backfill"):
        refuse_impossible_keys(args.speakers)
    if args.command == "corpus":
        from audio_assets.cli.corpus import make_corpus

        made = make_corpus(args.out, speakers=args.speakers, clips=args.clips)
        print(f"wrote {len(made)} clips under {args.out / 'wav48_silence_trimmed'}")
        return 0

    if args.command == "backfill":
        from audio_assets.cli.backfill_client import launch_backfill, wait_for_backfill

        backfill_id = launch_backfill(args.url, args.speakers or None)
        print(f"backfill {backfill_id} launched: {args.url}/runs/b/{backfill_id}")
        if not args.wait:
            return 0
        status = wait_for_backfill(args.url, backfill_id)
        print(f"backfill {backfill_id}: {status}")
        return 0 if status in ("COMPLETED", "COMPLETED_SUCCESS") else 1

    instance = dg.DagsterInstance.get()
    if args.command == "register":
        folders, new = register_speakers(instance)
        print(f"{len(folders)} speaker folders, {len(new)} newly registered: {', '.join(new) or '-'}")
        return 0
    if args.command == "materialize":
        selected = args.speakers or possible_keys(instance)
        ok = materialize(instance, selected, _load_config(args.config))
        print_results(instance, selected)
        return 0 if ok else 1
    # demo
    folders, new = register_speakers(instance)
    print(f"registered {len(new)} new of {len(folders)} speaker folders: {', '.join(folders)}")
    ok = materialize(instance, folders, _load_config(args.config))
    print("results:")
    print_results(instance, folders)
    print("open the UI with `dg dev`, then http://127.0.0.1:3000 (asset graph, partitions, run metadata)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
