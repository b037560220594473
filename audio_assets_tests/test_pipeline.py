"""End to end through Dagster's real multiprocess executor: real instance, real model, real speech."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from dagster._core.instance.ref import InstanceRef

from audio_assets.checks import CHECK_SPECS
from audio_assets.definitions import defs
from audio_assets.speech.wer import word_error_rate

from .job_runs import check_evaluations, latest_metadata, run, run_config_for
from .live_dagster import INSTANCE_CONFIG

SPEAKERS = ["p900", "p901"]


@dataclass
class Pipeline:
    instance: dg.DagsterInstance
    result: dg.JobExecutionResult
    results_dir: Path
    run_config: dict


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, corpus, corpus_dir, model_cache):
    work = tmp_path_factory.mktemp("pipeline")
    (work / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(work / "home")) as instance:
        instance.add_dynamic_partitions("speakers", SPEAKERS)
        run_config = run_config_for(corpus_dir / "wav48_silence_trimmed", work, model_cache)
        result = run(instance, run_config, SPEAKERS[0], SPEAKERS[-1])
        yield Pipeline(instance, result, work / "results", run_config)


def test_run_succeeds(pipeline):
    assert pipeline.result.success


def test_jsonl_lines_are_exactly_as_specified(pipeline, corpus):
    for speaker in SPEAKERS:
        expected = sorted((u for u in corpus if u.id.startswith(speaker + "/")), key=lambda u: u.id)
        raw = (pipeline.results_dir / f"{speaker}.jsonl").read_bytes()
        assert raw.endswith(b"\n")
        lines = raw.decode("utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["id"] for r in records] == [u.id for u in expected]
        for line, record, utterance in zip(lines, records, expected):
            assert list(record) == ["id", "transcription", "token_array"]
            assert line == json.dumps(record, ensure_ascii=False)  # one canonical form
            assert isinstance(record["transcription"], str) and record["transcription"]
            tokens = record["token_array"]
            assert all(type(t) is int and 0 <= t < 8192 for t in tokens)
            assert abs(len(tokens) - 25 * _duration(utterance.path)) <= 1
        wer = word_error_rate([u.text for u in expected], [r["transcription"] for r in records])
        assert wer <= 0.4, [r["transcription"] for r in records]
        assert (pipeline.results_dir / f"{speaker}.errors.jsonl").read_bytes() == b""


def _duration(path):
    import soundfile

    return soundfile.info(str(path)).duration


def _step_window(instance, run_id, step_key) -> tuple[float, float]:
    """From the step's first event in its own process (resource setup loads the models) to its success."""
    start = end = None
    for event in instance.all_logs(run_id):
        dagster_event = event.dagster_event
        if dagster_event is None or dagster_event.step_key != step_key:
            continue
        if dagster_event.event_type == dg.DagsterEventType.STEP_WORKER_STARTED:
            start = event.timestamp
        elif dagster_event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            end = event.timestamp
    assert start is not None and end is not None, f"{step_key} did not run to success"
    return start, end


def _step_pid(instance, run_id, step_key) -> int:
    return next(
        e.dagster_event.pid
        for e in instance.all_logs(run_id)
        if e.dagster_event
        and e.dagster_event.step_key == step_key
        and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
    )


def test_siblings_ran_at_the_same_time(pipeline):
    instance, run_id = pipeline.instance, pipeline.result.run_id
    start_t, end_t = _step_window(instance, run_id, "transcriptions")
    start_k, end_k = _step_window(instance, run_id, "tokens")
    assert start_k < end_t and start_t < end_k, "the sibling steps did not overlap"
    assert _step_pid(instance, run_id, "transcriptions") != _step_pid(instance, run_id, "tokens")


def test_every_materialisation_carries_throughputlatest_metadata(pipeline):
    for speaker in SPEAKERS:
        for asset in ("transcriptions", "tokens"):
            meta = latest_metadata(pipeline.instance, asset, speaker)
            assert meta["files"] == 3 and meta["errors"] == 0
            assert meta["audio_seconds"] > 3 and meta["wall_seconds"] > 0 and meta["files_per_second"] > 0
        transcription_meta = latest_metadata(pipeline.instance, "transcriptions", speaker)
        assert transcription_meta["model"] == "tiny.en" and transcription_meta["backend"] == "openai-whisper"
        token_meta = latest_metadata(pipeline.instance, "tokens", speaker)
        assert 23 < token_meta["tokens_per_audio_second"] <= 25.5
        merged = latest_metadata(pipeline.instance, "merged_jsonl", speaker)
        assert merged["rows"] == 3 and merged["path"] == str(pipeline.results_dir / f"{speaker}.jsonl")
        assert latest_metadata(pipeline.instance, "audio_files", speaker)["files"] == 3


def test_every_table_reports_its_rows_and_columns(pipeline):
    """The UI's row-count plot and column view: dagster/row_count and dagster/column_schema match the table."""
    import pandas as pd

    parquet = Path(pipeline.run_config["resources"]["parquet_io_manager"]["config"]["base_dir"])
    for speaker in SPEAKERS:
        for asset in ("audio_files", "transcriptions", "tokens"):
            meta = latest_metadata(pipeline.instance, asset, speaker)
            table = pd.read_parquet(parquet / asset / f"{speaker}.parquet")
            assert [c.name for c in meta["dagster/column_schema"].columns] == list(table.columns)
            assert meta["dagster/row_count"] == meta["dagster/partition_row_count"] == len(table) == 3
        merged = latest_metadata(pipeline.instance, "merged_jsonl", speaker)
        assert [c.name for c in merged["dagster/column_schema"].columns] == ["id", "transcription", "token_array"]
        assert merged["dagster/row_count"] == 3


def test_rematerialising_gives_byte_identical_jsonl(pipeline):
    before = {s: (pipeline.results_dir / f"{s}.jsonl").read_bytes() for s in SPEAKERS}
    again = run(pipeline.instance, pipeline.run_config, "p900", "p900")  # a single-speaker run this time
    assert again.success
    assert (pipeline.results_dir / "p900.jsonl").read_bytes() == before["p900"]
    assert (pipeline.results_dir / "p901.jsonl").read_bytes() == before["p901"]


def test_failure_inside_the_merge_keeps_the_previous_jsonl(pipeline, monkeypatch):
    from audio_assets.resources import results

    target = pipeline.results_dir / "p901.jsonl"
    before = target.read_bytes()
    real_line = results.jsonl_line
    written = []

    def fail_on_second_line(record):
        written.append(record["id"])
        if len(written) == 2:
            raise OSError("simulated: disk full in the middle of the merge")
        return real_line(record)

    monkeypatch.setattr(results, "jsonl_line", fail_on_second_line)
    job = defs.resolve_job_def("process_speakers")
    outcome = job.execute_in_process(
        instance=pipeline.instance,
        run_config=pipeline.run_config,
        partition_key="p901",
        op_selection=["merged_jsonl"],
        raise_on_error=False,
    )
    assert not outcome.success and len(written) == 2
    assert target.read_bytes() == before
    assert sorted(os.listdir(pipeline.results_dir)) == sorted(
        f"{s}{suffix}" for s in SPEAKERS for suffix in (".jsonl", ".errors.jsonl")
    )  # no temp file left behind


def test_tokens_are_25_per_second_of_listed_audio(pipeline):
    for speaker in SPEAKERS:
        lines = (pipeline.results_dir / f"{speaker}.jsonl").read_text().splitlines()
        counts = np.array([len(json.loads(line)["token_array"]) for line in lines])
        seconds = latest_metadata(pipeline.instance, "audio_files", speaker)["audio_seconds"]
        assert abs(counts.sum() / seconds - 25) < 1


def test_two_runs_queue_their_transcriptions_but_not_their_siblings(tmp_path, corpus, corpus_dir, model_cache):
    """The shipped pools ("whisper" and "tokenizer", one step each). While something else holds the
    whisper slot, two runs launched together both finish their tokens step and neither starts
    transcribing; once it is free, they transcribe one after the other, never at the same time."""
    import yaml

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG.read_text())
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"resources": {"whisper": {"config": {"cache_dir": model_cache}}}}))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "AUDIO_ROOT": str(corpus_dir / "wav48_silence_trimmed"),
        "RESULTS_DIR": str(tmp_path / "results"),
        "PARQUET_DIR": str(tmp_path / "parquet"),
    }
    cli = str(Path(sys.executable).parent / "audio-assets")
    assert subprocess.run([cli, "register"], env=env, cwd=tmp_path, capture_output=True).returncode == 0
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    storage = instance.event_log_storage
    # the slot is taken as another run's transcription would take it: deterministic, unlike racing two runs
    storage.initialize_concurrency_limit_to_default("whisper")  # the instance default, as a run would set it
    assert storage.claim_concurrency_slot("whisper", "holder", "transcriptions").is_claimed
    launched = [
        subprocess.Popen([cli, "materialize", speaker, "-c", str(config)], env=env, cwd=tmp_path)
        for speaker in SPEAKERS
    ]
    try:
        deadline = time.monotonic() + 300
        while _runs_that_logged(instance, "tokens", dg.DagsterEventType.STEP_SUCCESS) < len(SPEAKERS):
            assert time.monotonic() < deadline, "the tokens steps waited for the whisper pool"
            assert all(p.poll() is None for p in launched), "a run ended while the whisper slot was held"
            time.sleep(0.5)
        started = _runs_that_logged(instance, "transcriptions", dg.DagsterEventType.STEP_WORKER_STARTED)
        assert not started, "a run transcribed without the whisper slot"
        storage.free_concurrency_slot_for_step("holder", "transcriptions")
        assert [p.wait(timeout=600) for p in launched] == [0, 0]
    finally:
        for process in launched:
            process.kill()  # a no-op once it has exited; no run outlives a failed test
    run_ids = [r.dagster_run.run_id for r in instance.get_run_records()]
    assert len(run_ids) == 2
    t1, t2 = (_step_window(instance, r, "transcriptions") for r in run_ids)
    assert t1[1] <= t2[0] or t2[1] <= t1[0], "the two runs transcribed at the same time"


def _runs_that_logged(instance, step_key, event_type) -> int:
    """How many of the instance's runs have logged ``event_type`` for the step."""
    return sum(
        any(e.dagster_event.step_key == step_key for e in instance.all_logs(r.dagster_run.run_id, of_type=event_type))
        for r in instance.get_run_records()
    )


CHECKS = {spec.name for spec in CHECK_SPECS}  # every check, one result per speaker


def test_quality_checks_ran_and_passed_on_each_speaker(pipeline):
    evaluations = check_evaluations(pipeline.instance, pipeline.result.run_id)
    assert set(evaluations) == {(check, speaker) for check in CHECKS for speaker in SPEAKERS}
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items()}
    for speaker in SPEAKERS:
        conserved = evaluations["files_conserved", speaker].metadata
        assert (conserved["listed"].value, conserved["rows"].value, conserved["errors"].value) == (3, 3, 0)
        wer = evaluations["reference_wer", speaker].metadata
        assert wer["files_with_reference"].value == 3 and isinstance(wer["wer"].value, float)
        assert wer["wer"].value <= 0.4
