"""One partition per speaker folder under AUDIO_ROOT; keys are added by the sensor or the CLI."""

import dagster as dg

speakers = dg.DynamicPartitionsDefinition(name="speakers")

# Backfills put several speakers into one run, so each step process loads the Whisper model once for
# many partitions instead of once per speaker. Every speaker-partitioned asset uses this same policy,
# so a backfill's runs cover all four assets.
speaker_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=25)
