"""Progress of a long listing or export, logged every ~10 s and once at the end, never item by item."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

INTERVAL_SECONDS = 10.0


class Progress:
    """Counts what a task has done; :meth:`advance` is thread-safe and logs at most every ``interval``.

    A line reads ``export: 1,200 / 3,500 objects (34%), 58.9/s, ETA 39 s; 3 retries, 1 429s``;
    the retries and 429s come from ``stats`` (the client's per-endpoint counters).
    """

    def __init__(
        self,
        what: str,
        total: int | None,
        stats: Callable[[], Mapping[str, Mapping[str, float]]],
        logger: logging.Logger,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._stats = stats
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._started = self._last = clock()
        self._lock = threading.Lock()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            now = self._clock()
            if now - self._last < self._interval:
                return
            self._last = now
        self._log.info("%s", self.line())

    def line(self) -> str:
        """The current state as one line."""
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = self.done / elapsed
        counts = f"{self.done:,}" if self.total is None else f"{self.done:,} / {self.total:,}"
        text = f"{self.what}: {counts} objects"
        if self.total:
            text += f" ({self.done / self.total:.0%})"
        text += f", {rate:.1f}/s"
        if self.total is not None and rate > 0:
            text += f", ETA {(self.total - self.done) / rate:.0f} s"
        stats = self._stats()
        retries = sum(c.get("retries", 0) for c in stats.values())
        throttled = sum(c.get("http_429", 0) for c in stats.values())
        return f"{text}; {retries:.0f} retries, {throttled:.0f} 429s"

    def finish(self) -> None:
        """Log the one-line result."""
        self._log.info("%s in %.1f s", self.line(), self._clock() - self._started)
