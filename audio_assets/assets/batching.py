"""What the two sibling steps share: stream a speaker's readable files through a model in batches.

Audio is decoded batch by batch, so memory stays bounded whatever the folder size. Each file's bytes
are checked against the listing's sha256, so every step works on exactly the listed content. A batch
that fails is retried file by file, so one bad file becomes one error row and costs nothing else.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audio_assets.progress import Progress
from audio_assets.resources import AudioLibrary
from audio_assets.speech import audio

BatchWork = Callable[[Sequence[np.ndarray]], Sequence[dict[str, Any]]]


def _load(library: AudioLibrary, file_id: str, sha256: str) -> np.ndarray:
    data = library.read_bytes(file_id)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError("file changed since it was listed; rematerialise audio_files")
    return audio.decode(data)


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def process_files(
    log: logging.Logger,
    what: str,
    listing: pd.DataFrame,
    library: AudioLibrary,
    batch_size: int,
    work: BatchWork,
    columns: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, float | int]]:
    """Apply ``work`` to every readable file of ``listing``; one row per file, sorted by id.

    Rows hold ``id``, ``sha256``, the fields ``work`` returns, and ``error`` (None when fine).
    Returns the table and throughput figures for the materialisation's metadata.
    """
    todo = listing[listing["error"].isna()].sort_values(["duration_s", "id"])  # similar lengths batch well
    progress = Progress(log, what, len(todo))
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    audio_seconds = 0.0
    records = list(todo[["id", "sha256"]].itertuples(index=False))
    for first in range(0, len(records), batch_size):
        batch = records[first : first + batch_size]
        loaded, clips = [], []
        for rec in batch:
            try:
                clips.append(_load(library, rec.id, rec.sha256))
                loaded.append(rec)
            except Exception as error:
                rows.append({"id": rec.id, "sha256": rec.sha256, "error": f"unreadable audio: {_error(error)}"})
        for rec, clip, result in zip(loaded, clips, _run(work, clips)):
            if isinstance(result, BaseException):
                rows.append({"id": rec.id, "sha256": rec.sha256, "error": _error(result)})
            else:
                rows.append({"id": rec.id, "sha256": rec.sha256, **result, "error": None})
                audio_seconds += len(clip) / audio.SAMPLE_RATE
        progress.advance(len(batch))
    wall = time.perf_counter() - start
    table = pd.DataFrame(rows, columns=["id", "sha256", *columns, "error"]).sort_values("id", ignore_index=True)
    table.attrs = dict(listing.attrs)  # a speaker-level problem (folder_error) travels downstream
    done = int(table["error"].isna().sum())
    stats = {
        "files": done,
        "errors": len(table) - done,
        "audio_seconds": round(audio_seconds, 3),
        "wall_seconds": round(wall, 3),
        "files_per_second": round(done / wall, 3) if wall > 0 else 0.0,
        "audio_seconds_per_wall_second": round(audio_seconds / wall, 3) if wall > 0 else 0.0,
    }
    return table, stats


def _run(work: BatchWork, clips: list[np.ndarray]) -> list[dict[str, Any] | BaseException]:
    if not clips:
        return []
    try:
        return list(work(clips))
    except Exception as error:
        if len(clips) == 1:
            return [error]
    return [_run(work, [clip])[0] for clip in clips]  # isolate the file that broke the batch
