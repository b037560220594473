"""A newcomer's path: in a copy of the project, with none of the project's variables set, `dg dev` alone
picks up the bundled sample corpus through the sensor and writes its JSONL; `dg check defs`, `dg list
defs` and `dg launch --partition` work from the project folder."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audio_assets.speech.wer import word_error_rate

from .live_dagster import PROJECT, DagsterDev, wait_for

SAMPLE = Path("data") / "sample_corpus"
SPEAKERS = ["p900", "p901", "p902"]
ARTIFACTS = PROJECT / "test-artifacts"


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The working tree as git sees it (tracked and new files, nothing ignored), with this test run's venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=PROJECT, capture_output=True
    )
    if listed.returncode != 0:
        pytest.skip(f"{PROJECT} is not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    copy = tmp_path / "audio_assets"
    for name in listed.stdout.decode().split("\0"):
        if name and (PROJECT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / name, copy / name)
    (copy / ".venv").symlink_to(Path(sys.prefix))
    cloned_a_while_ago = time.time() - 3600  # folders as a clone leaves them, long settled
    for folder in (copy / SAMPLE).rglob("*"):
        if folder.is_dir():
            os.utime(folder, (cloned_a_while_ago, cloned_a_while_ago))
    return copy


def scrubbed_env(project: Path, home: Path) -> dict[str, str]:
    """What a login shell with the venv activated has: no DAGSTER_*, AUDIO_*, RESULTS_DIR or PARQUET_DIR."""
    home.mkdir(exist_ok=True)
    venv = project / ".venv"
    return {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PWD": str(project),
        "VIRTUAL_ENV": str(venv),
    }


def expected_texts(project: Path, speaker: str) -> dict[str, str]:
    folder = project / SAMPLE / "txt" / speaker
    return {f"{speaker}/{p.stem}_mic2.flac": p.read_text().strip() for p in sorted(folder.glob("*.txt"))}


def complete(path: Path, lines: int) -> bool:
    return path.is_file() and len(path.read_bytes().splitlines()) == lines


RESOURCE = """query($name: String!) {
  topLevelResourceDetailsOrError(resourceSelector: {repositoryLocationName: "audio_assets",
      repositoryName: "__repository__", resourceName: $name}) {
    ... on ResourceDetails { configuredValues { key value } }
  }
}"""
INSTANCE = "{ instance { poolConfig { poolGranularity defaultPoolLimit } runQueueConfig { maxConcurrentRuns } } }"
RUNS = "{ runsOrError { ... on Runs { results { status tags { key value } } } } }"


def test_dg_dev_alone_turns_the_sample_corpus_into_jsonl(project_copy, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    dev = DagsterDev.dg_dev(project_copy, scrubbed_env(project_copy, tmp_path / "home"), ARTIFACTS / "dg-dev.log")
    dev.start()
    try:
        results = project_copy / "results"
        texts = {s: expected_texts(project_copy, s) for s in SPEAKERS}
        wait_for(
            lambda: all(complete(results / f"{s}.jsonl", len(texts[s])) for s in SPEAKERS),
            300,
            what="the sensor's run to write results/p900…p902.jsonl",
        )
        for speaker in SPEAKERS:
            records = [json.loads(line) for line in (results / f"{speaker}.jsonl").read_text("utf-8").splitlines()]
            assert [r["id"] for r in records] == sorted(texts[speaker])
            assert all(list(r) == ["id", "transcription", "token_array"] and r["token_array"] for r in records)
            hypotheses = [r["transcription"] for r in records]
            assert word_error_rate([texts[speaker][r["id"]] for r in records], hypotheses) <= 0.4, hypotheses
            assert (results / f"{speaker}.errors.jsonl").read_bytes() == b""

        # the shipped instance config is in effect, in the project's own DAGSTER_HOME
        instance = dev.query(INSTANCE)["instance"]
        assert instance["poolConfig"] == {"poolGranularity": "op", "defaultPoolLimit": 1}
        assert instance["runQueueConfig"]["maxConcurrentRuns"] == 1
        assert (project_copy / ".dagster_home" / "storage").is_dir()
        assert not list(project_copy.glob(".tmp_dagster_home_*"))
        # the UI's resource view shows where files are read and written
        values = {}
        for name in ("audio_library", "results_folder", "parquet_io_manager"):
            details = dev.query(RESOURCE, {"name": name})["topLevelResourceDetailsOrError"]
            values.update({v["key"]: json.loads(v["value"]) for v in details["configuredValues"]})
        assert values["root"] == str(project_copy / SAMPLE / "wav48_silence_trimmed")
        assert values["path"] == str(results)
        assert values["base_dir"] == str(project_copy / ".dagster_home" / "parquet")

        runs = dev.query(RUNS)["runsOrError"]["results"]
        wait_for(lambda: all(r["status"] == "SUCCESS" for r in dev.query(RUNS)["runsOrError"]["results"]), 60)
        assert runs and all({"key": "dagster/sensor_name", "value": "audio_folder_sensor"} in r["tags"] for r in runs)
    finally:
        stragglers = dev.stop()
    log = dev.log_path.read_text(errors="replace")
    assert stragglers == [], f"still running 75 s after SIGTERM: {stragglers}"
    assert "Loaded environment variables from .env file: DAGSTER_HOME,AUDIO_ROOT" in log
    assert "Traceback" not in log and "Error" not in log, log[-5000:]


def dg(project: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_dg_check_list_and_launch_from_the_project_folder(project_copy, tmp_path):
    env = scrubbed_env(project_copy, tmp_path / "home")
    checked = dg(project_copy, env, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = dg(project_copy, env, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assert {a["asset_key"] for a in defs["assets"]} == {"audio_files", "transcriptions", "tokens", "merged_jsonl"}
    assert len(defs["asset_checks"]) == 6
    assert [s["name"] for s in defs["sensors"]] == ["audio_folder_sensor"]

    cli = project_copy / ".venv" / "bin" / "audio-assets"
    registered = subprocess.run([str(cli), "register"], cwd=project_copy, env=env, capture_output=True, text=True)
    assert registered.returncode == 0 and "3 newly registered" in registered.stdout, registered.stderr
    launched = dg(project_copy, env, "launch", "--assets", "*", "--partition", "p901")
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    ids = [json.loads(line)["id"] for line in (project_copy / "results" / "p901.jsonl").read_text().splitlines()]
    assert ids == sorted(expected_texts(project_copy, "p901"))
    assert not (project_copy / "results" / "p900.jsonl").exists()  # only the partition asked for
