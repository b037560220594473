"""The one rule for speaker keys: what can never name a folder inside AUDIO_ROOT is refused everywhere."""

import subprocess
import sys
from pathlib import Path

import pytest

from audio_assets.speaker_keys import key_problem

pytestmark = pytest.mark.fast

IMPOSSIBLE = {
    "": "it is empty",
    "a\nb": "control characters ('\\n')",
    "tab\there": "control characters ('\\t')",
    "bell\x07": "control characters",
    "del\x7f": "control characters",
    ".": "not a folder name",
    "..": "not a folder name",
    "a/b": "path separator",
    "../../tmp/evil": "path separator",
    "/tmp/abs": "path separator",
    "p900/../p901": "path separator",
    "a\\b": "path separator",
    "dots...here": "cannot contain '...'",
    "x" * 5000: "5000 bytes long",
    "é" * 128: "256 bytes long",
    "bad\udcff": "not valid UTF-8",
}


@pytest.mark.parametrize(("key", "says"), IMPOSSIBLE.items(), ids=[repr(k[:12]) for k in IMPOSSIBLE])
def test_keys_that_can_never_name_a_folder(key, says):
    assert says in key_problem(key)


@pytest.mark.parametrize("key", ["p225", "Zoë, speaker two", "a,b", "my speaker", "x" * 255, "é" * 127, ".hidden"])
def test_keys_a_folder_can_have(key):
    assert key_problem(key) is None


def test_the_cli_refuses_impossible_keys_before_any_run(tmp_path):
    cli = Path(sys.executable).parent / "audio-assets"
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(home), "AUDIO_ROOT": str(tmp_path)}
    for command in (["materialize", "p1", "../../tmp/evil"], ["backfill", "a\nb", "--url", "http://127.0.0.1:9"]):
        done = subprocess.run([str(cli), *command], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 1
        assert done.stderr.startswith("audio-assets: not a speaker folder name: "), done.stderr
    assert not (home / "history").exists()  # refused before the instance was opened
