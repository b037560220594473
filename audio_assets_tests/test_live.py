"""Against a live `dagster dev` (webserver + daemon), as a user runs it: drop folders in, watch, backfill.

Everything goes through the real processes: the sensor's ticks, the run queue, the backfill daemon,
GraphQL, and a headless Chromium rendering the UI. Artifacts (the dagster dev log, screenshots) go to
``test-artifacts/``.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from audio_assets.cli.corpus import make_corpus

from .job_runs import run, run_config_for
from .live_dagster import PROJECT, DagsterDev, wait_for

ARTIFACTS = PROJECT / "test-artifacts"
AWKWARD = "Zoë, speaker two"  # a space, a comma and non-ASCII in one partition key
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Live:
    dev: DagsterDev
    audio_root: Path
    corpus_root: Path
    results: Path


RUNS = """query($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) { ... on Runs { results { runId status tags { key value } } } }
}"""


def runs(live: Live, **tags) -> list[dict]:
    variables = {"tags": [{"key": k.replace("__", "/"), "value": v} for k, v in tags.items()]}
    return live.dev.query(RUNS, variables)["runsOrError"]["results"]


TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def settled_runs(live: Live, timeout: float = 180, **tags) -> list[dict]:
    """The runs with these tags, once every one of them has finished (results appear before the run ends)."""

    def finished():
        found = runs(live, **tags)
        return found if found and all(r["status"] in TERMINAL for r in found) else None

    return wait_for(finished, timeout, what=f"runs {tags or ''} to finish")


def partition_keys(live: Live) -> list[str]:
    data = live.dev.query(
        '{ assetNodeOrError(assetKey: {path: ["merged_jsonl"]}) { ... on AssetNode { partitionKeys } } }'
    )
    return data["assetNodeOrError"]["partitionKeys"]


def results_ready(live: Live, speaker: str, lines: int) -> bool:
    path = live.results / f"{speaker}.jsonl"
    return path.is_file() and len(path.read_text(encoding="utf-8").splitlines()) == lines


@pytest.fixture(scope="module")
def live_session(tmp_path_factory):
    work = tmp_path_factory.mktemp("live")
    ARTIFACTS.mkdir(exist_ok=True)
    make_corpus(work / "corpus", speakers=3, clips=2, first_speaker=910)
    corpus_root = work / "corpus" / "wav48_silence_trimmed"
    audio_root = work / "audio"
    audio_root.mkdir()
    shutil.copytree(corpus_root / "p910", audio_root / "p910")
    env = {
        "AUDIO_ROOT": str(audio_root),
        "RESULTS_DIR": str(work / "results"),
        "PARQUET_DIR": str(work / "parquet"),
        "AUDIO_SENSOR_INTERVAL_SECONDS": "2",
        "AUDIO_SETTLE_SECONDS": "1",
        "XDG_CACHE_HOME": str(work / "cache"),
    }
    dev = DagsterDev.dagster_dev(work / "home", env, ARTIFACTS / "dagster-dev.log")
    dev.start()
    try:
        yield Live(dev, audio_root, corpus_root, work / "results")
    finally:
        dev.stop()


@pytest.fixture
def live(live_session):
    """The module's ``dagster dev``, started again (same instance, same folders) if a test stopped it."""
    if live_session.dev.process.poll() is not None:
        live_session.dev.start()
    return live_session


DROPPED = {"p911": "p911", AWKWARD: "p912"}  # folder in AUDIO_ROOT -> corpus speaker copied there


def dropped_in(live: Live) -> None:
    """Copy the two later folders into AUDIO_ROOT (once) and wait for the sensor's results, so that every
    test that needs three speakers has them, whichever test runs first."""
    for folder, speaker in DROPPED.items():
        if not (live.audio_root / folder).exists():
            shutil.copytree(live.corpus_root / speaker, live.audio_root / folder)
    wait_for(lambda: set(DROPPED) <= set(partition_keys(live)), 60, what="new partitions")
    wait_for(lambda: all(results_ready(live, folder, 2) for folder in DROPPED), 240, what="new results")


def test_sensor_picks_up_the_folder_present_at_start(live):
    wait_for(lambda: "p910" in partition_keys(live), 60, what="partition p910")
    wait_for(lambda: results_ready(live, "p910", 2), 180, what="results/p910.jsonl")
    [run] = settled_runs(live, dagster__partition="p910")
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/sensor_name", "value": "audio_folder_sensor"} in run["tags"]


def test_dropping_new_folders_in_gets_them_processed(live):
    dropped_in(live)
    awkward_lines = [json.loads(line) for line in (live.results / f"{AWKWARD}.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in awkward_lines] == [f"{AWKWARD}/p912_001_mic2.flac", f"{AWKWARD}/p912_002_mic2.flac"]
    sensor_runs = settled_runs(live, dagster__sensor_name="audio_folder_sensor")
    assert len(sensor_runs) >= 2 and all(r["status"] == "SUCCESS" for r in sensor_runs)


def test_backfill_over_three_speakers_from_the_command_line(live):
    dropped_in(live)
    before = (live.results / "p911.jsonl").read_bytes()
    cli = Path(sys.executable).parent / "audio-assets"
    done = subprocess.run(
        [str(cli), "backfill", "p910", "p911", AWKWARD, "--url", live.dev.url, "--wait"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    backfill_id = done.stdout.split()[1]
    backfill_runs = settled_runs(live, dagster__backfill=backfill_id)
    assert len(backfill_runs) == 1, "three consecutive speakers share one run (one model load)"
    assert backfill_runs[0]["status"] == "SUCCESS"
    assert (live.results / "p911.jsonl").read_bytes() == before  # same input, same bytes


LAUNCH_CHECK = """mutation($partition: String!) {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "audio_assets", repositoryName: "__repository__", jobName: "__ASSET_JOB",
               assetSelection: [], assetCheckSelection: [{assetKey: {path: ["merged_jsonl"]}, name: "files_conserved"}]}
    executionMetadata: {tags: [{key: "dagster/partition", value: $partition}]}
  }) { __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } }
}"""


def test_a_check_runs_again_alone_from_the_ui(live):
    """The Checks tab's "Execute" for one speaker: only that check runs, on that partition, nothing else."""
    dropped_in(live)
    launched = live.dev.query(LAUNCH_CHECK, {"partition": "p911"})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    wait_for(lambda: live.dev.query(RUN_STATUS, {"id": run_id})["runOrError"]["status"] in TERMINAL, 180)
    assert live.dev.query(RUN_STATUS, {"id": run_id})["runOrError"]["status"] == "SUCCESS"
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(live.dev.env["DAGSTER_HOME"]))
    evaluations = [
        e.dagster_event.event_specific_data
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert [(e.check_name, e.partition, e.passed) for e in evaluations] == [("files_conserved", "p911", True)]
    assert not instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)


RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
ADD_PARTITION = """mutation($key: String!) {
  addDynamicPartition(repositorySelector: {repositoryLocationName: "audio_assets", repositoryName: "__repository__"},
                      partitionsDefName: "speakers", partitionKey: $key) { __typename }
}"""
IMPOSSIBLE_KEYS = ["", "a\nb", "tab\there", ".", "..", "a/b", "../../tmp/evil", "/tmp/abs", "p910/../p911", "x" * 5000]


def test_impossible_keys_added_in_the_ui_are_removed_and_backfills_still_work(live):
    """Keys a user adds by hand ("Add partition", GraphQL) that can never name a folder: the next tick
    deletes them, saying why, and a backfill over all partitions (the UI's Materialize all) succeeds."""
    dropped_in(live)
    for key in IMPOSSIBLE_KEYS:
        added = live.dev.query(ADD_PARTITION, {"key": key})["addDynamicPartition"]
        assert added["__typename"] == "AddDynamicPartitionSuccess", (key[:20], added)
    wait_for(lambda: not set(IMPOSSIBLE_KEYS) & set(partition_keys(live)), 60, what="the sensor to remove them")
    assert set(partition_keys(live)) >= {"p910", "p911", AWKWARD}
    assert "partition '../../tmp/evil' removed: it can never name a speaker folder" in live.dev.log_path.read_text()
    cli = Path(sys.executable).parent / "audio-assets"
    done = subprocess.run(
        [str(cli), "backfill", "--url", live.dev.url, "--wait"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not Path("/tmp/evil").exists() and not Path("/tmp/abs").exists()


def test_ui_shows_the_asset_graph_and_the_partitions(live):
    dropped_in(live)
    from playwright.sync_api import sync_playwright

    folders = {folder.name for folder in live.audio_root.iterdir()}  # 3, or 4 after the retry test's p915
    wait_for(lambda: set(partition_keys(live)) == folders, 60, what="one partition per folder")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{live.dev.url}/locations/audio_assets/asset-groups/speech_dataset")
            for asset in ("audio_files", "transcriptions", "tokens", "merged_jsonl"):
                page.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text(f"{len(folders)} partitions").first.wait_for(timeout=30_000)  # counts on the graph
            page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

            page.goto(f"{live.dev.url}/assets/merged_jsonl?view=partitions")
            for key in ("p910", "p911", AWKWARD):
                page.get_by_text(key, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("p911", exact=True).first.click()
            page.get_by_text("files_table").first.wait_for(timeout=30_000)  # the materialisation's metadata
            page.screenshot(path=str(ARTIFACTS / "partitions.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of a run's worker: the multiprocess executor's parent process, which launches the steps."""
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if "parent process" in (event.message or ""):
            return event.dagster_event.pid
    return None


def test_a_run_whose_worker_is_killed_is_retried_and_completes(live, tmp_path, model_cache):
    """kill -9 of the run worker in the middle of transcriptions (an OOM kill, a lost node): the
    instance's run retries launch the run again from its unfinished steps, with nobody touching it."""
    make_corpus(tmp_path / "corpus", speakers=1, clips=24, first_speaker=915)  # ~8 s of transcription
    shutil.copytree(tmp_path / "corpus" / "wav48_silence_trimmed" / "p915", live.audio_root / "p915")
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(live.dev.env["DAGSTER_HOME"]))

    def transcribing():
        for found in runs(live, dagster__partition="p915"):
            steps = instance.all_logs(found["runId"], of_type=dg.DagsterEventType.STEP_START)
            if any(e.dagster_event.step_key == "transcriptions" for e in steps):
                return found["runId"]
        return None

    killed = wait_for(transcribing, 180, poll=0.2, what="the sensor's run of p915 to transcribe")
    time.sleep(1.0)
    os.kill(run_worker_pid(instance, killed), signal.SIGKILL)
    [retry] = wait_for(lambda: runs(live, dagster__parent_run_id=killed), 120, what="the automatic retry")
    [retry] = settled_runs(live, 300, dagster__parent_run_id=killed)
    assert retry["status"] == "SUCCESS"
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE

    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as clean:
        clean.add_dynamic_partitions("speakers", ["p915"])
        assert run(clean, run_config_for(live.audio_root, tmp_path, model_cache), "p915", "p915").success
    assert (live.results / "p915.jsonl").read_bytes() == (tmp_path / "results" / "p915.jsonl").read_bytes()
    assert len((live.results / "p915.jsonl").read_bytes().splitlines()) == 24


def test_stops_cleanly(live):
    stragglers = live.dev.stop()
    log_tail = "\n".join(live.dev.log_path.read_text(errors="replace").splitlines()[-40:])
    assert stragglers == [], f"processes still there 75 s after SIGTERM: {stragglers}\n{log_tail}"
    assert live.dev.process.returncode is not None
