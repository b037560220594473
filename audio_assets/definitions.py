"""The one ``Definitions`` of audio_assets: assets, resources, job and executor.

This is the only place that reads the environment. Dagster's CLI (``dg dev``, ``dagster dev``,
``dg launch``) fills it from the project's ``.env`` first; the paths below are made absolute against
the folder Dagster was started in, so the UI's resource view shows where files are read and written.
"""

import os

import dagster as dg

from audio_assets.assets import audio_files, merged_jsonl, tokens, transcriptions
from audio_assets.checks import DatasetQuality, merged_jsonl_quality
from audio_assets.execution import build_executor
from audio_assets.jobs import process_speakers
from audio_assets.partitions import RUN_FILES
from audio_assets.resources import (
    AudioLibrary,
    AudioTokenizer,
    ResultsFolder,
    SpeakerParquetIOManager,
    WhisperResource,
)
from audio_assets.sensors import build_audio_folder_sensor
from audio_assets.speech.models import default_cache_dir


def path_setting(variable: str, default: str = "") -> str:
    """An environment variable holding a path, as an absolute path ("" when unset with no default)."""
    value = dg.EnvVar(variable).get_value(default) or default
    return os.path.abspath(os.path.expanduser(value)) if value else ""


# Definition-time knobs; like the paths below they come from the environment, and only here.
executor = build_executor(
    dg.EnvVar("AUDIO_ASSETS_EXECUTOR").get_value("multiprocess"),
    visibility_timeout_seconds=int(dg.EnvVar("CELERY_VISIBILITY_TIMEOUT").get_value("3600")),
)
run_files = int(dg.EnvVar("AUDIO_RUN_FILES").get_value(str(RUN_FILES)))  # the sensor's runs and the CLI's
audio_folder_sensor = build_audio_folder_sensor(
    minimum_interval_seconds=int(dg.EnvVar("AUDIO_SENSOR_INTERVAL_SECONDS").get_value("30")),
    settle_seconds=float(dg.EnvVar("AUDIO_SETTLE_SECONDS").get_value("10")),
    first_run_files=int(dg.EnvVar("AUDIO_FIRST_RUN_FILES").get_value(str(RUN_FILES))),
    run_files=run_files,
)
# AUDIO_ROOT has no default: unset, the sensor skips saying so and a run fails at its first step.
# The intermediate tables belong to the instance that records them, so they live in its folder.
instance_folder = dg.EnvVar("DAGSTER_HOME").get_value("") or ".dagster_home"

defs = dg.Definitions(
    assets=[audio_files, transcriptions, tokens, merged_jsonl],
    asset_checks=[merged_jsonl_quality],
    jobs=[process_speakers],
    sensors=[audio_folder_sensor],
    resources={
        # partly configured: a run config that sets listing_threads or extensions keeps this root
        "audio_library": AudioLibrary.configure_at_launch(root=path_setting("AUDIO_ROOT")),
        "whisper": WhisperResource(cache_dir=str(default_cache_dir(path_setting("XDG_CACHE_HOME")))),
        "tokenizer": AudioTokenizer(),
        "quality": DatasetQuality(),
        "results_folder": ResultsFolder(path=path_setting("RESULTS_DIR", "results")),
        "parquet_io_manager": SpeakerParquetIOManager(
            base_dir=path_setting("PARQUET_DIR", os.path.join(instance_folder, "parquet"))
        ),
    },
    executor=executor,
)


def process_speakers_job() -> dg.JobDefinition:
    """The job, resolved, for ``dg.reconstructable`` (multiprocess runs launched from Python)."""
    return defs.resolve_job_def("process_speakers")
