"""Configuration as Dagster users meet it: nothing needs setting but AUDIO_ROOT, every path can be set by
the environment, and a missing AUDIO_ROOT is one clear line, never a traceback per sensor tick."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml

from audio_assets.execution.run_queue import RunQueue
from audio_assets.resources import AudioLibrary
from audio_assets.sensors import build_audio_folder_sensor

from .live_dagster import SHIPPED_INSTANCE_CONFIGS

PROBE = textwrap.dedent(
    """
    import json
    import dagster as dg
    from audio_assets.definitions import process_speakers_job
    # what a run launched with the launchpad's empty config gets (it must be enough to launch)
    resources = dg.validate_run_config(process_speakers_job(), {})["resources"]
    print(json.dumps({"root": resources["audio_library"]["config"]["root"],
                      "results": resources["results_folder"]["config"]["path"],
                      "parquet": resources["parquet_io_manager"]["config"]["base_dir"],
                      "weights": resources["whisper"]["config"]["cache_dir"]}))
    """
)


def definitions_seen_with(env: dict[str, str], cwd: Path) -> dict:
    """What the definitions hold when loaded in ``cwd`` with only ``env`` (and PATH) set."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_definitions_load_with_nothing_set_and_default_paths_are_absolute(tmp_path):
    seen = definitions_seen_with({"HOME": str(tmp_path / "user")}, tmp_path)
    assert seen == {
        "root": "",
        "results": str(tmp_path / "results"),
        "parquet": str(tmp_path / ".dagster_home" / "parquet"),
        "weights": str(tmp_path / "user" / ".cache" / "audio_assets"),
    }


def test_every_path_is_set_by_the_environment(tmp_path):
    env = {"AUDIO_ROOT": "corpus", "RESULTS_DIR": str(tmp_path / "out"), "DAGSTER_HOME": str(tmp_path / "home")}
    seen = definitions_seen_with(env, tmp_path)
    assert (seen["root"], seen["results"], seen["parquet"]) == (
        str(tmp_path / "corpus"),  # relative: from the folder Dagster starts in
        str(tmp_path / "out"),
        str(tmp_path / "home" / "parquet"),  # with the instance that records the tables
    )
    seen = definitions_seen_with({**env, "PARQUET_DIR": str(tmp_path / "tables"), "XDG_CACHE_HOME": "cache"}, tmp_path)
    assert (seen["parquet"], seen["weights"]) == (str(tmp_path / "tables"), str(tmp_path / "cache" / "audio_assets"))


@pytest.mark.parametrize(
    ("root", "says"),
    [("", "AUDIO_ROOT is not set"), ("/no/such/corpus", "AUDIO_ROOT '/no/such/corpus' does not exist")],
)
def test_sensor_skips_with_what_to_set_when_audio_root_is_unusable(root, says):
    sensor = build_audio_folder_sensor()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"audio_library": AudioLibrary(root=root)})
        tick = sensor.evaluate_tick(context)
    assert tick.run_requests == [] and tick.cursor is None
    assert tick.skip_message.startswith(says) and "in the project's .env" in tick.skip_message
    assert "\n" not in tick.skip_message


def audio_assets_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "audio-assets"
    return subprocess.run(
        [str(cli), *args], cwd=cwd, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True
    )


def test_cli_reads_the_env_file_of_its_folder_like_dagster(tmp_path):
    for speaker in ("s1", "s2"):
        (tmp_path / "audio" / speaker).mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "elsewhere" / "s3").mkdir(parents=True)
    (tmp_path / ".env").write_text("DAGSTER_HOME=${PWD}/home\nAUDIO_ROOT=${AUDIO_ROOT:-audio}\n")
    done = audio_assets_cli(tmp_path, {"PWD": str(tmp_path)}, "register")
    assert done.returncode == 0, done.stderr
    assert "2 speaker folders, 2 newly registered: s1, s2" in done.stdout
    assert (tmp_path / "home" / "history").is_dir()  # the instance .env named
    exported = audio_assets_cli(tmp_path, {"PWD": str(tmp_path), "AUDIO_ROOT": str(tmp_path / "elsewhere")}, "register")
    assert "1 speaker folders, 1 newly registered: s3" in exported.stdout, exported.stderr  # the export wins


def test_cli_without_audio_root_says_so_in_one_line(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = audio_assets_cli(tmp_path, {"DAGSTER_HOME": str(tmp_path / "home")}, "register")
    assert done.returncode == 1
    assert done.stderr.startswith("audio-assets: AUDIO_ROOT is not set: set AUDIO_ROOT, in the project's .env")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_shipped_instances_queue_runs_and_look_at_backfills_every_5_seconds(monkeypatch):
    from dagster._daemon import controller

    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)  # put back after the test
    local, postgres = (yaml.safe_load(path.read_text())["run_coordinator"] for path in SHIPPED_INSTANCE_CONFIGS)
    assert local == postgres
    with dg.instance_for_test(overrides={"run_coordinator": local}) as instance:
        assert isinstance(instance.run_coordinator, RunQueue)
        assert instance.run_coordinator.dequeue_interval_seconds == 1
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 5
    never = {**local, "config": {**local["config"], "backfill_interval_seconds": 0}}
    with (
        pytest.raises(ValueError, match="backfill_interval_seconds must be at least 1, not 0"),
        dg.instance_for_test(overrides={"run_coordinator": never}) as instance,
    ):
        instance.get_required_daemon_types()  # what dagster-daemon asks first
