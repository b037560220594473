"""One partition per speaker folder under AUDIO_ROOT; keys are added by the sensor or the CLI."""

import warnings

import dagster as dg

# Multi-partition backfill policies are beta in Dagster 1.13; we rely on them knowingly (see below).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

speakers = dg.DynamicPartitionsDefinition(name="speakers")

# Backfills put several speakers into one run, so each step process loads the Whisper model once for
# many partitions instead of once per speaker. Every speaker-partitioned asset uses this same policy,
# so a backfill's runs cover all four assets.
speaker_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=25)
