"""Discrete audio tokens of every file (BEST-RQ); a sibling of ``transcriptions``."""

import dagster as dg
import numpy as np
import pandas as pd

from audio_assets.assets.batching import process_files
from audio_assets.io import SpeakerParquetIOManager
from audio_assets.partitions import speaker_backfill_policy, speakers
from audio_assets.resources import AudioLibrary, BestRqTokenizer

COLUMNS = ["token_ids", "n_tokens"]


@dg.asset(
    partitions_def=speakers,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    pool="gpu",
    group_name="speech_dataset",
    kinds={"pytorch", "parquet"},
)
def tokens(
    context: dg.AssetExecutionContext,
    tokenizer: BestRqTokenizer,
    audio_library: AudioLibrary,
    parquet_io_manager: dg.ResourceParam[SpeakerParquetIOManager],
    audio_files: dict[str, pd.DataFrame],
) -> dict[str, pd.DataFrame]:
    """Token ids of every readable file, 25 per second of audio with the default settings."""
    quantizer = tokenizer.quantizer()

    def work(clips):
        return [{"token_ids": ids, "n_tokens": len(ids)} for ids in quantizer.encode(clips)]

    tables = {}
    for speaker, listing in sorted(audio_files.items()):
        table, stats = process_files(
            context.log,
            f"tokens [{speaker}]",
            listing,
            audio_library,
            tokenizer.batch_size,
            work,
            COLUMNS,
            quantizer.settings_fingerprint,
            parquet_io_manager.previous(context.asset_key, speaker),
        )
        n_tokens = int(table["n_tokens"].fillna(0).sum())
        distinct = len(np.unique(np.concatenate([np.asarray(t) for t in table["token_ids"].dropna()] or [[]])))
        context.add_asset_metadata(
            {
                **stats,
                "tokens": n_tokens,
                "tokens_per_audio_second": round(n_tokens / stats["audio_seconds"], 3)
                if stats["audio_seconds"]
                else 0.0,
                "distinct_codes": distinct,
                "codebook_fingerprint": quantizer.fingerprint,
                "device": quantizer.device,
            },
            partition_key=speaker,
        )
        tables[speaker] = table
    return tables
