"""Whisper transcripts of every file, batched across files; a sibling of ``tokens``."""

import dataclasses

import dagster as dg
import pandas as pd

from audio_assets.assets.batching import process_files
from audio_assets.assets.table_metadata import model_step_schema, table_metadata
from audio_assets.execution import GPU_STEP_TAGS, MODEL_STEP_RETRY
from audio_assets.partitions import speaker_backfill_policy, speaker_partitions
from audio_assets.resources import AudioLibrary, SpeakerListing, SpeakerParquetIOManager, WhisperResource
from audio_assets.speech import decoding

COLUMNS = ["text", "language", "language_probability", "avg_logprob", "no_speech_prob", "compression_ratio", "rms_dbfs"]
SCHEMA = model_step_schema(
    "transcript",
    text=("string", "Whisper's transcript"),
    language=("string", "language code, detected per file or as configured"),
    language_probability=("float", "the detector's probability for it; empty when not detected"),
    avg_logprob=("float", "mean log-probability of the decoded tokens"),
    no_speech_prob=("float", "Whisper's probability that there is no speech"),
    compression_ratio=("float", "gzip ratio of the text; high values mean repetition loops"),
    rms_dbfs=("float", "loudness of the audio Whisper heard"),
)


@dg.asset(
    partitions_def=speaker_partitions,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    pool="whisper",
    op_tags=GPU_STEP_TAGS,
    retry_policy=MODEL_STEP_RETRY,
    group_name="speech_dataset",
    kinds={"pytorch", "parquet"},
)
def transcriptions(
    context: dg.AssetExecutionContext,
    whisper: WhisperResource,
    audio_library: AudioLibrary,
    parquet_io_manager: dg.ResourceParam[SpeakerParquetIOManager],
    audio_files: dict[str, SpeakerListing],
) -> dict[str, pd.DataFrame]:
    """Text of every readable file, with detected language, Whisper's confidence figures and the
    loudness of the audio it heard (the speech_has_transcript check tells silence from a miss by it).

    Files whose content was transcribed before with the same settings keep their transcript (also
    those a step that did not finish saved on its way); the model is loaded only if something is left
    to transcribe.
    """
    fingerprint = whisper.fingerprint()

    def work(clips):
        transcripts = whisper.engine().transcribe(clips)
        return [{**dataclasses.asdict(t), "rms_dbfs": decoding.loudness_dbfs(c)} for t, c in zip(transcripts, clips)]

    tables, stats = process_files(
        context.log,
        "transcriptions",
        audio_files,
        audio_library,
        whisper.batch_size,
        work,
        COLUMNS,
        fingerprint,
        parquet_io_manager.saved_rows(context.asset_key, audio_files),
    )
    computed = any(s["computed"] for s in stats.values())
    described = whisper.engine().description if computed else {"backend": whisper.backend, "model": whisper.model}
    for speaker in sorted(tables):
        context.add_asset_metadata(
            {
                **stats[speaker],
                **described,
                "settings": fingerprint,
                **language_metadata(tables[speaker], whisper.language),
                **table_metadata(len(tables[speaker]), SCHEMA),
            },
            partition_key=speaker,
        )
    return tables


def language_metadata(table: pd.DataFrame, configured: str | None) -> dict[str, dg.MetadataValue]:
    """How many files came out in each language, and how sure the detector was."""
    good = table[table["error"].isna()]
    detected = good["language_probability"].dropna()
    counts = {str(k): int(v) for k, v in good["language"].value_counts().sort_index().items()}
    metadata: dict[str, dg.MetadataValue] = {"languages": dg.MetadataValue.json(counts)}
    if configured:
        metadata["language_detection"] = dg.MetadataValue.text(f"off: language set to {configured}")
    elif len(detected):
        metadata["language_detection"] = dg.MetadataValue.text("per file")
        metadata["language_probability_min"] = dg.MetadataValue.float(round(float(detected.min()), 4))
    elif len(good):
        metadata["language_detection"] = dg.MetadataValue.text("off: English-only model")
    return metadata
