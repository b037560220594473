"""What this project needs from Dagster, openai-whisper, faster-whisper, torch and transformers that
they do not make public, in one place. ``audio_assets_tests/test_upstream.py`` fails when an upstream
release changes any of it.

Nothing here imports a library at module load: the listing step and the sensor use this module
before torch is imported.
"""

# Dagster: a run over a range of dynamic partitions is asked for with these two run tags (what the
# UI's backfills and ``dagster asset materialize --partition-range`` set); RunRequest and execute_job
# take no range argument.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

# Dagster's storage and run-coordinator modules that every step process imports when it opens the
# instance; the step forkserver imports them once, before it forks (execution/executors.py).
DAGSTER_STEP_MODULES = [
    # the executor puts this one first unless it is listed; listed, the forkserver that the CLI starts
    # early (execution/executors.py, start_step_launcher) preloads exactly what the executor asks for
    "dagster._core.executor.multiprocess",
    "dagster._core.storage.root",
    "dagster._core.storage.migration.utils",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.scheduler",
    "dagster._core.run_coordinator",
]


# Dagster's sensor daemon looks at the sensors every 5 s and skips one whose last tick *started* less
# than its minimum interval ago. A tick starts a few ms into its loop, so an interval that is a
# multiple of the loop (5 s, 30 s) ticked one loop late about half the time (5 s → every 5 or 10 s).
SENSOR_DAEMON_LOOP_SECONDS = 5


def sensor_minimum_interval(seconds: int) -> int:
    """The ``minimum_interval_seconds`` with which the daemon ticks a sensor every ``seconds``, rounded
    up to whole loops."""
    return max(1, seconds - 1)


# Dagster's backfill daemon looks at the backfills every DEFAULT_DAEMON_INTERVAL_SECONDS (30 s) and has
# no setting for it (dagster-io/dagster#11649); its loop reads the constant when it starts, after the
# daemon process has loaded the run coordinator (execution/run_queue.py). The constant is also the
# auto-materialize daemon's interval without sensors, which this project does not use.
def set_backfill_daemon_interval(seconds: int) -> None:
    """Make the backfill daemon of this process look every ``seconds`` once its loop starts."""
    from dagster._daemon import controller

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds


def openai_whisper_download(name: str, root: str) -> str:
    """Download one of openai-whisper's named checkpoints (checksum verified) without loading it, and
    return its path: ``whisper.load_model`` does both at once, and the listing step must not load."""
    import whisper

    return whisper._download(whisper._MODELS[name], root, in_memory=False)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with native bf16 matmuls (AVX512-BF16 or AMX), where bf16 autocast speeds Whisper up."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


# faster-whisper: WhisperModel decodes one file at a time (transcribe()); the batched decode of short
# clips (speech/whisper_engines.py) drives the CTranslate2 model under it with faster-whisper's own
# tokenizer and suppression list, as transcribe() does.
def ctranslate2_whisper(model):
    """The ``ctranslate2.models.Whisper`` under a ``faster_whisper.WhisperModel`` (its public
    ``generate``, ``detect_language`` and ``is_multilingual``)."""
    return model.model


def faster_whisper_tokenizer(model, language: str):
    """faster-whisper's tokenizer for transcribing ``language`` with ``model``, as transcribe() builds it."""
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)


def faster_whisper_suppressed_tokens(tokenizer) -> list[int]:
    """The ids transcribe() suppresses with its default ``suppress_tokens=[-1]``."""
    from faster_whisper.transcribe import get_suppressed_tokens

    return list(get_suppressed_tokens(tokenizer, [-1]))


def faster_whisper_mel_bins(model) -> int:
    """Mel bins of ``model``'s feature extractor: 80, or 128 for large-v3."""
    return model.feature_extractor.mel_filters.shape[0]


def encodec_embeddings(model, audio):
    """EnCodec's encoder output (batch × dim × frames) before quantisation: ``EncodecModel.encode``
    returns only codes, quantised in float32 (speech/encodec_tokens.py says why that is not enough)."""
    return model.encoder(audio)


def encodec_codebooks(model, count: int) -> list:
    """The first ``count`` residual codebooks of an ``EncodecModel`` (each codebook_size × dim), as the
    model's own buffers: written in place, they change the model."""
    return [layer.codebook.embed for layer in model.quantizer.layers[:count]]
