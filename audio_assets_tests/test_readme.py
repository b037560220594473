"""The README's run-config example is what users paste into the launchpad or `-c run.yaml`: it must be
accepted by the job as written, field names and values included."""

import re
from pathlib import Path

import dagster as dg
import yaml

from audio_assets.definitions import process_speakers_job

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_run_config_is_valid_for_the_job():
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if b.startswith("resources:")]
    config = yaml.safe_load(block)
    assert {"whisper", "tokenizer", "audio_library", "quality"} <= set(config["resources"])
    result = dg.validate_run_config(process_speakers_job(), config)
    library = result["resources"]["audio_library"]["config"]
    assert library["listing_threads"] == 1 and "root" in library  # a field set, the others keep their values
