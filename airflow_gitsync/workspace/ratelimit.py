"""A thread-safe token bucket, one per endpoint class of the Workspace API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts of at most ``burst``.

    Callers reserve a slot under the lock and sleep outside it, so waiting threads are served in
    arrival order at exactly the configured rate. :meth:`pause` (for a server's ``Retry-After``)
    holds every caller back until the given time.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._stamp = clock()

    def _reserve(self) -> float:
        with self._lock:
            now = self._clock()
            if now > self._stamp:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
            self._tokens -= 1
            debt = -self._tokens / self.rate if self._tokens < 0 else 0.0
            return self._stamp - now + debt

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds slept."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """Give out no token for ``seconds`` from now (and no saved-up burst after that)."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._stamp:
                self._stamp = until
                self._tokens = min(self._tokens, 1.0)
