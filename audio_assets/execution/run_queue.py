"""The run coordinator of the shipped instance configs: Dagster's run queue, plus how often the daemon
looks at backfills."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from audio_assets import upstream


class RunQueue(dg.QueuedRunCoordinator):
    """``QueuedRunCoordinator`` with one more setting, ``backfill_interval_seconds``.

    Dagster has no setting for the backfill daemon's loop (it looks every 30 s), and the daemon process
    loads the run coordinator before it starts its loops: so this is where the daemon can be told.
    """

    @classmethod
    def config_type(cls) -> dict:
        return {
            **dg.QueuedRunCoordinator.config_type(),
            "backfill_interval_seconds": dg.Field(
                dg.IntSource,
                is_required=False,
                description="How often the daemon looks at new and running backfills (Dagster's own: 30 s).",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> "RunQueue":
        interval = config_value.get("backfill_interval_seconds")
        if interval is not None:
            if interval < 1:
                raise ValueError(f"run_coordinator.config.backfill_interval_seconds must be at least 1, not {interval}")
            upstream.set_backfill_daemon_interval(interval)
        return super().from_config_value(inst_data, config_value)
