"""The README's run-config examples are what users paste into the launchpad or `-c run.yaml`: each must
be accepted by the job as written, field names and values included."""

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

README = Path(__file__).resolve().parents[1] / "README.md"
VALIDATE = """
import json, sys
import dagster as dg
from audio_assets.definitions import process_speakers_job
print(json.dumps(dg.validate_run_config(process_speakers_job(), json.loads(sys.stdin.read()))["resources"]))
"""


def validated_resources(config: dict, cwd: Path) -> dict:
    """The job's resolved resource config for ``config``, in a fresh process: the definitions read
    AUDIO_ROOT when they are loaded."""
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE],
        input=json.dumps(config),
        env={"PATH": "/usr/bin:/bin", "AUDIO_ROOT": "/corpus"},
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_readme_run_configs_are_valid_for_the_job(tmp_path):
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if b.startswith("resources:")]
    full, encodec = (yaml.safe_load(block) for block in blocks)
    assert {"whisper", "tokenizer", "audio_library", "quality"} <= set(full["resources"])
    library = validated_resources(full, tmp_path)["audio_library"]["config"]
    # setting one field keeps the root the definitions were given (a partly configured resource)
    assert (library["root"], library["listing_threads"]) == ("/corpus", 1)
    tokenizer = validated_resources(encodec, tmp_path)["tokenizer"]["config"]
    assert (tokenizer["backend"], tokenizer["bandwidth"], tokenizer["layout"]) == ("encodec", 6.0, "interleaved")
