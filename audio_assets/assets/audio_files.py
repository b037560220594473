"""The file set of a speaker, fixed once so both sibling steps and the merge agree on it."""

import time

import dagster as dg
import pandas as pd

from audio_assets.partitions import speaker_backfill_policy, speakers
from audio_assets.progress import Progress
from audio_assets.resources import AudioLibrary
from audio_assets.resources.audio import UnsafePath
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
    "error",
]


def list_speaker(library: AudioLibrary, speaker: str, log) -> pd.DataFrame:
    """The listing table; if the folder itself is unavailable, an empty table saying why in
    ``attrs["folder_error"]``, so that one bad speaker never fails the others of a run."""
    try:
        files = library.list_files(speaker)
    except (OSError, UnsafePath) as error:
        log.error(f"speaker {speaker!r}: {error}; nothing is processed and its previous results are kept")
        table = pd.DataFrame(columns=COLUMNS)
        table.attrs["folder_error"] = str(error)
        return table
    progress = Progress(log, f"audio_files [{speaker}]", len(files))
    rows = []
    for f in files:
        row = dict.fromkeys(COLUMNS)
        row["id"] = f.id
        row["error"] = f.problem
        if f.problem is None:
            try:
                data = library.read_bytes(f.id)
                row["size_bytes"] = len(data)
                info = audio.probe(data)
                row.update(
                    sha256=info.sha256,
                    duration_s=info.duration_s,
                    sample_rate=info.sample_rate,
                    channels=info.channels,
                    frames=info.frames,
                    format=info.format,
                    subtype=info.subtype,
                )
            except Exception as error:  # one unreadable file must not cost the others
                row["error"] = f"unreadable audio: {type(error).__name__}: {error}"
        rows.append(row)
        progress.advance(1)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"size_bytes": "Int64", "sample_rate": "Int64", "channels": "Int64", "frames": "Int64"})


@dg.asset(
    partitions_def=speakers,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    group_name="speech_dataset",
    kinds={"parquet"},
)
def audio_files(context: dg.AssetExecutionContext, audio_library: AudioLibrary) -> dict[str, pd.DataFrame]:
    """Every audio file of the speaker folder: id, size, sha256, duration, sample rate, channels."""
    tables = {}
    for speaker in sorted(context.partition_keys):
        start = time.perf_counter()
        table = list_speaker(audio_library, speaker, context.log)
        readable = table[table["error"].isna()]
        context.add_asset_metadata(
            {
                **({"folder_error": table.attrs["folder_error"]} if "folder_error" in table.attrs else {}),
                "files": len(table),
                "unreadable": len(table) - len(readable),
                "audio_seconds": float(readable["duration_s"].sum()),
                "bytes": int(readable["size_bytes"].sum()),
                "wall_seconds": round(time.perf_counter() - start, 3),
                "sample_rates": ", ".join(str(r) for r in sorted(readable["sample_rate"].unique())),
            },
            partition_key=speaker,
        )
        tables[speaker] = table
    return tables
