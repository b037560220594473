"""Running the job from tests and reading back what the instance recorded: shared by the test modules."""

from pathlib import Path

import dagster as dg

from audio_assets.definitions import process_speakers_job
from audio_assets.partitions import range_tags


def run_config_for(audio_root: Path, work: Path, model_cache: str) -> dict:
    """Resources pointed at a test's own audio, results, tables and model cache."""
    return {
        "resources": {
            "audio_library": {"config": {"root": str(audio_root)}},
            "results_folder": {"config": {"path": str(work / "results")}},
            "parquet_io_manager": {"config": {"base_dir": str(work / "parquet")}},
            "whisper": {"config": {"cache_dir": model_cache}},
            "quality": {"config": {"max_wer": 0.5}},  # tiny.en on espeak speech: 0.15–0.4 per speaker
        }
    }


def run(instance, run_config, first, last) -> dg.JobExecutionResult:
    """One run of the job over the speakers ``first`` … ``last``, through the multiprocess executor."""
    return dg.execute_job(
        dg.reconstructable(process_speakers_job),
        instance=instance,
        run_config=run_config,
        tags=range_tags(first, last),
    )


def latest_metadata(instance, asset: str, partition: str) -> dict:
    """The metadata values of the partition's latest materialisation."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} {partition} not materialised"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def check_evaluations(instance, run_id) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check name, speaker partition) → the evaluation the run recorded."""
    found = {}
    for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = e.dagster_event.event_specific_data
        assert (evaluation.check_name, evaluation.partition) not in found, "one result per check and speaker"
        found[evaluation.check_name, evaluation.partition] = evaluation
    return found
