"""Retries: a transient I/O error in a model step is retried with backoff; the shipped instance configs
retry runs whose worker died (the live test kills one under the daemon) but not runs that failed."""

import dagster as dg
import yaml

from audio_assets.definitions import defs
from audio_assets.resources.parquet_tables import SpeakerParquetIOManager

from .job_runs import run_config_for
from .live_dagster import INSTANCE_CONFIG, SHIPPED_INSTANCE_CONFIGS


def test_the_shipped_instance_configs_retry_dead_run_workers_only():
    for path in SHIPPED_INSTANCE_CONFIGS:
        retries = yaml.safe_load(path.read_text())["run_retries"]
        assert retries == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}, path
    with dg.instance_for_test(overrides=yaml.safe_load(INSTANCE_CONFIG.read_text())) as instance:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure


def test_a_transient_io_error_in_a_model_step_is_retried(tmp_path, corpus, corpus_dir, model_cache, monkeypatch):
    real_saved_rows = SpeakerParquetIOManager.saved_rows
    calls = []

    def stale_handle_once(self, asset_key, partition_keys):
        calls.append(asset_key.to_user_string())
        if calls.count("tokens") == 1 and asset_key == dg.AssetKey("tokens"):
            raise OSError(116, "Stale file handle")  # what NFS says after a server restart
        return real_saved_rows(self, asset_key, partition_keys)

    monkeypatch.setattr(SpeakerParquetIOManager, "saved_rows", stale_handle_once)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("speakers", ["p900"])
        result = defs.resolve_job_def("process_speakers").execute_in_process(
            instance=instance,
            run_config=run_config_for(corpus_dir / "wav48_silence_trimmed", tmp_path, model_cache),
            partition_key="p900",
        )
        assert result.success
        retried = [
            e.dagster_event.step_key
            for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
        ]
        assert retried == ["tokens"]
    assert calls.count("tokens") == 2
    assert len((tmp_path / "results" / "p900.jsonl").read_text().splitlines()) == 3
