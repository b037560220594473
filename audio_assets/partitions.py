"""One partition per speaker folder under AUDIO_ROOT; keys are added by the sensor or the CLI."""

import warnings
from collections.abc import Sequence

import dagster as dg

# Multi-partition backfill policies are beta in Dagster 1.13; we rely on them knowingly (see below).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

speakers = dg.DynamicPartitionsDefinition(name="speakers")

# Several speakers share a run, so each step process loads the Whisper model once for up to this many
# partitions instead of once per speaker; one speaker's problems never fail the others (they become
# error records or a reported, skipped partition). Every speaker-partitioned asset uses this policy, so
# a backfill's runs cover all four assets.
MAX_SPEAKERS_PER_RUN = 25
speaker_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_SPEAKERS_PER_RUN)

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def speaker_ranges(selected: Sequence[str], ordered: Sequence[str], max_per_run: int = MAX_SPEAKERS_PER_RUN):
    """Split selected keys into runs of consecutive registered keys (a run covers a key range).

    ``ordered`` is the instance's order of the dynamic partition keys; returns (first, last) pairs.
    """
    index = {key: i for i, key in enumerate(ordered)}
    missing = [k for k in selected if k not in index]
    if missing:
        raise KeyError(f"not registered as speaker partitions: {', '.join(missing)}")
    ranges: list[tuple[int, int]] = []
    for pos in sorted({index[k] for k in selected}):
        if ranges and ranges[-1][1] == pos - 1 and pos - ranges[-1][0] < max_per_run:
            ranges[-1] = (ranges[-1][0], pos)
        else:
            ranges.append((pos, pos))
    return [(ordered[a], ordered[b]) for a, b in ranges]


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the speakers ``first`` … ``last``."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}
