"""The one ``Definitions`` of audio_assets: assets, resources, job and executor."""

import dagster as dg

from audio_assets.assets import audio_files, merged_jsonl, tokens, transcriptions
from audio_assets.checks import DatasetQuality
from audio_assets.execution import build_executor
from audio_assets.io import SpeakerParquetIOManager
from audio_assets.jobs import process_speakers
from audio_assets.resources import AudioLibrary, BestRqTokenizer, ResultsFolder, WhisperResource
from audio_assets.sensors import build_audio_folder_sensor

# Definition-time knobs; like the paths below they come from the environment, and only here.
executor = build_executor(
    dg.EnvVar("AUDIO_ASSETS_EXECUTOR").get_value("multiprocess"),
    visibility_timeout_seconds=int(dg.EnvVar("CELERY_VISIBILITY_TIMEOUT").get_value("3600")),
)
audio_folder_sensor = build_audio_folder_sensor(
    minimum_interval_seconds=int(dg.EnvVar("AUDIO_SENSOR_INTERVAL_SECONDS").get_value("30")),
    settle_seconds=float(dg.EnvVar("AUDIO_SETTLE_SECONDS").get_value("10")),
)


defs = dg.Definitions(
    assets=[audio_files, transcriptions, tokens, merged_jsonl],
    jobs=[process_speakers],
    sensors=[audio_folder_sensor],
    resources={
        "audio_library": AudioLibrary(root=dg.EnvVar("AUDIO_ROOT")),
        "whisper": WhisperResource(),
        "tokenizer": BestRqTokenizer(),
        "quality": DatasetQuality(),
        "results_folder": ResultsFolder(path=dg.EnvVar("RESULTS_DIR")),
        "parquet_io_manager": SpeakerParquetIOManager(base_dir=dg.EnvVar("PARQUET_DIR")),
    },
    executor=executor,
)


def process_speakers_job() -> dg.JobDefinition:
    """The job, resolved, for ``dg.reconstructable`` (multiprocess runs launched from Python)."""
    return defs.resolve_job_def("process_speakers")
