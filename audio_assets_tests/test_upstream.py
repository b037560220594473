"""Each name in audio_assets/upstream.py still means what the project relies on: these fail when a
Dagster, openai-whisper, torch or transformers release renames, moves or changes one."""

import importlib.util
import inspect
import time
from types import SimpleNamespace

import dagster as dg
import pytest

from audio_assets import upstream
from audio_assets.partitions import range_tags

from .live_dagster import INSTANCE_CONFIG

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


@pytest.mark.parametrize("interval", [5, 30, 31])
def test_the_sensor_daemon_ticks_a_sensor_at_its_interval_not_a_loop_later(interval):
    from dagster._core.scheduler.instigation import SensorInstigatorData
    from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME, is_under_min_interval

    loop = upstream.SENSOR_DAEMON_LOOP_SECONDS
    assert loop == MIN_INTERVAL_LOOP_TIME
    sensor = SimpleNamespace(min_interval_seconds=upstream.sensor_minimum_interval(interval))

    def skipped(loops: int) -> bool:  # the daemon's check that many loops after a tick started 0.1 s in
        started = time.time() - (loops * loop - 0.1)
        state = SimpleNamespace(instigator_data=SensorInstigatorData(last_tick_start_timestamp=started))
        return is_under_min_interval(state, sensor)

    due = -(-interval // loop)  # the first loop at or after the interval
    assert skipped(due - 1) and not skipped(due)
    if interval % loop == 0:  # what Dagster does with the interval as given: one loop late
        sensor = SimpleNamespace(min_interval_seconds=interval)
        assert skipped(due)


def test_the_backfill_daemon_waits_the_interval_set_for_it(monkeypatch):
    """Dagster's own backfill loop, its iteration emptied: the time it sleeps between two looks."""
    import logging

    from dagster._daemon import backfill, controller

    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)  # put back after the test
    monkeypatch.setattr(backfill, "execute_backfill_iteration", lambda *args, **kwargs: iter(()))
    upstream.set_backfill_daemon_interval(3)
    waits = []

    class Shutdown:
        def wait(self, seconds):
            waits.append(seconds)
            return False

    loop = backfill.execute_backfill_iteration_loop(None, logging.getLogger("test"), Shutdown())
    while not waits:
        next(loop)
    assert 2.5 < waits[0] <= 3


def test_the_daemon_loads_the_run_coordinator_before_its_loops_start(monkeypatch):
    """dagster-daemon creates every daemon before it starts their threads; creating them reads the run
    coordinator, so the shipped RunQueue has set the backfill interval by then."""
    import yaml
    from dagster._daemon import controller

    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)
    shipped = yaml.safe_load(INSTANCE_CONFIG.read_text())["run_coordinator"]
    with dg.instance_for_test(overrides={"run_coordinator": shipped}) as instance:
        daemons = controller.create_daemons_from_instance(instance)
        try:
            interval = controller.DEFAULT_DAEMON_INTERVAL_SECONDS
            assert interval == shipped["config"]["backfill_interval_seconds"]
            assert {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= {d.daemon_type() for d in daemons}
        finally:
            for daemon in daemons:
                daemon.__exit__(None, None, None)


def test_openai_whisper_names_its_checkpoints():
    import whisper

    assert set(whisper._MODELS) == set(whisper.available_models())
    assert {"tiny.en", "base", "large-v3"} <= set(whisper._MODELS)
    assert set(inspect.signature(whisper._download).parameters) == {"url", "root", "in_memory"}


def test_torch_reports_native_bf16():
    assert isinstance(upstream.cpu_has_native_bf16(), bool)


def test_encodec_codes_are_transformers_own_from_its_encoder_and_codebooks(tmp_path):
    """A small random EnCodec (4 filters, 16 dims, 64 codes: no weights, milliseconds): the codebook
    count per bandwidth, and codes computed from the encoder output and codebooks upstream.py reaches,
    agree with ``EncodecModel.encode``, but where its float32 search rounds a near-tie otherwise."""
    import numpy as np
    import torch
    from transformers import EncodecConfig, EncodecModel

    from audio_assets.speech.encodec_tokens import EncodecTokenizer, encodec_shape

    torch.manual_seed(0)
    model = EncodecModel(EncodecConfig(num_filters=4, hidden_size=16, codebook_size=64)).eval()
    with torch.no_grad():
        for embed in upstream.encodec_codebooks(model, model.config.num_quantizers):
            embed.copy_(torch.randn(embed.shape) * 0.1)
    model.save_pretrained(tmp_path)
    shape = encodec_shape(tmp_path, 12.0, "interleaved")
    assert shape.n_codebooks == model.quantizer.get_num_quantizers_for_bandwidth(12.0)
    audio = (np.random.default_rng(0).standard_normal(320 * 100) * 0.1).astype(np.float32)
    [ours] = EncodecTokenizer(tmp_path, shape).codes([audio])
    with torch.inference_mode():
        theirs = model.encode(torch.from_numpy(audio)[None, None], bandwidth=12.0).audio_codes[0, 0].numpy()
    assert ours.shape == theirs.shape == (shape.n_codebooks, 100)
    assert (ours[0] == theirs[0]).mean() > 0.99 and (ours == theirs).mean() > 0.95


def test_faster_whisper_still_builds_what_the_batched_decode_drives():
    """What upstream.py's faster-whisper functions reach; test_whisper.py runs them on real speech."""
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    assert list(inspect.signature(Tokenizer).parameters) == ["tokenizer", "multilingual", "task", "language"]
    assert list(inspect.signature(get_suppressed_tokens).parameters) == ["tokenizer", "suppress_tokens"]
    built = inspect.getsource(WhisperModel.__init__)
    for attribute in ("self.model = ctranslate2.models.Whisper(", "self.hf_tokenizer = ", "self.feature_extractor = "):
        assert attribute in built
    assert all(hasattr(ctranslate2.models.Whisper, name) for name in ("generate", "detect_language", "is_multilingual"))
