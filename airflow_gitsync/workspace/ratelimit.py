"""The workspace's rate limit, shared by every thread and every task process on the machine.

Databricks limits requests per workspace, whoever sends them: our scan, export, restore and
verify tasks, and other clients. A :class:`TokenBucket` with a ``path`` keeps its state in a small
file under ``flock``, so every process on the machine that opens the same file draws from one
bucket: one task alone gets the whole rate (``airflow dags test``), four concurrent tasks share it,
a restore running beside a backup takes part. What no file can share (other machines, other
clients of the workspace) the bucket learns from the server: each 429 lowers the rate it hands
out (multiplicative decrease, at most once a second) and every quiet second raises it back
towards the configured rate (additive increase); a ``Retry-After`` holds everyone back that long
(at most :data:`MAX_PAUSE`).

The file outlives processes and reboots (it lives under ``cache_dir``) and anyone who can write there
can write it, so its state is trusted only when sane: stamps not in the future (beyond a pause),
tokens within ``[-MAX_WAITERS, burst]``, a finite factor within ``[MIN_FACTOR, 1]``. Any other
state would stall every caller or switch the limit off; it is replaced by a fresh one, with a
warning (once per file and process).
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DECREASE = 0.85  # the rate kept after a 429
INCREASE_PER_SECOND = 0.01  # of the configured rate, regained per second without a 429
MIN_FACTOR = 0.05
MAX_PAUSE = 300.0  # seconds a Retry-After holds callers back at most (a longer one is asked again)
MAX_WAITERS = (
    256  # callers queued on one bucket at once: ~3x the threads of 4 tasks of 16 workers, a restore, a verify
)
CLOCK_SKEW = 1.0  # seconds a stamp may be ahead of this process's clock
_STATE = struct.Struct("<4d")  # tokens, stamp, factor, factor changed at

log = logging.getLogger(__name__)
_reported: set[Path] = set()  # state files already warned about by this process


@dataclass
class _State:
    tokens: float
    stamp: float
    factor: float  # the share of the rate set by the last decrease ...
    changed: float  # ... at this time; it has recovered since (current_factor)

    def current_factor(self, now: float) -> float:
        return min(1.0, self.factor + max(now - self.changed, 0.0) * INCREASE_PER_SECOND)


def _fault(raw: bytes, now: float, burst: float) -> str | None:
    """Why the saved state ``raw`` cannot be trusted at ``now``, or None when it can."""
    if len(raw) != _STATE.size:
        return f"{len(raw)} bytes, not {_STATE.size}"
    tokens, stamp, factor, changed = _STATE.unpack(raw)
    if not all(map(math.isfinite, (tokens, stamp, factor, changed))):
        return f"a value that is not finite ({tokens}, {stamp}, {factor}, {changed})"
    if not -MAX_WAITERS <= tokens <= burst:
        return f"tokens {tokens:g} outside [-{MAX_WAITERS}, {burst:g}]"
    if not MIN_FACTOR <= factor <= 1.0:
        return f"factor {factor:g} outside [{MIN_FACTOR:g}, 1]"
    if stamp > now + MAX_PAUSE + CLOCK_SKEW or changed > now + CLOCK_SKEW:
        return f"a stamp {max(stamp, changed) - now:.0f} s ahead of the clock (from before a reboot?)"
    return None


class TokenBucket:
    """At most ``rate`` acquisitions per second on average (times the learned factor), bursts of at
    most ``burst``; shared through ``path`` when given, else within this process.

    Callers reserve a slot under the lock and sleep outside it, so waiting callers are served in
    arrival order. :meth:`pause` (a server's ``Retry-After``) holds every caller back; :meth:`throttled`
    (any 429) lowers the rate. The clock must be ``time.monotonic`` (system-wide) when shared.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        path: Path | None = None,
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
        self._memory = self._fresh(clock())
        self._path = path
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _fresh(self, now: float) -> _State:
        return _State(self.burst, now, 1.0, now)

    @contextmanager
    def _state(self) -> Iterator[_State]:
        """The bucket's state, locked for this thread and (when shared) this process."""
        with self._lock:
            if self._fd is None:
                yield self._memory
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(self._fd, _STATE.size + 1, 0)
                now = self._clock()
                fault = _fault(raw, now, self.burst) if raw else None  # empty: a new file
                if fault and self._path not in _reported:
                    _reported.add(self._path)
                    log.warning("rate limit state %s starts afresh: it held %s", self._path, fault)
                state = _State(*_STATE.unpack(raw)) if raw and not fault else self._fresh(now)
                yield state
                os.pwrite(self._fd, _STATE.pack(state.tokens, state.stamp, state.factor, state.changed), 0)
                if len(raw) > _STATE.size:
                    os.ftruncate(self._fd, _STATE.size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _reserve(self) -> float:
        with self._state() as state:
            now = self._clock()
            rate = self.rate * state.current_factor(now)
            if now > state.stamp:
                state.tokens = min(self.burst, state.tokens + (now - state.stamp) * rate)
                state.stamp = now
            state.tokens -= 1
            debt = -state.tokens / rate if state.tokens < 0 else 0.0
            return state.stamp - now + debt

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds slept."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """Give out no token for ``seconds`` (at most :data:`MAX_PAUSE`) from now (and no saved-up
        burst after that)."""
        with self._state() as state:
            until = self._clock() + min(seconds, MAX_PAUSE)
            if until > state.stamp:
                state.stamp = until
                state.tokens = min(state.tokens, 1.0)

    def throttled(self) -> None:
        """The server answered 429: hand out less (at most one decrease a second)."""
        with self._state() as state:
            now = self._clock()
            if now - state.changed >= 1.0 or state.factor == 1.0:
                state.factor = max(MIN_FACTOR, state.current_factor(now) * DECREASE)
                state.changed = now

    @property
    def factor(self) -> float:
        """The share of the configured rate handed out now."""
        with self._state() as state:
            return state.current_factor(self._clock())
