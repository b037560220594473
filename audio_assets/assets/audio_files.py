"""The file set of a speaker, fixed once so both sibling steps and the merge agree on it."""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from audio_assets.assets.progress import Progress
from audio_assets.assets.table_metadata import FILE_ID, schema, table_metadata
from audio_assets.partitions import speaker_backfill_policy, speaker_partitions
from audio_assets.resources import AudioLibrary, AudioTokenizer, WhisperResource
from audio_assets.resources.audio_library import AudioFile, AudioRootUnavailable, SpeakerListing, UnsafePath
from audio_assets.speech import decoding
from audio_assets.speech.models import ModelNotAvailable

SCHEMA = schema(
    id=FILE_ID,
    size_bytes=("int", "file size"),
    sha256=("string", "of the file's bytes: the steps after this one read exactly this content"),
    duration_s=("float", "seconds of audio"),
    sample_rate=("int", "Hz"),
    channels=("int", ""),
    frames=("int", "samples per channel"),
    format=("string", "container (FLAC, WAV, ...)"),
    subtype=("string", "sample encoding (PCM_16, ...)"),
    reference_text=("string", "reference transcript, where one exists"),
    error=("string", "why the file cannot be used; empty when it can"),
)
COLUMNS = [column.name for column in SCHEMA.columns]


def describe(library: AudioLibrary, f: AudioFile) -> dict:
    """The listing row of one file: its figures, or the reason it cannot be used."""
    row = dict.fromkeys(COLUMNS)
    row["id"] = f.id
    row["error"] = f.problem
    if f.problem is None:
        try:
            data = library.read_bytes(f.id)
            row["size_bytes"] = len(data)
            info = decoding.inspect(data)
            row.update(
                dataclasses.asdict(info), duration_s=info.duration_s, reference_text=library.reference_text(f.id)
            )
        except decoding.BadAudio as error:
            row["error"] = str(error)
        except OSError as error:
            row["error"] = f"cannot read the file: {error}"
    return row


def list_speakers(library: AudioLibrary, speakers: list[str], log) -> dict[str, SpeakerListing]:
    """Per speaker, one row per audio file; unusable files get an ``error`` and no figures.

    Files are described in ``library.listing_threads`` threads (one by default: on a local disk more
    threads only contend for the GIL the path checks hold). A folder that is itself unavailable gives
    no files and its ``folder_error``, so one bad speaker never fails the others of a run.
    """
    tables, files = {}, {}
    for speaker in speakers:
        try:
            files[speaker] = library.list_files(speaker)
        except (OSError, UnsafePath) as error:
            log.error(f"speaker {speaker!r}: {error}; nothing is processed and its previous results are kept")
            tables[speaker] = SpeakerListing(pd.DataFrame(columns=COLUMNS), folder_error=str(error))
    todo = [(speaker, f) for speaker, folder in files.items() for f in folder]
    rows: dict[str, list[dict]] = {speaker: [] for speaker in files}
    progress = Progress(log, "audio_files", len(todo))
    with ThreadPoolExecutor(library.listing_threads, thread_name_prefix="listing") as pool:  # no thread until used
        in_order = pool.map if library.listing_threads > 1 else map
        for (speaker, _), row in zip(todo, in_order(lambda item: describe(library, item[1]), todo)):
            rows[speaker].append(row)
            progress.advance(1)
    for speaker, speaker_rows in rows.items():
        table = pd.DataFrame(speaker_rows, columns=COLUMNS)
        table = table.astype({"size_bytes": "Int64", "sample_rate": "Int64", "channels": "Int64", "frames": "Int64"})
        tables[speaker] = SpeakerListing(table)
    return {speaker: tables[speaker] for speaker in speakers}


@dg.asset(
    partitions_def=speaker_partitions,
    backfill_policy=speaker_backfill_policy,
    io_manager_key="parquet_io_manager",
    group_name="speech_dataset",
    kinds={"parquet"},
)
def audio_files(
    context: dg.AssetExecutionContext,
    audio_library: AudioLibrary,
    whisper: WhisperResource,
    tokenizer: AudioTokenizer,
) -> dict[str, SpeakerListing]:
    """Every audio file of the speaker folder: id, size, sha256, duration, rate, channels, reference
    text; unusable files with the reason. Decodes the end of each file, so truncation shows here.

    First, the run's configuration is checked (AUDIO_ROOT there, the Whisper model on this machine,
    CUDA present when asked for): a run that cannot work fails here, before any file is read.
    """
    try:
        audio_library.root_path()
        whisper.preflight()
        tokenizer.preflight()
    except (AudioRootUnavailable, ModelNotAvailable, ValueError, RuntimeError) as error:
        # the run's one error: a configuration to fix, not a crash to debug (nor to retry)
        raise dg.Failure(description=str(error), allow_retries=False) from None
    start = time.perf_counter()
    tables = list_speakers(audio_library, sorted(context.partition_keys), context.log)
    wall = round(time.perf_counter() - start, 3)  # the step's: its speakers are listed together
    for speaker, listing in tables.items():
        table = listing.files
        readable = table[table["error"].isna()]
        context.add_asset_metadata(
            {
                **({"folder_error": listing.folder_error} if listing.folder_error else {}),
                "files": len(table),
                "unusable": len(table) - len(readable),
                "audio_seconds": round(float(readable["duration_s"].sum()), 3),
                "bytes": int(readable["size_bytes"].sum()),
                "with_reference_text": int(readable["reference_text"].notna().sum()),
                "wall_seconds": wall,
                "sample_rates": ", ".join(str(r) for r in sorted(readable["sample_rate"].unique())),
                **table_metadata(len(table), SCHEMA),
            },
            partition_key=speaker,
        )
    return tables
