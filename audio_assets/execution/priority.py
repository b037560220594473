"""CPU priority of one thread (Linux schedules threads, so niceness and the scheduling class are per
thread); threads and processes it starts inherit it."""

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Literal

# lowest last
CpuPriority = Literal["normal", "low", "idle"]


def lower_thread_priority(priority: CpuPriority) -> None:
    """Lower the calling thread's CPU priority. "low" is nice 19. "idle" is the SCHED_IDLE class, below
    nice 19: a sibling's thread that wakes up takes the core at once instead of waiting for this
    thread's time slice, which matters when the sibling's threads wait for each other. Neither locks
    the work out: the kernel weighs an idle-class thread 3 and a nice-19 one 15 against 1024 for a
    normal one. Where a class is not allowed (a sandbox), the next weaker one is used, down to normal."""
    thread = threading.get_native_id()
    if priority == "idle":
        with contextlib.suppress(OSError):
            os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
            return
    if priority != "normal":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, 19)


@contextlib.contextmanager
def thread_at_low_priority() -> Iterator[None]:
    """The calling thread at nice 19 for the block; then its niceness as before, where this process
    may raise it again (root, or RLIMIT_NICE)."""
    thread = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, thread)
    lower_thread_priority("low")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, before)
