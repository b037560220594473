"""One partition per speaker folder under AUDIO_ROOT; keys are added by the sensor or the CLI."""

import math
import warnings
from collections.abc import Mapping, Sequence

import dagster as dg

from audio_assets.upstream import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

# Multi-partition backfill policies are beta in Dagster 1.13; we rely on them knowingly (see below).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

speaker_partitions = dg.DynamicPartitionsDefinition(name="speakers")

# Several speakers share a run, so each step process loads the Whisper model once for up to this many
# partitions instead of once per speaker; one speaker's problems never fail the others (they become
# error records or a reported, skipped partition). Every speaker-partitioned asset uses this policy, so
# a backfill's runs cover all four assets. A policy cannot count files: the bound keeps a run of large
# folders (50 of VCTK's ~400 clips) to a step's memory, and a step that dies loses only what it computed
# since its last checkpoint (resources/parquet_tables.py), not the run.
MAX_SPEAKERS_PER_RUN = 50
speaker_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_SPEAKERS_PER_RUN)

# The sensor and `audio-assets materialize` can count files, so their runs are sized by files: 25
# folders of 3 clips and 25 of 2,000 are very different runs, and a run writes its JSONL only at its end.
RUN_FILES = 2000
RUN_SPEAKERS = 200  # bounds the events of one run (nine per speaker)


def speaker_ranges(
    selected: Sequence[str],
    ordered: Sequence[str],
    max_per_run: int = MAX_SPEAKERS_PER_RUN,
    files: Mapping[str, int] | None = None,
    file_budgets: Sequence[float] = (math.inf,),
) -> list[tuple[str, str]]:
    """Split selected keys into runs of consecutive registered keys (a run covers a key range).

    ``ordered`` is the instance's order of the dynamic partition keys; returns (first, last) pairs. With
    ``files`` (key → audio files), run i also stops growing before it would hold more than
    ``file_budgets[i]`` files (the last budget repeats); a speaker bigger than that gets a run alone.
    """
    index = {key: i for i, key in enumerate(ordered)}
    missing = [k for k in selected if k not in index]
    if missing:
        raise KeyError(f"not registered as speaker partitions: {', '.join(missing)}")
    ranges: list[tuple[int, int]] = []
    in_run = 0  # files in the last range
    for pos in sorted({index[k] for k in selected}):
        size = files[ordered[pos]] if files is not None else 0
        budget = file_budgets[min(len(ranges) - 1, len(file_budgets) - 1)] if ranges else 0
        if ranges and ranges[-1][1] == pos - 1 and pos - ranges[-1][0] < max_per_run and in_run + size <= budget:
            ranges[-1] = (ranges[-1][0], pos)
            in_run += size
        else:
            ranges.append((pos, pos))
            in_run = size
    return [(ordered[a], ordered[b]) for a, b in ranges]


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the speakers ``first`` … ``last``."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
