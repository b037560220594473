"""The batching both sibling steps share: every readable file once, and a cheap step yields the CPU."""

import logging
import os
import signal
import sys
import threading
import time

import pandas as pd
import pytest

from audio_assets.assets.audio_files import list_speakers
from audio_assets.assets.batching import at_cpu_priority, process_files
from audio_assets.resources import AudioLibrary, Checkpoint, SavedRows

log = logging.getLogger("test")


pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def listings(tone_root):
    library = AudioLibrary(root=str(tone_root))
    return library, list_speakers(library, ["p900", "p901"], log)


def cpu_priority_of(thread: int) -> tuple[int, int | None]:
    """(niceness, scheduling class) of a thread; the class only where the OS exposes it (Linux)."""
    policy = os.sched_getscheduler(thread) if hasattr(os, "sched_getscheduler") else None
    return os.getpriority(os.PRIO_PROCESS, thread), policy


def measure(library, listings, priority):
    """process_files with a work function that records each batch's size and its thread's CPU priority."""
    seen = []

    def work(clips):
        seen.append((len(clips), cpu_priority_of(threading.get_native_id())))
        return [{"samples": len(clip)} for clip in clips]

    tables, _ = at_cpu_priority(
        priority, process_files, log, "test", listings, library, 4, work, ["samples"], "f", SavedRows({})
    )
    return tables, seen


def test_batches_span_speakers_and_every_file_is_done_once(listings):
    library, by_speaker = listings
    tables, seen = measure(library, by_speaker, priority="normal")
    assert [size for size, _ in seen] == [4, 2]  # 6 files of 2 speakers in batches of 4
    for speaker, table in tables.items():
        assert list(table["id"]) == sorted(by_speaker[speaker].files["id"])
        assert table["error"].isna().all() and (table["samples"] > 16_000).all()


linux = pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is Linux")
at_normal_priority = pytest.mark.skipif(
    sys.platform != "linux" or cpu_priority_of(0)[0] >= 19 or cpu_priority_of(0)[1] != os.SCHED_OTHER,
    reason="needs a caller at normal scheduling class and below nice 19, or lowering it would show nothing",
)
NICE_19 = (19, getattr(os, "SCHED_OTHER", None))
IDLE = (None, getattr(os, "SCHED_IDLE", None))  # None: the caller's niceness, which SCHED_IDLE ignores


@at_normal_priority
@pytest.mark.parametrize(("priority", "expected"), [("low", NICE_19), ("idle", IDLE)])
def test_a_lower_priority_applies_to_the_work_only(listings, priority, expected):
    library, by_speaker = listings
    own = cpu_priority_of(threading.get_native_id())
    plain, at_normal = measure(library, by_speaker, priority="normal")
    lowered, at_low = measure(library, by_speaker, priority=priority)
    assert {state for _, state in at_normal} == {own}
    nice, policy = expected
    assert {state for _, state in at_low} == {(own[0] if nice is None else nice, policy)}
    assert cpu_priority_of(threading.get_native_id()) == own  # the caller is unchanged
    for speaker in plain:
        assert plain[speaker].equals(lowered[speaker])


@at_normal_priority
def test_idle_falls_back_to_nice_19_where_the_idle_class_is_refused(listings, monkeypatch):
    def refuse(*args):
        raise PermissionError("not allowed here")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    library, by_speaker = listings
    _, seen = measure(library, by_speaker, priority="idle")
    assert {state for _, state in seen} == {NICE_19}


@linux
def test_an_interrupted_step_stops_its_low_priority_worker_after_the_current_batch(listings):
    """Dagster cancels a step by interrupting its main thread, which waits for the low-priority worker:
    the worker must stop after its current batch, not finish the whole step first."""
    library, by_speaker = listings
    calls = []

    def slow(clips):
        calls.append(len(clips))
        time.sleep(0.2)
        return [{"samples": len(clip)} for clip in clips]

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # during the second of 6 one-file batches
    try:
        with pytest.raises(KeyboardInterrupt):
            at_cpu_priority(
                "idle", process_files, log, "test", by_speaker, library, 1, slow, ["samples"], "f", SavedRows({})
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    done = len(calls)
    assert done <= 3, f"the worker went on for {done} of 6 batches"
    time.sleep(0.5)
    assert len(calls) == done  # and nothing runs after the step has given up


def test_unchanged_content_with_the_same_settings_is_reused(listings):
    """Rows come back from the previous table by content hash and settings fingerprint; anything else
    (new settings, a table from a version without a column) is computed again."""
    library, by_speaker = listings
    computed = []

    def work(clips):
        computed.extend(len(c) for c in clips)
        return [{"samples": len(clip)} for clip in clips]

    first, _ = process_files(log, "test", by_speaker, library, 4, work, ["samples"], "v1", SavedRows({}))
    assert len(computed) == 6
    again, stats = process_files(log, "test", by_speaker, library, 4, work, ["samples"], "v1", SavedRows(first))
    assert len(computed) == 6 and all(again[s].equals(first[s]) for s in first)
    assert {s: (st["computed"], st["reused"]) for s, st in stats.items()} == {"p900": (0, 3), "p901": (0, 3)}
    process_files(log, "test", by_speaker, library, 4, work, ["samples"], "v2", SavedRows(first))
    assert len(computed) == 12  # other settings: nothing reused
    older = {s: t.drop(columns="samples") for s, t in first.items()}
    process_files(log, "test", by_speaker, library, 4, work, ["samples"], "v1", SavedRows(older))
    assert len(computed) == 18  # a table without the column cannot give it


def test_a_step_saves_checkpoints_on_the_way_and_its_retry_reuses_them(listings):
    """Every batch's new rows reach the checkpoint (interval 0); a step that ends early by an exception
    saves what it has; the retry, given those rows as its previous tables, computes only the rest."""
    library, by_speaker = listings
    saved: dict[str, pd.DataFrame] = {}
    sizes: list[int] = []

    def save(speaker, table):
        saved[speaker] = table
        sizes.append(sum(len(t) for t in saved.values()))

    computed = []

    def work(clips):
        computed.extend(len(c) for c in clips)
        return [{"samples": len(clip)} for clip in clips]

    tables, _ = process_files(
        log, "test", by_speaker, library, 1, work, ["samples"], "f", SavedRows({}, Checkpoint(save, 0))
    )
    assert sizes == [1, 2, 3, 4, 5, 6]  # one save per one-file batch, each with every row so far
    assert all(saved[s].sort_values("id", ignore_index=True).equals(tables[s]) for s in tables)

    class Killed(BaseException):
        pass

    def dies_at_the_fourth_file(clips):
        if len(computed) == 9:
            raise Killed
        return work(clips)

    saved.clear()
    with pytest.raises(Killed):  # an hour between saves: only the save on the way out
        process_files(log, "test", by_speaker, library, 1, dies_at_the_fourth_file, ["samples"], "g",
                      SavedRows({}, Checkpoint(save, 3600)))  # fmt: skip
    assert sum(len(t) for t in saved.values()) == 3 and sizes[-1] == 3

    computed.clear()
    retried, stats = process_files(log, "test", by_speaker, library, 1, work, ["samples"], "g", SavedRows(saved))
    assert len(computed) == 3 and sum(st["reused"] for st in stats.values()) == 3
    assert all(retried[s].equals(tables[s].assign(settings="g")) for s in tables)
