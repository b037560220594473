"""One benchmark, four ways, same machine, same corpus: the old way, the raw engine, the pipeline
run from the CLI, and the pipeline as users run it, under the daemon.

    .venv/bin/python benchmarks/pipeline.py [--speakers 40] [--clips 20] [--rounds 1]      (make bench)

It synthesises N speakers × M clips of speech with known text (espeak-ng), then runs, each in a fresh
Python process so that peak memory is its own:

(a) old:      openai-whisper ``transcribe()`` one file at a time with its default settings, then the
              tokeniser one file at a time: the sequential shape of the Airflow pipeline this replaces;
(b) engine:   the pipeline's own Whisper engine and tokeniser, batched, in one process, no Dagster;
(c) pipeline: a fresh DAGSTER_HOME, partitions registered, every speaker materialised through Dagster's
              multiprocess executor, JSONL written;
(d) daemon:   a fresh DAGSTER_HOME with the shipped instance config under ``dagster dev`` (webserver,
              daemon, code server); once the UI answers, the corpus is copied into AUDIO_ROOT and the
              sensor's runs go through the run queue. Timed from the UI answering to the last JSONL
              (and to the first). Then five new 3-clip folders are dropped in one by one, each once
              no run is going and at a random point of the sensor's interval: their latencies to
              JSONL. Then
              (d') the same corpus in a second fresh instance, the sensor stopped, registered and
              launched as one UI backfill (GraphQL ``launchPartitionBackfill``, as *Materialize all*).
              For both, each run's timeline from the event log: when the sensor or the backfill daemon
              created it, when its transcription and tokens steps ran, and transcription's files/s.

Next to (c) it reports the pipeline's per-run fixed cost (one 1-clip speaker) and Dagster's own floor:
the same graph, partitions, pool and executor with assets that do nothing (dagster_floor.py).

(b) runs first and again after the other modes; each ratio to (b) takes the mean of the (b) runs just
before and after it: this machine's pace drifts by several per cent within minutes. ``--rounds N``
runs the other modes N times, with (b) again after each round, and prints the median of the N ratios.

Times exclude the interpreter's start and the benchmark's own imports; they include what each way
does before its first file: importing torch and Whisper (for (c), in the forkserver) and loading the
models. For each: files/s, seconds of audio per wall second, peak RSS and WER against the known text;
then the ratios. The last line printed is one JSON object with all the figures.
"""

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
MODES = ("old", "engine", "pipeline", "daemon", "backfill")
LABELS = {"old": "(a)", "engine": "(b)", "pipeline": "(c)", "daemon": "(d)", "backfill": "(d')"}
SENSOR_INTERVAL, SENSOR_SETTLE = 5, 1  # seconds; the shipped defaults (30, 10) are for copies over a network
LATE_FOLDERS = 5  # (d): 3-clip folders dropped in one by one after the corpus, for the latency
EXTRA_MODES = ("engine+fallback",)  # figures for choosing a default, not part of the comparison


class TreeMemory:
    """Peak memory of this process and all its descendants (step processes, the forkserver), sampled
    every 0.25 s from /proc/<pid>/statm: private resident pages of every process plus the largest
    shared (file-backed) part once, as forked processes share those. (PSS would be exact, but reading
    it walks page tables and slowed the measured run by 1–4 s.) The process tree is found again once a
    second only: finding it reads the stat of every process on the machine, and four times a second
    that took CPU from the measured run under ``dagster dev`` (README: Throughput)."""

    def __init__(self):
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        samples = 0
        while not self._stop.is_set():
            if samples % 4 == 0:
                tree = _tree(os.getpid())
            samples += 1
            pages = [_statm(pid) for pid in tree]
            private = sum(resident - shared for resident, shared in pages)
            total = private + max((shared for _, shared in pages), default=0)
            self.peak_mb = max(self.peak_mb, total * PAGE_MB)
            self._stop.wait(0.25)


def _tree(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _statm(pid: int) -> tuple[int, int]:
    """(resident, shared) pages of a process; (0, 0) if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
        return int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return 0, 0


def _corpus(corpus: Path) -> list[tuple[str, Path, str]]:
    """(id, path, known text) for every clip of a corpus made by audio_assets.cli.corpus."""
    root = corpus / "wav48_silence_trimmed"
    items = []
    for path in sorted(root.rglob("*.flac")):
        speaker = path.parent.name
        text = (corpus / "txt" / speaker / f"{path.stem.removesuffix('_mic2')}.txt").read_text().strip()
        items.append((f"{speaker}/{path.name}", path, text))
    return items


def run_old(corpus: Path, cache: str) -> dict:
    from audio_assets.resources import AudioTokenizer
    from audio_assets.speech.decoding import decode
    from audio_assets.speech.models import openai_whisper_checkpoint

    items = _corpus(corpus)
    start = time.perf_counter()
    import torch  # timed, as (b) and (c) import it in their timed part too
    import whisper

    state = torch.load(openai_whisper_checkpoint("tiny.en", Path(cache)), weights_only=True)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**state["dims"]))
    model.load_state_dict(state["model_state_dict"])
    quantizer = AudioTokenizer().encoder()
    texts, seconds = {}, 0.0
    for file_id, path, _ in items:
        audio = decode(path.read_bytes())  # what load_audio would give, without ffmpeg
        seconds += len(audio) / 16000
        texts[file_id] = model.transcribe(audio, fp16=False)["text"].strip()  # its defaults otherwise
        quantizer.encode([audio])
    return {"wall": time.perf_counter() - start, "audio_seconds": seconds, "texts": texts}


def run_engine(corpus: Path, cache: str, temperature_fallback: bool = False) -> dict:
    from audio_assets.resources import AudioTokenizer, WhisperResource
    from audio_assets.speech.decoding import decode

    items = _corpus(corpus)
    start = time.perf_counter()
    whisper = WhisperResource(cache_dir=cache, temperature_fallback=temperature_fallback)
    engine, quantizer = whisper.engine(), AudioTokenizer().encoder()
    texts, seconds = {}, 0.0
    audios = {file_id: decode(path.read_bytes()) for file_id, path, _ in items}
    order = sorted(audios, key=lambda i: (len(audios[i]), i))  # as the pipeline batches them
    for first in range(0, len(order), whisper.batch_size):
        batch = order[first : first + whisper.batch_size]
        clips = [audios[i] for i in batch]
        for file_id, transcript in zip(batch, engine.transcribe(clips)):
            texts[file_id] = transcript.text
        quantizer.encode(clips)
        seconds += sum(len(c) for c in clips) / 16000
    return {"wall": time.perf_counter() - start, "audio_seconds": seconds, "texts": texts, "engine": engine.description}


def run_pipeline(corpus: Path, cache: str) -> dict:
    import dagster as dg

    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    instance = fresh_instance(work)
    os.environ.update(
        AUDIO_ROOT=str(corpus / "wav48_silence_trimmed"),
        RESULTS_DIR=str(work / "results"),
        PARQUET_DIR=str(work / "parquet"),
        XDG_CACHE_HOME=str(Path(cache).parent),
    )
    from audio_assets.cli.command import materialize, register_speakers

    speakers, _ = register_speakers(instance)
    config = {
        "resources": {"whisper": {"config": {"cache_dir": cache}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    start = time.perf_counter()
    ok = materialize(instance, speakers, config)
    wall = time.perf_counter() - start
    if not ok:
        raise SystemExit("the pipeline run failed")
    texts, seconds = {}, 0.0
    for speaker in speakers:
        for line in (work / "results" / f"{speaker}.jsonl").read_text("utf-8").splitlines():
            row = json.loads(line)
            texts[row["id"]] = row["transcription"]
        meta = (
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("audio_files"), asset_partitions=[speaker]), limit=1
            )
            .records[0]
            .asset_materialization.metadata
        )
        seconds += meta["audio_seconds"].value
    return {"wall": wall, "audio_seconds": seconds, "texts": texts}


class DagsterServices:
    """``dagster dev`` on the project's workspace with a fresh instance (the shipped config) in ``work``,
    started outside the project folder so that the project's .env does not choose the instance."""

    def __init__(self, work: Path, audio_root: Path, cache: str):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        home = work / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text((PROJECT / ".dagster_home" / "dagster.yaml").read_text())
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "AUDIO_ROOT": str(audio_root),
            "RESULTS_DIR": str(work / "results"),
            "PARQUET_DIR": str(work / "parquet"),
            "XDG_CACHE_HOME": str(Path(cache).parent),
            "AUDIO_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL),
            "AUDIO_SETTLE_SECONDS": str(SENSOR_SETTLE),
            **(
                {"AUDIO_FIRST_RUN_FILES": os.environ["BENCH_FIRST_RUN_FILES"]}
                if "BENCH_FIRST_RUN_FILES" in os.environ
                else {}
            ),
        }
        self.work = work
        self.process = None

    def __enter__(self):
        import signal
        import urllib.request

        dagster = str(Path(sys.executable).parent / "dagster")
        self.process = subprocess.Popen(
            [dagster, "dev", "-w", str(PROJECT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=self.work,
            env=self.env,
            stdout=open(self.work / "dagster-dev.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: (
                signal.signal(signal.SIGINT, signal.SIG_DFL),
                signal.signal(signal.SIGTERM, signal.SIG_DFL),
            ),
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"dagster dev did not answer; see {self.work / 'dagster-dev.log'}")

    def __exit__(self, *exc):
        import signal

        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def _wait_for_results(results: Path, expected: dict[str, int], start: float, timeout: float = 3600) -> dict:
    """Poll until every speaker's JSONL has its lines; seconds from ``start`` (a ``time.time()``) to the
    first and the last. A JSONL is moved into place whole, so its mtime says when it was written, and
    polling once a second takes less CPU from the runs being measured."""
    from audio_assets.files import safe_file_stem

    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(expected):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {len(done)} of {len(expected)} speakers written")
        for speaker, lines in expected.items():
            path = results / f"{safe_file_stem(speaker)}.jsonl"
            if speaker not in done and path.is_file() and len(path.read_bytes().splitlines()) == lines:
                done[speaker] = path.stat().st_mtime - start
        time.sleep(1)
    return {"first": min(done.values()), "last": max(done.values())}


def _texts(results: Path, speakers) -> dict[str, str]:
    texts = {}
    for speaker in speakers:
        for line in (results / f"{speaker}.jsonl").read_text("utf-8").splitlines():
            row = json.loads(line)
            texts[row["id"]] = row["transcription"]
    return texts


def _clips_per_speaker(corpus: Path) -> dict[str, int]:
    root = corpus / "wav48_silence_trimmed"
    return {folder.name: len(list(folder.glob("*.flac"))) for folder in sorted(root.iterdir())}


def run_daemon(corpus: Path, cache: str) -> dict:
    """(d): the corpus copied into AUDIO_ROOT under a running dagster dev; then one more 3-clip folder."""
    import shutil

    from audio_assets.cli.corpus import make_corpus

    work = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    audio_root = work / "audio"
    audio_root.mkdir()
    late = work / "late"
    make_corpus(late, speakers=LATE_FOLDERS, clips=3, first_speaker=990)
    expected = _clips_per_speaker(corpus)
    with DagsterServices(work, audio_root, cache) as services:
        started_at = time.time()  # the UI answers
        for speaker in expected:
            shutil.copytree(corpus / "wav48_silence_trimmed" / speaker, audio_root / speaker)
        times = _wait_for_results(work / "results", expected, started_at)
        latencies = []
        for folder in sorted((late / "wav48_silence_trimmed").iterdir()):
            # once the runs before it have ended (their checks outlast the JSONL; one run at a time, so
            # a folder dropped earlier waits for them), at a different point of the sensor's tick each
            _finished_runs(services.url)
            time.sleep(random.uniform(0, SENSOR_INTERVAL))
            dropped = time.time()
            shutil.copytree(folder, audio_root / folder.name)
            latencies.append(_wait_for_results(work / "results", {folder.name: 3}, dropped)["last"])
        statuses = _finished_runs(services.url)
    return {
        "wall": times["last"],
        "first_jsonl_seconds": times["first"],
        "latency_3_clips_seconds": max(latencies),
        "latencies_3_clips_seconds": latencies,
        "latency_bound_seconds": SENSOR_INTERVAL + SENSOR_SETTLE + 10,
        "timeline": _run_timeline(work / "home", started_at),
        "runs": len(statuses),
        "failed_runs": sum(s != "SUCCESS" for s in statuses),
        "audio_seconds": _audio_seconds(corpus),
        "texts": _texts(work / "results", expected),
    }


def run_backfill(corpus: Path, cache: str) -> dict:
    """(d'): the corpus registered in a fresh instance, the sensor off, then one backfill over all of it."""
    import shutil

    from audio_assets.cli.backfill_client import launch_backfill

    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    audio_root = work / "audio"
    audio_root.mkdir()
    expected = _clips_per_speaker(corpus)
    with DagsterServices(work, audio_root, cache) as services:
        origin, selector = _sensor_ids(services.url)
        stopped = _graphql(
            services.url,
            """mutation($origin: String!, $selector: String!) {
                 stopSensor(jobOriginId: $origin, jobSelectorId: $selector) { __typename } }""",
            {"origin": origin, "selector": selector},
        )
        assert stopped["stopSensor"]["__typename"] == "StopSensorMutationResult", stopped
        for speaker in expected:
            shutil.copytree(corpus / "wav48_silence_trimmed" / speaker, audio_root / speaker)
        for speaker in expected:
            _graphql(
                services.url,
                """mutation($key: String!) { addDynamicPartition(repositorySelector: {repositoryLocationName:
                   "audio_assets", repositoryName: "__repository__"}, partitionsDefName: "speakers",
                   partitionKey: $key) { __typename } }""",
                {"key": speaker},
            )
        started_at = time.time()  # the user clicks Launch
        launch_backfill(services.url, None)
        times = _wait_for_results(work / "results", expected, started_at)
        statuses = _finished_runs(services.url)
    return {
        "runs": len(statuses),
        "failed_runs": sum(s != "SUCCESS" for s in statuses),
        "timeline": _run_timeline(work / "home", started_at),
        "wall": times["last"],
        "first_jsonl_seconds": times["first"],
        "audio_seconds": _audio_seconds(corpus),
        "texts": _texts(work / "results", expected),
    }


def _run_timeline(home: Path, start: float) -> list[dict]:
    """Per run, in seconds from ``start`` (a ``time.time()``): when it was created (what the sensor or the
    backfill daemon took), when its worker started, when its transcription and tokens steps ran and
    its merge ended, and the transcription's files/s, read from the instance's event log once the runs
    are over."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.get()
    computed: dict[str, int] = {}  # run id → files its transcriptions computed
    for m in instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("transcriptions")), limit=10_000
    ).records:
        computed[m.run_id] = computed.get(m.run_id, 0) + m.asset_materialization.metadata["computed"].value
    timeline = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp()):
        row = {"created": record.create_timestamp.timestamp() - start, "ended": (record.end_time or start) - start}
        for event in instance.all_logs(record.dagster_run.run_id):
            kind = event.dagster_event.event_type_value if event.dagster_event else None
            if event.step_key in ("transcriptions", "tokens") and kind in ("STEP_START", "STEP_SUCCESS"):
                row[f"{event.step_key}_{'start' if kind == 'STEP_START' else 'end'}"] = event.timestamp - start
            elif kind == dg.DagsterEventType.RUN_START.value:
                row["started"] = event.timestamp - start
            elif event.step_key == "merged_jsonl" and kind == "STEP_SUCCESS":
                row["merged"] = event.timestamp - start
        row["files"] = files = computed.get(record.dagster_run.run_id, 0)
        if "transcriptions_end" in row:
            row["transcription_files_per_second"] = files / (row["transcriptions_end"] - row["transcriptions_start"])
        timeline.append({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()})
    return timeline


def _print_timeline(timeline: list[dict]) -> None:
    for i, run in enumerate(timeline, 1):
        steps = (
            f"transcriptions {run['transcriptions_start']:.1f}–{run['transcriptions_end']:.1f} s "
            f"({run['files']} files, {run['transcription_files_per_second']:.2f} files/s), "
            f"tokens {run['tokens_start']:.1f}–{run['tokens_end']:.1f} s, "
            if "transcriptions_end" in run and "tokens_end" in run
            else ""
        )
        started = f"started at {run['started']:.1f} s, " if "started" in run else ""
        merged = f"merged at {run['merged']:.1f} s, " if "merged" in run else ""
        created = f"created at {run['created']:.1f} s, "
        print(f"         run {i}: {created}{started}{steps}{merged}ended at {run['ended']:.1f} s")


def _finished_runs(url: str, timeout: float = 300) -> list[str]:
    """The statuses of all runs, once none is still going (a JSONL is written before its run's checks)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = _graphql(url, "{ runsOrError { ... on Runs { results { status } } } }")["runsOrError"]["results"]
        statuses = [r["status"] for r in runs]
        if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    from audio_assets.cli.backfill_client import graphql

    return graphql(url, query, variables)


def _sensor_ids(url: str) -> tuple[str, str]:
    data = _graphql(
        url,
        """{ sensorOrError(sensorSelector: {repositoryLocationName: "audio_assets", repositoryName:
             "__repository__", sensorName: "audio_folder_sensor"}) {
               ... on Sensor { jobOriginId sensorState { selectorId } } } }""",
    )["sensorOrError"]
    return data["jobOriginId"], data["sensorState"]["selectorId"]


def _audio_seconds(corpus: Path) -> float:
    import soundfile

    return sum(soundfile.info(str(p)).duration for p in (corpus / "wav48_silence_trimmed").rglob("*.flac"))


def fresh_instance(work: Path):
    import dagster as dg

    home = work / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / ".dagster_home" / "dagster.yaml").read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_floor(partitions: int) -> None:
    """Child process: Dagster's floor for a run over ``partitions`` speakers; prints it as JSON."""
    import dagster_floor

    os.chdir(Path(__file__).parent)  # step processes import dagster_floor relative to the working directory
    instance = fresh_instance(Path(tempfile.mkdtemp(prefix="bench-floor-")))
    print("RESULT " + json.dumps({"wall": dagster_floor.run(instance, partitions)}))


def run_mode(mode: str, corpus: Path, cache: str) -> None:
    """Child process: run one mode, print its figures as JSON."""
    with TreeMemory() as memory:
        runners = {
            "old": run_old,
            "engine": run_engine,
            "pipeline": run_pipeline,
            "daemon": run_daemon,
            "backfill": run_backfill,
            "engine+fallback": lambda c, k: run_engine(c, k, temperature_fallback=True),
        }
        result = runners[mode](corpus, cache)
    from audio_assets.speech.wer import word_error_rate

    items = _corpus(corpus)
    missing = [i for i, _, _ in items if i not in result["texts"]]
    result["wer"] = word_error_rate([t for _, _, t in items], [result["texts"].get(i, "") for i, _, _ in items])
    result["files"] = len(items) - len(missing)
    result["peak_memory_mb"] = memory.peak_mb
    del result["texts"]
    print("RESULT " + json.dumps(result))


def _child(*args: str) -> dict:
    """Run this script in a fresh process (its own peak memory, its own forkserver); its RESULT."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=40)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--fallback", action="store_true", help="also measure the engine with temperature fallback")
    parser.add_argument("--only", choices=MODES, action="append", help="run just these modes (repeatable)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the modes other than (b) this many times, (b) between them"
    )
    parser.add_argument(
        "--first-run-files", type=int, help="(d): the sensor's first run of a tick holds up to this many files"
    )
    parser.add_argument("--mode", choices=(*MODES, *EXTRA_MODES, "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--partitions", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "floor":
        run_floor(args.partitions)
        return
    if args.mode:
        run_mode(args.mode, args.corpus, args.cache)
        return

    from audio_assets.cli.corpus import make_corpus
    from audio_assets.partitions import RUN_FILES, RUN_SPEAKERS, speaker_ranges

    if args.first_run_files:
        os.environ["BENCH_FIRST_RUN_FILES"] = str(args.first_run_files)  # read by the (d) child process

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        os.environ["TMPDIR"] = tmp  # the modes' work folders (made in child processes) go with it
        corpus, cache = Path(tmp) / "corpus", str(Path(tmp) / "cache" / "audio_assets")
        made = make_corpus(corpus, speakers=args.speakers, clips=args.clips)
        print(f"corpus: {args.speakers} speakers × {args.clips} clips = {len(made)} clips of synthesised speech")
        figures = {}
        modes = tuple(args.only or MODES) + (EXTRA_MODES if args.fallback else ())
        fixed_corpus = Path(tmp) / "one-clip"
        make_corpus(fixed_corpus, speakers=1, clips=1)
        if "pipeline" in modes:
            fixed = _child("--mode", "pipeline", "--corpus", str(fixed_corpus), "--cache", cache)
            figures["pipeline_fixed_cost_seconds"] = fixed["wall"]
            print(f"    per-run fixed cost of the pipeline (one 1-clip speaker): {fixed['wall']:.1f} s")
            keys = [f"s{i}" for i in range(args.speakers)]  # (c)'s runs, as the CLI splits them
            runs = len(speaker_ranges(keys, keys, RUN_SPEAKERS, dict.fromkeys(keys, args.clips), (RUN_FILES,)))
            partitions = math.ceil(args.speakers / runs)
            floor = runs * _child("--mode", "floor", "--partitions", str(partitions))["wall"]
            figures["dagster_floor_seconds"] = floor
            print(
                f"    Dagster's floor for the same runs with assets that do nothing "
                f"({runs} × {partitions} partitions): {floor:.1f} s"
            )
        # the engine again after the others, as each one's reference is the mean of the engine runs just
        # before and after it (see the docstring); with --rounds N the others run N times, in between
        others = [m for m in modes if m != "engine"]
        if "engine" not in modes:
            order = others * args.rounds
        elif others:
            order = ["engine", *[m for _ in range(args.rounds) for m in (*others, "engine")]]
        else:
            order = ["engine"]
        engine_walls: list[float] = []
        measured: list[tuple[str, dict, int]] = []  # (mode, figures, engine runs before it)
        for mode in order:
            r = _child("--mode", mode, "--corpus", str(corpus), "--cache", cache)
            r["files_per_second"] = r["files"] / r["wall"]
            r["audio_seconds_per_wall_second"] = r["audio_seconds"] / r["wall"]
            if mode == "engine":
                engine_walls.append(r["wall"])
            else:
                measured.append((mode, r, len(engine_walls)))
            again = mode in figures
            if again and mode == "engine":
                walls = engine_walls
                figures[mode] = {**figures[mode], "walls": walls, "wall": sum(walls) / len(walls)}
                print(f"{LABELS[mode]:4s} {mode:15s} again: {walls[-1]:.1f} s")
                continue
            if again:  # another round: the figures are the first round's, its wall is listed
                figures[mode].setdefault("walls", [figures[mode]["wall"]]).append(r["wall"])
            else:
                figures[mode] = r
            label = LABELS.get(mode, "   ")
            print(
                f"{label:4s} {mode:15s} {r['files']:4d} files in {r['wall']:7.1f} s: "
                f"{r['files_per_second']:6.2f} files/s, {r['audio_seconds_per_wall_second']:6.1f}× real time, "
                f"peak memory {r['peak_memory_mb']:.0f} MB, WER {r['wer']:.3f}"
            )
            if "first_jsonl_seconds" in r:
                print(f"         first JSONL after {r['first_jsonl_seconds']:.1f} s")
            if "latency_3_clips_seconds" in r:
                each = ", ".join(f"{t:.1f}" for t in r["latencies_3_clips_seconds"])
                print(
                    f"         a new 3-clip folder → its JSONL in at most {r['latency_3_clips_seconds']:.1f} s "
                    f"({each} s) (bound: interval {SENSOR_INTERVAL} s + settle {SENSOR_SETTLE} s + 10 s = "
                    f"{r['latency_bound_seconds']} s)"
                )
            if "runs" in r:
                print(f"         {r['runs']} runs, {r['failed_runs']} failed")
            if "timeline" in r:
                _print_timeline(r["timeline"])
        ratios = {}
        if engine_walls:
            engine = figures["engine"]
            for _, r, before in measured:  # each against the engine runs on either side of it
                around = engine_walls[max(0, before - 1) : before + 1]
                r["vs_engine"] = r["files_per_second"] / (engine["files"] / (sum(around) / len(around)))
            engine["files_per_second"] = engine["files"] / engine["wall"]
            engine["audio_seconds_per_wall_second"] = engine["audio_seconds"] / engine["wall"]
            if len(engine_walls) > 1:
                print(f"(b) engine walls: {', '.join(f'{w:.1f}' for w in engine_walls)} s")
        for mode, key in (
            ("pipeline", "pipeline_vs_engine"),
            ("daemon", "pipeline_daemon_vs_engine"),
            ("backfill", "pipeline_backfill_vs_engine"),
        ):
            if {mode, "engine"} <= set(figures):
                each = [r["vs_engine"] for m, r, _ in measured if m == mode]
                ratios[key] = float(np.median(each))
                if len(each) > 1:
                    ratios[f"{key}_rounds"] = each
                rounds = (
                    f" (median of {len(each)} rounds: {', '.join(f'{x:.3f}' for x in each)})" if len(each) > 1 else ""
                )
                print(f"{LABELS[mode]}/(b) = {ratios[key]:.3f}{rounds}")
            if mode == "pipeline" and key in ratios:
                gap = figures["pipeline"]["wall"] - figures["engine"]["wall"]
                print(f"    (c) − (b) = {gap:.1f} s, of which Dagster's floor {figures['dagster_floor_seconds']:.1f} s")
        if {"pipeline", "old"} <= set(figures):
            ratios["pipeline_vs_old"] = figures["pipeline"]["files_per_second"] / figures["old"]["files_per_second"]
            ratios["wer_pipeline_minus_old"] = figures["pipeline"]["wer"] - figures["old"]["wer"]
            print(
                f"(c)/(a) = {ratios['pipeline_vs_old']:.2f}   WER (c) − (a) = {ratios['wer_pipeline_minus_old']:+.3f}"
            )
        machine = {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        }
        print(json.dumps({"clips": len(made), "machine": machine, **figures, **ratios}, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
