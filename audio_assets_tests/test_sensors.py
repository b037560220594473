"""The audio folder sensor on a real instance and a temp AUDIO_ROOT: exactly the expected requests."""

import os
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import soundfile

from audio_assets.cli.command import run_ranges
from audio_assets.resources import AudioLibrary
from audio_assets.sensors import SensorCursor, build_audio_folder_sensor
from audio_assets.upstream import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

pytestmark = pytest.mark.fast

SETTLE = 5.0
OLD = time.time() - 3600


def write_flac(path: Path, seconds: float = 0.5, mtime: float = OLD, freq: float = 440.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000, format="FLAC")
    settle(path, mtime)


def settle(path: Path, mtime: float = OLD):
    os.utime(path, (mtime, mtime))
    os.utime(path.parent, (mtime, mtime))


class Harness:
    """Ticks the sensor like the daemon does: applies partition additions, carries the cursor."""

    def __init__(self, instance, root: Path):
        self.instance, self.root, self.cursor = instance, root, None
        self.sensor = build_audio_folder_sensor(
            minimum_interval_seconds=30, settle_seconds=SETTLE, first_run_files=50, run_files=2000
        )

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"audio_library": AudioLibrary(root=str(self.root))}
        )
        result = self.sensor(context)
        for request in result.dynamic_partitions_requests:  # as the daemon applies them
            if isinstance(request, dg.DeleteDynamicPartitionsRequest):
                for key in request.partition_keys:
                    self.instance.delete_dynamic_partition(request.partitions_def_name, key)
            else:
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return result


def requested(result: dg.SensorResult) -> list[tuple[str, str]]:
    """(first, last) speaker of each run request."""
    out = []
    for r in result.run_requests:
        if r.partition_key is not None:
            out.append((r.partition_key, r.partition_key))
        else:
            out.append((r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]))
    return out


def added(result: dg.SensorResult) -> list[str]:
    return [k for r in result.dynamic_partitions_requests for k in r.partition_keys]


@pytest.fixture
def harness(tmp_path):
    root = tmp_path / "audio"
    for speaker in ("p1", "p2"):
        for n in (1, 2):
            write_flac(root / speaker / f"{speaker}_{n:03d}.flac")
    with dg.instance_for_test() as instance:
        yield Harness(instance, root)


def test_the_sensor_asks_the_daemon_for_its_interval_and_says_it():
    sensor = build_audio_folder_sensor(minimum_interval_seconds=30, settle_seconds=10)
    assert sensor.minimum_interval_seconds == 29  # the daemon's 5 s loop then ticks it every 30 s, not 35
    assert "Looks every 30 s" in sensor.description and "unchanged for 10 s" in sensor.description


def test_first_tick_adds_all_folders_and_second_requests_nothing(harness):
    first = harness.tick()
    assert added(first) == ["p1", "p2"]
    assert requested(first) == [("p1", "p2")]  # one run for both: one model load
    assert set(SensorCursor.from_json(first.cursor).seen) == {"p1", "p2"}
    second = harness.tick()
    assert added(second) == [] and requested(second) == []


def test_new_folder(harness):
    harness.tick()
    write_flac(harness.root / "p3" / "a.flac")
    result = harness.tick()
    assert added(result) == ["p3"] and requested(result) == [("p3", "p3")]
    assert harness.instance.get_dynamic_partitions("speakers") == ["p1", "p2", "p3"]


def test_new_file(harness):
    harness.tick()
    write_flac(harness.root / "p1" / "nested" / "p1_003.flac")
    settle(harness.root / "p1")
    result = harness.tick()
    assert added(result) == [] and requested(result) == [("p1", "p1")]


def test_changed_file(harness):
    harness.tick()
    write_flac(harness.root / "p2" / "p2_001.flac", seconds=0.7, freq=880)
    assert requested(harness.tick()) == [("p2", "p2")]


def test_removed_file(harness):
    harness.tick()
    (harness.root / "p1" / "p1_002.flac").unlink()
    settle(harness.root / "p1" / "p1_001.flac")
    assert requested(harness.tick()) == [("p1", "p1")]


def test_half_copied_file_waits_until_settled(harness):
    harness.tick()
    partial = harness.root / "p2" / "p2_003.flac"
    write_flac(partial, mtime=time.time())  # being written right now
    assert requested(harness.tick()) == []
    assert requested(harness.tick()) == []  # still waiting, not forgotten
    settle(partial, time.time() - SETTLE - 1)
    assert requested(harness.tick()) == [("p2", "p2")]


def test_half_copied_new_folder_waits(harness):
    harness.tick()
    write_flac(harness.root / "p3" / "a.flac", mtime=time.time())
    result = harness.tick()
    assert added(result) == [] and requested(result) == []
    settle(harness.root / "p3" / "a.flac")
    assert requested(harness.tick()) == [("p3", "p3")]


def test_vanished_folder_is_reported_once_and_kept(harness):
    harness.tick()
    for f in (harness.root / "p2").iterdir():
        f.unlink()
    (harness.root / "p2").rmdir()
    result = harness.tick()
    assert requested(result) == [] and added(result) == []
    [event] = result.asset_events
    assert event.asset_key == dg.AssetKey("audio_files") and event.partition == "p2"
    assert event.metadata["folder_status"].value == "missing from AUDIO_ROOT"
    assert harness.instance.get_dynamic_partitions("speakers") == ["p1", "p2"]  # never dropped
    again = harness.tick()
    assert again.asset_events == [] and requested(again) == []


def test_awkward_names_work_and_impossible_ones_are_skipped(harness):
    harness.tick()
    awkward = ["my speaker", "a,b", "Zoë café", "x" * 200, "dots...here"]
    for name in awkward:
        write_flac(harness.root / name / "a.flac")
    result = harness.tick()
    assert added(result) == sorted(["my speaker", "a,b", "Zoë café", "x" * 200])
    assert len(result.run_requests) == 1  # contiguous new keys: one run
    assert "dots...here" in SensorCursor.from_json(result.cursor).rejected
    assert requested(harness.tick()) == []


def test_runs_are_sized_by_files_and_the_first_is_small(harness):
    """Many small folders: a first run of up to 50 files (the first results come early), then runs of up
    to 2,000 files; a folder bigger than that gets a run of its own."""
    harness.tick()
    for n in range(60):
        write_flac(harness.root / f"s{n:03d}" / "a.flac", seconds=0.1)
    assert requested(harness.tick()) == [("s000", "s049"), ("s050", "s059")]
    for name, files in (("t1", 30), ("t2", 30), ("t3", 1500), ("t4", 600), ("t5", 2100), ("t6", 1)):
        empty_files(harness.root / name, files)
    assert requested(harness.tick()) == [("t1", "t1"), ("t2", "t3"), ("t4", "t4"), ("t5", "t5"), ("t6", "t6")]


def empty_files(folder: Path, count: int):
    """``count`` settled files: a file's size does not count for a run's size, only that it is there."""
    folder.mkdir()
    for n in range(count):
        (folder / f"{n:04d}.flac").write_bytes(b"x")
        settle(folder / f"{n:04d}.flac")


def test_the_cli_sizes_its_runs_by_files_like_the_sensor(harness):
    """`audio-assets materialize` splits as the sensor does (without the smaller first run); a folder
    that is gone counts no files, and speakers that are not consecutive never share a run."""
    for name, files in (("t1", 30), ("t2", 1500), ("t3", 600), ("t4", 2100)):
        empty_files(harness.root / name, files)
    harness.tick()  # registers p1, p2 (2 files each) and t1 … t4
    for path in (harness.root / "p2").iterdir():
        path.unlink()
    (harness.root / "p2").rmdir()
    keys, library = harness.instance.get_dynamic_partitions("speakers"), AudioLibrary(root=str(harness.root))
    assert run_ranges(harness.instance, keys, library, 2000) == [("p1", "t2"), ("t3", "t3"), ("t4", "t4")]
    assert run_ranges(harness.instance, keys, library, 100) == [("p1", "t1"), ("t2", "t2"), ("t3", "t3"), ("t4", "t4")]
    assert run_ranges(harness.instance, ["t1", "p1"], library, 2000) == [("p1", "p1"), ("t1", "t1")]


def test_registered_but_never_materialised_folders_are_run(harness):
    harness.instance.add_dynamic_partitions("speakers", ["p1"])  # e.g. added by `audio-assets register`
    result = harness.tick()
    assert added(result) == ["p2"]
    assert sorted(requested(result)) == [("p1", "p2")]


def deleted(result: dg.SensorResult) -> list[str]:
    return [
        key
        for request in result.dynamic_partitions_requests
        if isinstance(request, dg.DeleteDynamicPartitionsRequest)
        for key in request.partition_keys
    ]


def test_registered_keys_that_cannot_be_folders_are_removed(harness):
    """Keys added in the UI or over GraphQL that can never name a speaker folder: deleted on the next
    tick, never run; good keys on either side of them still share one run."""
    impossible = ["", "a\nb", "..", "../../tmp/evil", "/tmp/abs", "x" * 300]
    harness.instance.add_dynamic_partitions("speakers", ["p1", *impossible])
    result = harness.tick()
    assert sorted(deleted(result)) == sorted(impossible)
    assert requested(result) == [("p1", "p2")]  # p2 is new; the deleted keys no longer sit between them
    assert harness.instance.get_dynamic_partitions("speakers") == ["p1", "p2"]
    assert deleted(harness.tick()) == []
