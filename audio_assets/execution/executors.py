"""How steps run, chosen by configuration: processes on this machine (default) or Celery workers.

The same definitions run either way; ``AUDIO_ASSETS_EXECUTOR`` (read in definitions.py) picks one.
GPU steps carry a queue tag, so with Celery they go to the workers that serve the ``gpu`` queue.
"""

import multiprocessing
import multiprocessing.forkserver
import sys

import dagster as dg

from audio_assets.execution.priority import thread_at_low_priority
from audio_assets.upstream import DAGSTER_STEP_MODULES

GPU_QUEUE = "gpu"

# Imported once by the forkserver, before it forks any step process: the definitions and the instance's
# storage classes (every step opens the instance, and would import them, SQLAlchemy and Alembic, itself).
# torch and Whisper follow right after the first fork (forkserver_preload.py). A module that
# is not installed (dagster_postgres on a SQLite-only machine) is skipped by the forkserver.
PRELOAD_MODULES = [
    *DAGSTER_STEP_MODULES,  # the executor's own module first
    "audio_assets.definitions",
    "dagster_postgres",
    "audio_assets.execution.forkserver_preload",
]
# The model steps read and write shared storage (NFS, object-store mounts) for minutes: an I/O error
# there is often gone a few seconds later. One bad file never fails a step (it becomes an error record).
MODEL_STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

# Each executor reads its own tag and ignores the others': dagster-celery routes the step to the gpu
# queue; dagster-k8s gives the step's pod one GPU and schedules it on a GPU node.
GPU_STEP_TAGS = {
    "dagster-celery/queue": GPU_QUEUE,
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        "pod_spec_config": {"node_selector": {"nvidia.com/gpu.present": "true"}},
    },
}


def start_step_launcher(executor: dg.ExecutorDefinition, modules: list[str] = PRELOAD_MODULES) -> None:
    """Start the multiprocess executor's forkserver now rather than at the first step launch, so that
    its imports (~1 s) overlap with creating the run and writing its planned events. The executor then
    finds it running; ``modules`` must be the executor's preload list (a running forkserver is never
    restarted). Other executors need nothing here."""
    if executor.name == "multiprocess":
        multiprocessing.get_context("forkserver").set_forkserver_preload(modules)
        multiprocessing.forkserver.ensure_running()


class OrchestrationAtLowPriority(dg.Executor):
    """Dagster's multiprocess executor, with the run's orchestration loop at nice 19 and its step
    processes at normal priority. While every step of a run waits for a pool slot (the next run of a
    backfill or of the sensor, while another run transcribes), that loop polls without sleeping, on
    the cores the transcription it waits for needs (README: Throughput). Its own work, a few events
    per batch, needs little CPU, so it loses nothing by yielding to the steps. Only with a forkserver,
    which is started before the loop lowers its priority and so keeps the steps at normal priority."""

    def __init__(self, inner: dg.Executor, forkserver_preload: list[str] | None):
        self._inner = inner
        self._preload = forkserver_preload

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        if self._preload is None or sys.platform != "linux":
            # spawned or forked straight from this thread, the steps would inherit its lowered priority
            yield from self._inner.execute(plan_context, execution_plan)
            return
        start_step_launcher(dg.multiprocess_executor, self._preload)  # the steps' parent keeps normal priority
        with thread_at_low_priority():
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(
    name="multiprocess",
    config_schema=dg.multiprocess_executor.config_schema,
    requirements=dg.multiple_process_executor_requirements(),
)
def multiprocess_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Each step in its own process, forked from a forkserver that has the heavy modules imported."""
    start_method = init_context.executor_config.get("start_method") or {}
    preload = (start_method["forkserver"] or {}).get("preload_modules") if "forkserver" in start_method else None
    return OrchestrationAtLowPriority(dg.multiprocess_executor.executor_creation_fn(init_context), preload)


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
        # them in a fraction of the time a fresh interpreter takes.
        return multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}}})
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {
                "broker": {"env": "CELERY_BROKER_URL"},
                "backend": {"env": "CELERY_BACKEND_URL"},
                "config_source": celery_settings(visibility_timeout_seconds),
            }
        )
    if kind == "k8s":  # one pod per step (deploy/k8s/values.yaml); needs the dagster-k8s package
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as error:
            raise ImportError("AUDIO_ASSETS_EXECUTOR=k8s needs dagster-k8s==0.29.27 installed") from error
        return k8s_job_executor
    raise ValueError(f"AUDIO_ASSETS_EXECUTOR must be 'multiprocess', 'celery' or 'k8s', not {kind!r}")
