"""Progress lines in the run log while a long step works, so the UI shows it moving."""

from __future__ import annotations

import logging
import time


class Progress:
    """Logs ``done/total, rate, time left`` at most every ``every_seconds`` and once at the end."""

    def __init__(self, log: logging.Logger, what: str, total: int, every_seconds: float = 10.0):
        self.log, self.what, self.total, self.every = log, what, total, every_seconds
        self.done = 0
        self.start = self.last = time.perf_counter()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        percent = 100.0 * self.done / self.total if self.total else 100.0
        self.log.info(
            f"{self.what}: {self.done}/{self.total} files ({percent:.0f}%), {rate:.2f} files/s, ~{left:.0f} s left"
        )
