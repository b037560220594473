"""Each name in audio_assets/upstream.py still means what the project relies on: these fail when a
Dagster, openai-whisper or torch release renames, moves or changes one."""

import importlib.util
import inspect

import dagster as dg
import pytest

from audio_assets import upstream
from audio_assets.partitions import range_tags

pytestmark = pytest.mark.fast


def test_partition_range_tags_are_dagsters():
    from dagster._core.storage import tags

    assert upstream.PARTITION_RANGE_START_TAG == tags.ASSET_PARTITION_RANGE_START_TAG
    assert upstream.PARTITION_RANGE_END_TAG == tags.ASSET_PARTITION_RANGE_END_TAG
    request = dg.RunRequest(tags=range_tags("p225", "p230"))
    assert request.partition_key_range == dg.PartitionKeyRange("p225", "p230")


def test_the_preloaded_dagster_modules_exist():
    missing = [name for name in upstream.DAGSTER_STEP_MODULES if importlib.util.find_spec(name) is None]
    assert not missing


def test_openai_whisper_names_its_checkpoints_and_their_heads():
    import whisper

    assert set(whisper._MODELS) == set(whisper.available_models())
    assert {"tiny.en", "base", "large-v3"} <= set(whisper._MODELS)
    assert set(inspect.signature(whisper._download).parameters) == {"url", "root", "in_memory"}
    heads = upstream.openai_whisper_alignment_heads("base")
    assert isinstance(heads, bytes) and heads
    assert upstream.openai_whisper_alignment_heads("no-such-model") is None


def test_torch_reports_native_bf16():
    assert isinstance(upstream.cpu_has_native_bf16(), bool)
