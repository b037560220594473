"""A corpus of broken and odd files, materialised end to end: good files give correct rows, every bad
one an error record with its reason, the run succeeds, and nothing outside AUDIO_ROOT is ever read."""

import hashlib
import json
import logging
import struct
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import soundfile
import soxr

from audio_assets.assets.audio_files import list_speakers
from audio_assets.checks import CHECK_SPECS
from audio_assets.cli.corpus import HARVARD_SENTENCES, synthesize
from audio_assets.resources import AudioLibrary
from audio_assets.speech.wer import word_error_rate

from .job_runs import check_evaluations, run, run_config_for

SPEAKER = "Zoë, bad input"
SECRET_TEXT = "Purple elephants dance quietly at midnight."


def speech(text: str, rate: int = 16000) -> np.ndarray:
    samples, sr = synthesize(text)
    return soxr.resample(samples, sr, rate).astype(np.float32)


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad")
    root = work / "audio"
    folder = root / SPEAKER
    (folder / "nested" / "deeper").mkdir(parents=True)
    good = {
        "good_1.flac": HARVARD_SENTENCES[10],
        "nested/deeper/good_2.flac": HARVARD_SENTENCES[4],
        "unicodé, comma.flac": HARVARD_SENTENCES[5],
    }
    for name, text in good.items():
        soundfile.write(folder / name, speech(text), 16000)
    stereo = speech(HARVARD_SENTENCES[15], 44100)
    soundfile.write(folder / "stereo_44k.flac", np.stack([stereo, 0.5 * stereo], axis=1), 44100, subtype="PCM_24")
    good["stereo_44k.flac"] = HARVARD_SENTENCES[15]
    long_texts = HARVARD_SENTENCES[20:30]
    pause = np.zeros(8000, np.float32)
    soundfile.write(folder / "long.flac", np.concatenate([x for t in long_texts for x in (speech(t), pause)]), 16000)
    good["long.flac"] = " ".join(long_texts)
    soundfile.write(folder / "silence.flac", np.zeros(32000, np.float32), 16000)

    (folder / "empty.flac").write_bytes(b"")
    (folder / "not_audio.flac").write_text("this is a text file with a .flac name\n" * 20)
    (folder / "random.flac").write_bytes(np.random.default_rng(7).bytes(20_000))
    whole = (folder / "good_1.flac").read_bytes()
    (folder / "truncated.flac").write_bytes(whole[: len(whole) // 2])
    middle = len(whole) // 2  # the header and the end are intact: the listing passes it, decoding does not
    corrupt = whole[:middle] + np.random.default_rng(8).bytes(2000) + whole[middle + 2000 :]
    (folder / "corrupt.flac").write_bytes(corrupt)
    soundfile.write(folder / "tiny.flac", np.full(10, 0.1, np.float32), 16000)
    (folder / "unsupported.flac").write_bytes(struct.pack(">I", 24) + b"ftypM4A \x00\x00\x02\x00M4A isom" + bytes(4000))
    outside = work / "outside"
    outside.mkdir()
    soundfile.write(outside / "secret.flac", speech(SECRET_TEXT), 16000)
    (folder / "secret.flac").symlink_to(outside / "secret.flac")
    (folder / "notes.txt").write_text("not audio, and not .flac: ignored")
    soundfile.write(folder / "clip.wav", speech("ignored"), 16000)

    other = root / "p950"
    other.mkdir()
    soundfile.write(other / "p950_001.flac", speech(HARVARD_SENTENCES[0]), 16000)
    return work, root, {f"{SPEAKER}/{k}": v for k, v in good.items()}


@pytest.fixture(scope="module")
def bad_run(bad_corpus, model_cache):
    work, root, good = bad_corpus
    (work / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(work / "home")) as instance:
        instance.add_dynamic_partitions("speakers", [SPEAKER, "p950"])
        config = run_config_for(root, work, model_cache)
        result = run(instance, config, SPEAKER, "p950")
        yield instance, result, work / "results", good


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_run_succeeds_despite_bad_files(bad_run):
    instance, result, results, good = bad_run
    assert result.success


def test_good_files_give_correct_rows(bad_run):
    _, _, results, good = bad_run
    rows = read_jsonl(results / f"{SPEAKER}.jsonl")
    ids = [r["id"] for r in rows]
    assert ids == sorted(list(good) + [f"{SPEAKER}/silence.flac"])
    by_id = {r["id"]: r for r in rows}
    spoken = sorted(good)
    assert word_error_rate([good[i] for i in spoken], [by_id[i]["transcription"] for i in spoken]) <= 0.35
    long_row = by_id[f"{SPEAKER}/long.flac"]
    assert word_error_rate([good[f"{SPEAKER}/long.flac"]], [long_row["transcription"]]) <= 0.35  # all 40 s, not 30
    silence = by_id[f"{SPEAKER}/silence.flac"]
    assert silence["transcription"] == "" and len(silence["token_array"]) == 50  # 2 s → 50 tokens, no words
    assert read_jsonl(results / "p950.jsonl")[0]["id"] == "p950/p950_001.flac"  # the other speaker is unaffected


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.flac", "empty file (0 bytes)"),
        ("not_audio.flac", "not an audio file this decoder reads"),
        ("random.flac", "not an audio file this decoder reads"),
        ("unsupported.flac", "not an audio file this decoder reads"),
        ("truncated.flac", "truncated or corrupt audio: the last 4096 of its"),
        ("corrupt.flac", "transcriptions: unreadable audio: BadAudio: truncated or corrupt audio"),
        ("corrupt.flac", "tokens: unreadable audio: BadAudio: truncated or corrupt audio"),
        ("tiny.flac", "too short: 10 frames"),
        ("secret.flac", "symlink points outside AUDIO_ROOT; not read"),
    ],
)
def test_bad_files_give_error_records_with_reasons(bad_run, name, reason):
    _, _, results, _ = bad_run
    errors = {e["id"]: e["error"] for e in read_jsonl(results / f"{SPEAKER}.errors.jsonl")}
    assert reason in errors[f"{SPEAKER}/{name}"]


def test_every_file_is_accounted_for_once_and_checks_pass(bad_run):
    instance, result, results, good = bad_run
    rows = read_jsonl(results / f"{SPEAKER}.jsonl")
    errors = read_jsonl(results / f"{SPEAKER}.errors.jsonl")
    assert len(rows) == 6 and len(errors) == 8
    ids = [r["id"] for r in rows] + [e["id"] for e in errors]
    assert len(ids) == len(set(ids)) == 14
    assert not any(i.endswith((".txt", ".wav")) for i in ids)  # other formats are ignored, not errors
    evaluations = check_evaluations(instance, result.run_id)
    failing = {k: e.metadata for k, e in evaluations.items() if not e.passed}
    assert not failing
    figures = {k: evaluations["files_conserved", SPEAKER].metadata[k].value for k in ("listed", "rows", "errors")}
    assert figures == {"listed": 14, "rows": 6, "errors": 8}


def test_listing_in_threads_gives_the_same_tables(bad_corpus):
    """listing_threads (for network storage) changes how files are read, never what the listing says."""
    _, root, _ = bad_corpus
    tables = {}
    for threads in (1, 4):
        with dg.build_resources({"lib": AudioLibrary(root=str(root), listing_threads=threads)}) as resources:
            listings = list_speakers(resources.lib, [SPEAKER, "p950"], logging.getLogger("test"))
            tables[threads] = {speaker: listing.files for speaker, listing in listings.items()}
    listed = tables[1][SPEAKER]
    assert len(listed) == 14 and listed["error"].notna().sum() == 7 and len(tables[1]["p950"]) == 1
    for speaker, table in tables[1].items():
        pd.testing.assert_frame_equal(table, tables[4][speaker])


def test_the_symlinked_file_is_never_read(bad_run, bad_corpus):
    work, _, _ = bad_corpus
    secret_sha = hashlib.sha256((work / "outside" / "secret.flac").read_bytes()).hexdigest()
    for path in [*work.joinpath("results").rglob("*"), *work.joinpath("parquet").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert b"Purple" not in data and b"elephant" not in data.lower(), path
            assert secret_sha.encode() not in data, path


def test_error_records_are_in_the_ui_metadata(bad_run):
    instance, *_ = bad_run
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("merged_jsonl"), asset_partitions=[SPEAKER]), limit=1
    ).records
    meta = record.asset_materialization.metadata
    assert meta["errors"].value == 8
    assert "truncated or corrupt audio" in meta["error_records"].value


@pytest.mark.parametrize(("root", "says"), [("no-such-folder", "does not exist"), ("", "AUDIO_ROOT is not set")])
def test_missing_audio_root_fails_fast_with_one_message(tmp_path, model_cache, root, says):
    (tmp_path / "home").mkdir()
    config = run_config_for(tmp_path / "no-such-folder", tmp_path, model_cache)
    config["resources"]["audio_library"]["config"]["root"] = str(tmp_path / root) if root else ""
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", ["p1"])
        result = run(instance, config, "p1", "p1")
        assert not result.success
        failures = [
            e.dagster_event
            for e in instance.all_logs(result.run_id)
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        assert [f.step_key for f in failures] == ["audio_files"]  # nothing after it ran
        error = failures[0].event_specific_data.error
        assert "AUDIO_ROOT" in error.message and says in error.message and "in the project's .env" in error.message
    assert not (tmp_path / "results").exists()


def test_model_missing_offline_fails_before_any_file_is_read(tmp_path, corpus, corpus_dir, model_cache):
    (tmp_path / "home").mkdir()
    config = run_config_for(corpus_dir / "wav48_silence_trimmed", tmp_path, model_cache)
    config["resources"]["whisper"]["config"]["model"] = "small.en"  # not shipped, not downloadable here
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", ["p900"])
        result = run(instance, config, "p900", "p900")
        assert not result.success
        failures = [
            e.dagster_event
            for e in instance.all_logs(result.run_id)
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        assert [f.step_key for f in failures] == ["audio_files"]
        assert "'small.en'" in str(failures[0].event_specific_data.error)
    assert not (tmp_path / "parquet").exists()  # no listing was written: the check came first


def test_a_missing_speaker_folder_fails_its_own_checks_and_nothing_else(tmp_path, corpus, corpus_dir, model_cache):
    """A registered speaker whose folder is gone, in the middle of a run of three: the two others are
    written and pass; the missing one writes nothing, says so, and fails its checks on its partition."""
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", ["p900", "p900-gone", "p901"])
        config = run_config_for(corpus_dir / "wav48_silence_trimmed", tmp_path, model_cache)
        result = run(instance, config, "p900", "p901")
        assert not result.success  # files_conserved is blocking: the run says something is wrong
        failed_steps = {
            e.dagster_event.step_key for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        }
        assert failed_steps == {"merged_jsonl_quality"}
        evaluations = check_evaluations(instance, result.run_id)
        # nothing about the missing folder was verified: every check fails on it
        assert {k for k, e in evaluations.items() if not e.passed} == {(spec.name, "p900-gone") for spec in CHECK_SPECS}
        gone = evaluations["speaker_folder_available", "p900-gone"]
        assert gone.severity == dg.AssetCheckSeverity.ERROR and "does not exist" in gone.description
        assert gone.metadata["failures"].records[0].data["file"] == "p900-gone"
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("merged_jsonl"), asset_partitions=["p900-gone"]), limit=1
        ).records
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        assert metadata["status"] == "speaker folder unavailable: nothing written, there are no earlier results"
        assert "path" not in metadata
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "p900.errors.jsonl",
        "p900.jsonl",
        "p901.errors.jsonl",
        "p901.jsonl",
    ]
