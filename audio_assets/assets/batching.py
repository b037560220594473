"""What the two sibling steps share: stream a speaker's readable files through a model in batches.

Audio is decoded batch by batch, so memory stays bounded whatever the folder size. Each file's bytes
are checked against the listing's sha256, so every step works on exactly the listed content. A batch
that fails is retried file by file, so one bad file becomes one error row and costs nothing else.
Results of unchanged files are reused from the previous materialisation (same content, same settings).
"""

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    fingerprint: str,
    previous: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, float | int]]:
    """Apply ``work`` to every readable file of ``listing``; one row per file, sorted by id.

    Rows hold ``id``, ``sha256``, the fields ``work`` returns, ``settings`` (the ``fingerprint`` of
    the model settings) and ``error`` (None when fine). A file whose content (sha256) already has a good
    row with the same fingerprint in ``previous`` is not computed again: its row is reused, so adding
    one file to a folder of 400 computes one file. The next batch is read and decoded in a background
    thread while the model works on the current one.
    Returns the table and throughput figures for the materialisation's metadata.
    """
    todo = listing[listing["error"].isna()].sort_values(["duration_s", "id"])  # similar lengths batch well
    reusable = _reusable(previous, fingerprint, columns)
    rows: list[dict[str, Any]] = []
    records = []
    for rec in todo[["id", "sha256", "duration_s"]].itertuples(index=False):
        if rec.sha256 in reusable:
            rows.append(
                {"id": rec.id, "sha256": rec.sha256, **reusable[rec.sha256], "settings": fingerprint, "error": None}
            )
        else:
            records.append(rec)
    progress = Progress(log, what, len(records))
    start = time.perf_counter()
    computed_seconds = 0.0
    batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        pending = prefetch.submit(_load_batch, library, batches[0]) if batches else None
        for index, batch in enumerate(batches):
            loaded = pending.result()
            if index + 1 < len(batches):
                pending = prefetch.submit(_load_batch, library, batches[index + 1])
            good = [(rec, clip) for rec, clip in loaded if not isinstance(clip, BaseException)]
            for rec, clip in loaded:
                if isinstance(clip, BaseException):
                    rows.append({"id": rec.id, "sha256": rec.sha256, "error": f"unreadable audio: {_error(clip)}"})
            for (rec, clip), result in zip(good, _run(work, [clip for _, clip in good])):
                if isinstance(result, BaseException):
                    rows.append({"id": rec.id, "sha256": rec.sha256, "error": _error(result)})
                else:
                    rows.append({"id": rec.id, "sha256": rec.sha256, **result, "settings": fingerprint, "error": None})
                    computed_seconds += len(clip) / audio.SAMPLE_RATE
            progress.advance(len(batch))
    wall = time.perf_counter() - start
    table = pd.DataFrame(rows, columns=["id", "sha256", *columns, "settings", "error"]).sort_values(
        "id", ignore_index=True
    )
    table.attrs = dict(listing.attrs)  # a speaker-level problem (folder_error) travels downstream
    done = int(table["error"].isna().sum())
    computed = done - sum(1 for r in rows if r["error"] is None and r["sha256"] in reusable)
    stats = {
        "files": done,
        "computed": computed,
        "reused": done - computed,
        "errors": len(table) - done,
        "audio_seconds": round(float(todo["duration_s"].sum()), 3),
        "computed_audio_seconds": round(computed_seconds, 3),
        "wall_seconds": round(wall, 3),
        "files_per_second": round(computed / wall, 3) if wall > 0 else 0.0,
        "audio_seconds_per_wall_second": round(computed_seconds / wall, 3) if wall > 0 else 0.0,
    }
    return table, stats


def _load_batch(library: AudioLibrary, batch) -> list[tuple[Any, np.ndarray | BaseException]]:
    loaded = []
    for rec in batch:
        try:
            loaded.append((rec, _load(library, rec.id, rec.sha256)))
        except Exception as error:
            loaded.append((rec, error))
    return loaded


def _reusable(previous: pd.DataFrame | None, fingerprint: str, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """sha256 → result fields of the previous table's good rows made with the same settings."""
    if previous is None or "settings" not in previous.columns:
        return {}
    good = previous[previous["error"].isna() & (previous["settings"] == fingerprint)]
    return {row["sha256"]: {c: row[c] for c in columns} for row in good.to_dict("records")}


def _run(work: BatchWork, clips: list[np.ndarray]) -> list[dict[str, Any] | BaseException]:
    if not clips:
        return []
    try:
        return list(work(clips))
    except Exception as error:
        if len(clips) == 1:
            return [error]
    return [_run(work, [clip])[0] for clip in clips]  # isolate the file that broke the batch
