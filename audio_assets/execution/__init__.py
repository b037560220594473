"""How steps run: executors (multiprocess with a preloaded forkserver, Celery, Kubernetes), the
forkserver's preload, the Celery app, and the tags and retries of the model steps."""

from audio_assets.execution.executors import (
    GPU_QUEUE,
    GPU_STEP_TAGS,
    MODEL_STEP_RETRY,
    PRELOAD_MODULES,
    build_executor,
    celery_settings,
    start_step_launcher,
)

__all__ = [
    "GPU_QUEUE",
    "GPU_STEP_TAGS",
    "MODEL_STEP_RETRY",
    "PRELOAD_MODULES",
    "build_executor",
    "celery_settings",
    "start_step_launcher",
]
