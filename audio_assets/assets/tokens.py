"""Discrete audio tokens of every file (BEST-RQ or EnCodec); a sibling of ``transcriptions``."""

import dagster as dg
import numpy as np
import pandas as pd

from audio_assets.assets.batching import at_cpu_priority, process_files
from audio_assets.assets.table_metadata import model_step_schema, table_metadata
from audio_assets.execution import GPU_STEP_TAGS, MODEL_STEP_RETRY
from audio_assets.partitions import speaker_backfill_policy, speaker_partitions
from audio_assets.resources import AudioLibrary, AudioTokenizer, SpeakerListing, SpeakerParquetIOManager

COLUMNS = ["token_ids", "n_tokens"]
SCHEMA = model_step_schema(
    "tokens",
    token_ids=("list<int>", "discrete audio token ids, in the tokeniser's layout"),
    n_tokens=("int", "number of tokens"),
)


@dg.asset(
    partitions_def=speaker_partitions,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    pool="tokenizer",
    op_tags=GPU_STEP_TAGS,
    retry_policy=MODEL_STEP_RETRY,
    group_name="speech_dataset",
    kinds={"pytorch", "parquet"},
)
def tokens(
    context: dg.AssetExecutionContext,
    tokenizer: AudioTokenizer,
    audio_library: AudioLibrary,
    parquet_io_manager: dg.ResourceParam[SpeakerParquetIOManager],
    audio_files: dict[str, SpeakerListing],
) -> dict[str, pd.DataFrame]:
    """Token ids of every readable file: BEST-RQ (25 per second of audio with the default settings) or
    EnCodec codes (75 frames per second, one id per codebook and frame when interleaved)."""
    tokenizer.apply_cpu_threads()
    encoder, shape = tokenizer.encoder(), tokenizer.shape()

    def work(clips):
        return [{"token_ids": ids, "n_tokens": len(ids)} for ids in encoder.encode(clips)]

    tables, stats = at_cpu_priority(
        tokenizer.cpu_priority,
        process_files,
        context.log,
        "tokens",
        audio_files,
        audio_library,
        tokenizer.batch_size,
        work,
        COLUMNS,
        encoder.settings_fingerprint,
        parquet_io_manager.saved_rows(context.asset_key, audio_files),
        encoder.sample_rate,
    )
    for speaker, table in sorted(tables.items()):
        n_tokens = int(table["n_tokens"].fillna(0).sum())
        seconds = stats[speaker]["audio_seconds"]
        distinct = len(np.unique(np.concatenate([np.asarray(t) for t in table["token_ids"].dropna()] or [[]])))
        context.add_asset_metadata(
            {
                **stats[speaker],
                "tokens": n_tokens,
                "tokens_per_audio_second": round(n_tokens / seconds, 3) if seconds else 0.0,
                "distinct_codes": distinct,
                **shape.metadata(),
                "settings": encoder.settings_fingerprint,
                "device": encoder.device,
                **table_metadata(len(table), SCHEMA),
            },
            partition_key=speaker,
        )
    return tables
