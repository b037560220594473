"""What the two sibling steps share: stream the speakers' readable files through a model in batches.

Audio is decoded batch by batch, so memory stays bounded whatever the folder size. Each file's bytes
are checked against the listing's sha256, so every step works on exactly the listed content. A batch
that fails is retried file by file, so one bad file becomes one error row and costs nothing else.
Results of unchanged files are reused from the previous materialisation (same content, same settings),
and from the checkpoints that a step which did not finish saved on its way.
"""

import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from audio_assets.assets.progress import Progress
from audio_assets.execution.priority import CpuPriority, lower_thread_priority
from audio_assets.resources import AudioLibrary, Checkpoint, SavedRows, SpeakerListing
from audio_assets.speech import decoding

BatchWork = Callable[[Sequence[np.ndarray]], Sequence[dict[str, Any]]]
T = TypeVar("T")


def _load(library: AudioLibrary, file_id: str, sha256: str, sample_rate: int) -> np.ndarray:
    data = library.read_bytes(file_id)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError("file changed since it was listed; rematerialise audio_files")
    return decoding.decode(data, sample_rate)


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass
class WorkPlan:
    """What a step has to do: per speaker the rows it can reuse, and the batches of files to compute."""

    rows: dict[str, list[dict[str, Any]]]  # reused rows so far; computed rows are added to them
    reused: dict[str, int]
    batches: list[list[tuple[str, Any]]]  # (speaker, listing record) per file
    columns: list[str]  # of the tables: id, sha256, the work's fields, settings, error

    def table(self, speaker: str, good_only: bool = False) -> pd.DataFrame:
        rows = [row for row in self.rows[speaker] if row.get("error") is None] if good_only else self.rows[speaker]
        return pd.DataFrame(rows, columns=self.columns)

    @property
    def files_to_compute(self) -> int:
        return sum(len(batch) for batch in self.batches)


def plan_work(
    listings: dict[str, SpeakerListing],
    previous: dict[str, pd.DataFrame | None],
    fingerprint: str,
    columns: Sequence[str],
    batch_size: int,
) -> WorkPlan:
    """Reuse what the previous tables already hold for this content and these settings; batch the rest
    across speakers, sorted by duration (similar lengths batch well)."""
    rows: dict[str, list[dict[str, Any]]] = {speaker: [] for speaker in listings}
    reused: dict[str, int] = dict.fromkeys(listings, 0)
    todo = []
    for speaker, listing in listings.items():
        reusable = _reusable(previous.get(speaker), fingerprint, columns)
        files = listing.files
        for rec in files[files["error"].isna()][["id", "sha256", "duration_s"]].itertuples(index=False):
            if rec.sha256 in reusable:
                rows[speaker].append(
                    {"id": rec.id, "sha256": rec.sha256, **reusable[rec.sha256], "settings": fingerprint}
                )
                reused[speaker] += 1
            else:
                todo.append((rec.duration_s, speaker, rec))
    todo.sort(key=lambda item: (item[0], item[1], item[2].id))
    batches = [
        [(speaker, rec) for _, speaker, rec in todo[i : i + batch_size]] for i in range(0, len(todo), batch_size)
    ]
    return WorkPlan(rows, reused, batches, ["id", "sha256", *columns, "settings", "error"])


def compute(
    plan: WorkPlan,
    library: AudioLibrary,
    work: BatchWork,
    fingerprint: str,
    log: logging.Logger,
    what: str,
    sample_rate: int = decoding.SAMPLE_RATE,
    stop: threading.Event | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict[str, float]:
    """Run ``work`` over the plan's batches of clips decoded at ``sample_rate``, adding one row per file
    to ``plan.rows``; the next batch is read and decoded in a background thread meanwhile. A file that
    cannot be read, or that breaks its batch, becomes one error row. ``stop``, once set, ends the work
    after the current batch. With a ``checkpoint``, the good rows of each speaker that got new ones are
    saved on the way, and when the work ends early by an exception. Returns the seconds of audio
    computed per speaker."""
    rows, batches = plan.rows, plan.batches
    computed_seconds: dict[str, float] = dict.fromkeys(rows, 0.0)
    progress = Progress(log, what, plan.files_to_compute)
    saver = _CheckpointSaver(checkpoint, plan)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        pending = prefetch.submit(_load_batch, library, batches[0], sample_rate) if batches else None
        try:
            for index, batch in enumerate(batches):
                if stop is not None and stop.is_set():
                    raise RuntimeError(f"{what}: stopped after {index} of {len(batches)} batches")
                loaded = pending.result()
                if index + 1 < len(batches):
                    pending = prefetch.submit(_load_batch, library, batches[index + 1], sample_rate)
                good = []
                for (speaker, rec), clip in loaded:
                    if isinstance(clip, BaseException):
                        rows[speaker].append(
                            {"id": rec.id, "sha256": rec.sha256, "error": f"unreadable audio: {_error(clip)}"}
                        )
                    else:
                        good.append((speaker, rec, clip))
                for (speaker, rec, clip), result in zip(good, _run(work, [clip for *_, clip in good])):
                    if isinstance(result, BaseException):
                        rows[speaker].append({"id": rec.id, "sha256": rec.sha256, "error": _error(result)})
                    else:
                        rows[speaker].append({"id": rec.id, "sha256": rec.sha256, **result, "settings": fingerprint})
                        computed_seconds[speaker] += len(clip) / sample_rate
                        saver.changed(speaker)
                progress.advance(len(batch))
                saver.maybe_save()
        except BaseException:
            saver.save()  # what is done so far, for the retry
            raise
    return computed_seconds


class _CheckpointSaver:
    """Saves the good rows of the speakers that got new ones, at most every ``every_seconds``."""

    def __init__(self, checkpoint: Checkpoint | None, plan: WorkPlan):
        self.checkpoint, self.plan = checkpoint, plan
        self.pending: set[str] = set()
        self.last = time.monotonic()

    def changed(self, speaker: str) -> None:
        if self.checkpoint is not None:
            self.pending.add(speaker)

    def maybe_save(self) -> None:
        if self.pending and time.monotonic() - self.last >= self.checkpoint.every_seconds:
            self.save()

    def save(self) -> None:
        for speaker in sorted(self.pending):
            self.checkpoint.save(speaker, self.plan.table(speaker, good_only=True))
        self.pending.clear()
        self.last = time.monotonic()


def assemble(
    listings: dict[str, SpeakerListing],
    plan: WorkPlan,
    computed_seconds: dict[str, float],
    wall: float,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float | int]]]:
    """Per speaker, the table (one row per readable file, sorted by id) and its metadata figures."""
    step_seconds = sum(computed_seconds.values())
    tables, stats = {}, {}
    for speaker, listing in listings.items():
        files = listing.files
        table = plan.table(speaker).sort_values("id", ignore_index=True)
        done = int(table["error"].isna().sum())
        tables[speaker] = table
        stats[speaker] = {
            "files": done,
            "computed": done - plan.reused[speaker],
            "reused": plan.reused[speaker],
            "errors": len(table) - done,
            "audio_seconds": round(float(files.loc[files["error"].isna(), "duration_s"].sum()), 3),
            "computed_audio_seconds": round(computed_seconds[speaker], 3),
            # the step's own figures: a step may batch several speakers together
            "wall_seconds": round(wall, 3),
            "files_per_second": round(plan.files_to_compute / wall, 3) if wall > 0 else 0.0,
            "audio_seconds_per_wall_second": round(step_seconds / wall, 3) if wall > 0 else 0.0,
        }
    return tables, stats


def process_files(
    log: logging.Logger,
    what: str,
    listings: dict[str, SpeakerListing],
    library: AudioLibrary,
    batch_size: int,
    work: BatchWork,
    columns: Sequence[str],
    fingerprint: str,
    saved: SavedRows,
    sample_rate: int = decoding.SAMPLE_RATE,
    stop: threading.Event | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float | int]]]:
    """Apply ``work`` to every readable file of every speaker's listing: plan (reuse), compute
    (batches, saving to ``saved.checkpoint`` on the way), assemble (tables and figures). Rows hold
    ``id``, ``sha256``, the fields ``work`` returns, ``settings`` (the ``fingerprint`` of the model
    settings) and ``error`` (None when fine). A file whose content already has a good row with the
    same fingerprint in the speaker's ``saved.previous`` rows is not computed again: adding one file
    to a folder of 400 computes one file."""
    plan = plan_work(listings, saved.previous, fingerprint, columns, batch_size)
    start = time.perf_counter()
    computed_seconds = compute(plan, library, work, fingerprint, log, what, sample_rate, stop, saved.checkpoint)
    return assemble(listings, plan, computed_seconds, time.perf_counter() - start)


def at_cpu_priority(priority: CpuPriority, function: Callable[..., T], *args: Any) -> T:
    """``function(*args, stop=...)`` in a thread of lower CPU priority (Linux; elsewhere, or at
    "normal", in this thread): a cheap step that shares the cores with an expensive sibling then takes
    the CPU time the sibling leaves idle, instead of an equal share of it. If this thread is
    interrupted (Dagster cancelling the step), ``stop`` is set and the worker ends after its batch."""
    stop = threading.Event()
    if priority == "normal" or sys.platform != "linux":
        return function(*args, stop=stop)
    with ThreadPoolExecutor(1, "low-priority", initializer=lower_thread_priority, initargs=(priority,)) as pool:
        future = pool.submit(function, *args, stop=stop)
        try:
            return future.result()
        except BaseException:
            stop.set()
            raise


def _load_batch(library: AudioLibrary, batch, sample_rate: int) -> list[tuple[Any, np.ndarray | BaseException]]:
    loaded = []
    for speaker, rec in batch:
        try:
            loaded.append(((speaker, rec), _load(library, rec.id, rec.sha256, sample_rate)))
        except Exception as error:
            loaded.append(((speaker, rec), error))
    return loaded


def _reusable(previous: pd.DataFrame | None, fingerprint: str, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """sha256 → result fields of the previous table's good rows made with the same settings."""
    if previous is None or not {"settings", *columns} <= set(previous.columns):
        return {}  # nothing yet, or made by a version that did not have these columns
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
