"""How steps run, chosen by configuration: processes on this machine (default) or Celery workers.

The same definitions run either way; ``AUDIO_ASSETS_EXECUTOR`` (read in definitions.py) picks one.
GPU steps carry a queue tag, so with Celery they go to the workers that serve the ``gpu`` queue.
"""

import dagster as dg

GPU_QUEUE = "gpu"
# read by dagster-celery; other executors ignore it
GPU_STEP_TAGS = {"dagster-celery/queue": GPU_QUEUE}


def celery_settings(visibility_timeout_seconds: int) -> dict:
    """Celery app settings shared by the executor (which submits steps) and the workers (which run them).

    A step is acknowledged only when it has finished, and a worker that dies puts its step back on the
    queue, so a killed worker loses no step: another worker takes it over once the broker's visibility
    timeout has passed (set it above your longest step).
    """
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": visibility_timeout_seconds},
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout_seconds},
    }


def build_executor(kind: str, visibility_timeout_seconds: int = 3600) -> dg.ExecutorDefinition:
    if kind == "multiprocess":
        # Each step is its own process; a forkserver with the heavy modules already imported starts
        # them in a fraction of the time a fresh interpreter takes (import torch alone is ~1 s here).
        return dg.multiprocess_executor.configured(
            {"start_method": {"forkserver": {"preload_modules": ["torch", "whisper", "audio_assets.definitions"]}}}
        )
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {
                "broker": {"env": "CELERY_BROKER_URL"},
                "backend": {"env": "CELERY_BACKEND_URL"},
                "config_source": celery_settings(visibility_timeout_seconds),
            }
        )
    raise ValueError(f"AUDIO_ASSETS_EXECUTOR must be 'multiprocess' or 'celery', not {kind!r}")
