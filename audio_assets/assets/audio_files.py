"""The file set of a speaker, fixed once so both sibling steps and the merge agree on it."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from audio_assets.partitions import speaker_backfill_policy, speakers
from audio_assets.progress import Progress
from audio_assets.resources import AudioLibrary, BestRqTokenizer, WhisperResource
from audio_assets.resources.audio import AudioFile, UnsafePath
from audio_assets.speech import audio

COLUMNS = [
    "id",
    "size_bytes",
    "sha256",
    "duration_s",
    "sample_rate",
    "channels",
    "frames",
    "format",
    "subtype",
    "peak",
    "rms_dbfs",
    "reference_text",
    "error",
]


def describe(library: AudioLibrary, f: AudioFile) -> dict:
    """The listing row of one file: its figures, or the reason it cannot be used."""
    row = dict.fromkeys(COLUMNS)
    row["id"] = f.id
    row["error"] = f.problem
    if f.problem is None:
        try:
            data = library.read_bytes(f.id)
            row["size_bytes"] = len(data)
            info = audio.inspect(data)
            row.update(
                sha256=info.sha256,
                duration_s=info.duration_s,
                sample_rate=info.sample_rate,
                channels=info.channels,
                frames=info.frames,
                format=info.format,
                subtype=info.subtype,
                peak=info.peak,
                rms_dbfs=info.rms_dbfs,
                reference_text=library.reference_text(f.id),
            )
        except audio.BadAudio as error:
            row["error"] = str(error)
        except OSError as error:
            row["error"] = f"cannot read the file: {error}"
    return row


def list_speaker(library: AudioLibrary, speaker: str, log) -> pd.DataFrame:
    """One row per audio file; unusable files get an ``error`` and no figures.

    If the folder itself is unavailable, an empty table saying why in ``attrs["folder_error"]``, so one
    bad speaker never fails the others of a run.
    """
    try:
        files = library.list_files(speaker)
    except (OSError, UnsafePath) as error:
        log.error(f"speaker {speaker!r}: {error}; nothing is processed and its previous results are kept")
        table = pd.DataFrame(columns=COLUMNS)
        table.attrs["folder_error"] = str(error)
        return table
    progress = Progress(log, f"audio_files [{speaker}]", len(files))
    rows = []
    # reading, hashing and decoding release the GIL: a thread per core lists twice as fast on 2 cores
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="listing") as pool:
        for row in pool.map(lambda f: describe(library, f), files):
            rows.append(row)
            progress.advance(1)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.astype({"size_bytes": "Int64", "sample_rate": "Int64", "channels": "Int64", "frames": "Int64"})


@dg.asset(
    partitions_def=speakers,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    group_name="speech_dataset",
    kinds={"parquet"},
)
def audio_files(
    context: dg.AssetExecutionContext,
    audio_library: AudioLibrary,
    whisper: WhisperResource,
    tokenizer: BestRqTokenizer,
) -> dict[str, pd.DataFrame]:
    """Every audio file of the speaker folder: id, size, sha256, duration, rate, channels, loudness,
    reference text; unusable files with the reason. Decodes each file once, so truncation shows here.

    ``whisper`` and ``tokenizer`` are requested only so that their checks (model available offline,
    CUDA present when asked for) fail the run here, before any file is read.
    """
    tables = {}
    for speaker in sorted(context.partition_keys):
        start = time.perf_counter()
        table = list_speaker(audio_library, speaker, context.log)
        readable = table[table["error"].isna()]
        context.add_asset_metadata(
            {
                **({"folder_error": table.attrs["folder_error"]} if "folder_error" in table.attrs else {}),
                "files": len(table),
                "unusable": len(table) - len(readable),
                "audio_seconds": round(float(readable["duration_s"].sum()), 3),
                "bytes": int(readable["size_bytes"].sum()),
                "with_reference_text": int(readable["reference_text"].notna().sum()),
                "wall_seconds": round(time.perf_counter() - start, 3),
                "sample_rates": ", ".join(str(r) for r in sorted(readable["sample_rate"].unique())),
            },
            partition_key=speaker,
        )
        tables[speaker] = table
    return tables
