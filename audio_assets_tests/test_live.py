"""Against a live `dagster dev` (webserver + daemon), as a user runs it: drop folders in, watch, backfill.

Everything goes through the real processes: the sensor's ticks, the run queue, the backfill daemon,
GraphQL, and a headless Chromium rendering the UI. Artifacts (the dagster dev log, screenshots) go to
``test-artifacts/``.
"""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from audio_assets.corpus import make_corpus

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
def live(tmp_path_factory):
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


def test_sensor_picks_up_the_folder_present_at_start(live):
    wait_for(lambda: "p910" in partition_keys(live), 60, what="partition p910")
    wait_for(lambda: results_ready(live, "p910", 2), 180, what="results/p910.jsonl")
    [run] = settled_runs(live, dagster__partition="p910")
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/sensor_name", "value": "audio_folder_sensor"} in run["tags"]


def test_dropping_new_folders_in_gets_them_processed(live):
    shutil.copytree(live.corpus_root / "p911", live.audio_root / "p911")
    shutil.copytree(live.corpus_root / "p912", live.audio_root / AWKWARD)
    wait_for(lambda: {"p911", AWKWARD} <= set(partition_keys(live)), 60, what="new partitions")
    wait_for(lambda: results_ready(live, "p911", 2) and results_ready(live, AWKWARD, 2), 240, what="new results")
    awkward_lines = [json.loads(line) for line in (live.results / f"{AWKWARD}.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in awkward_lines] == [f"{AWKWARD}/p912_001_mic2.flac", f"{AWKWARD}/p912_002_mic2.flac"]
    sensor_runs = settled_runs(live, dagster__sensor_name="audio_folder_sensor")
    assert len(sensor_runs) >= 2 and all(r["status"] == "SUCCESS" for r in sensor_runs)


def test_backfill_over_three_speakers_from_the_command_line(live):
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


def test_ui_shows_the_asset_graph_and_the_partitions(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{live.dev.url}/locations/audio_assets/asset-groups/speech_dataset")
            for asset in ("audio_files", "transcriptions", "tokens", "merged_jsonl"):
                page.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("3 partitions").first.wait_for(timeout=30_000)  # partition counts rendered on the graph
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


def test_stops_cleanly(live):
    stragglers = live.dev.stop()
    log_tail = "\n".join(live.dev.log_path.read_text(errors="replace").splitlines()[-40:])
    assert stragglers == [], f"processes still there 75 s after SIGTERM: {stragglers}\n{log_tail}"
    assert live.dev.process.returncode is not None
