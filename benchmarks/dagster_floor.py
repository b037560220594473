"""Dagster's own floor for the pipeline's run: the same graph, partitions, pool and executor, no work.

audio_files → (transcriptions ∥ tokens) → merged_jsonl, each asset doing nothing over N speaker
partitions in one run, through the multiprocess executor with a forkserver that preloads Dagster and
its storage code (started before the run, as the CLI does). What this takes is what any pipeline of
this shape pays on this machine before it does any work; benchmarks/pipeline.py reports it next to (c).
"""

import os
import time

import dagster as dg

from audio_assets.execution import PRELOAD_MODULES, start_step_launcher

PARTITIONS = dg.DynamicPartitionsDefinition(name="floor_speakers")
PRELOAD = [m for m in PRELOAD_MODULES if m.startswith("dagster")]  # no torch, whisper or project code


class NoStorage(dg.ConfigurableIOManager):
    """Hands nothing over: the floor measures orchestration, not Parquet."""

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        pass

    def load_input(self, context: dg.InputContext) -> None:
        return None


def _asset(name: str, deps: list[str], pool: str | None = None) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        ins={d: dg.AssetIn() for d in deps},
        partitions_def=PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="nothing",
        pool=pool,
    )
    def nothing(context: dg.AssetExecutionContext, **_):
        for key in context.partition_keys:  # one materialisation per partition, as the real assets have
            context.add_asset_metadata({"files": 0}, partition_key=key)

    return nothing


ASSETS = [
    _asset("audio_files", []),
    _asset("transcriptions", ["audio_files"], pool="whisper"),
    _asset("tokens", ["audio_files"], pool="tokenizer"),
    _asset("merged_jsonl", ["transcriptions", "tokens"]),
    _asset("merged_jsonl_quality", ["merged_jsonl"]),  # the checks' step
]
EXECUTOR = dg.multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": PRELOAD}}})
defs = dg.Definitions(
    assets=ASSETS,
    jobs=[dg.define_asset_job("floor", executor_def=EXECUTOR)],
    resources={"nothing": NoStorage()},
)


def floor_job() -> dg.JobDefinition:
    return defs.resolve_job_def("floor")


def run(instance: dg.DagsterInstance, partitions: int) -> float:
    """Wall seconds of one run over ``partitions`` partitions, from before the forkserver starts."""
    keys = [f"s{i:04d}" for i in range(partitions)]
    instance.add_dynamic_partitions(PARTITIONS.name, keys)
    start = time.perf_counter()
    start_step_launcher(EXECUTOR, PRELOAD)
    result = dg.execute_job(
        dg.reconstructable(floor_job),
        instance=instance,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    wall = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"the floor run failed (pid {os.getpid()})")
    return wall
