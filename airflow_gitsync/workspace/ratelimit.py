"""The workspace's rate limit, shared by every thread, every task process and (with Redis) every
machine that backs up or restores the workspace.

Databricks limits requests per workspace, whoever sends them: our scan, export, restore and
verify tasks, and other clients. A :class:`TokenBucket` keeps its state in a :class:`SharedState`:
in memory (this process), in a small file under ``flock`` (:class:`FileState`: every process on the
machine that opens it), or in Redis (:class:`RedisState`: every worker and pod that reaches it).
One task alone gets the whole rate, four concurrent tasks share it, a restore running beside a
backup takes part. What the state cannot share (other clients of the workspace) the bucket learns
from the server: each 429 lowers the rate it hands out (multiplicative decrease, at most once a
second) and every quiet second raises it back towards the configured rate (additive increase); a
``Retry-After`` holds everyone back that long (at most :data:`MAX_PAUSE`).

Shared state outlives processes (a file under ``cache_dir``, a Redis key) and others can write it,
so it is trusted only when sane: stamps not in the future (beyond a pause), tokens within
``[-MAX_WAITERS, burst]``, a finite factor within ``[MIN_FACTOR, 1]``. Any other state would stall
every caller or switch the limit off; it is replaced by a fresh one, with a warning (once per state
and process). A Redis that stops answering does not stop the backup: the bucket goes on with this
process alone, with a warning.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import redis

DECREASE = 0.85  # the rate kept after a 429
INCREASE_PER_SECOND = 0.01  # of the configured rate, regained per second without a 429
MIN_FACTOR = 0.05
MAX_PAUSE = 300.0  # seconds a Retry-After holds callers back at most (a longer one is asked again)
MAX_WAITERS = 256  # callers queued on one bucket at once: ~3x the threads of 4 tasks of 16 workers and more
CLOCK_SKEW = 1.0  # seconds a stamp may be ahead of this process's clock
REDIS_KEY_SECONDS = 3600  # an idle bucket's Redis key expires (its state is fresh by then anyway)
_STATE = struct.Struct("<4d")  # tokens, stamp, factor, factor changed at

log = logging.getLogger(__name__)
_reported: set[str] = set()  # states already warned about by this process
T = TypeVar("T")


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


class SharedState(Protocol):
    """Where a bucket's state lives: bytes that :meth:`update` changes atomically for everyone who
    shares them. ``clock`` is the clock every sharer agrees on; ``where`` names it in messages."""

    clock: Callable[[], float]
    where: str

    def update(self, change: Callable[[bytes], tuple[bytes, T]]) -> T:
        """Call ``change`` with the saved bytes (``b""``: none yet), save what it returns first,
        return its second; nobody else changes the state in between."""
        ...

    def close(self) -> None: ...


class MemoryState:
    """State of this process only."""

    clock = staticmethod(time.monotonic)
    where = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw = b""

    def update(self, change: Callable[[bytes], tuple[bytes, T]]) -> T:
        with self._lock:
            self._raw, result = change(self._raw)
            return result

    def close(self) -> None:
        pass


class FileState:
    """State in a file under ``flock``: every process on this machine that opens ``path``."""

    clock = staticmethod(time.monotonic)  # system-wide, and never goes back

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def update(self, change: Callable[[bytes], tuple[bytes, T]]) -> T:
        with self._lock:
            assert self._fd is not None, "closed"
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(self._fd, _STATE.size + 1, 0)
                new, result = change(raw)
                os.pwrite(self._fd, new, 0)
                if len(raw) > len(new):
                    os.ftruncate(self._fd, len(new))
                return result
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RedisState:
    """State in one Redis key, changed in an optimistic transaction (``WATCH``/``MULTI``): every
    worker and pod that reaches the Redis. The clock is the wall clock, which machines share (NTP);
    a skew beyond :data:`CLOCK_SKEW` shows as a stamp in the future and starts the state afresh.
    When Redis fails, this process goes on with a bucket of its own (and the 429s), with a warning."""

    clock = staticmethod(time.time)

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.where = f"redis key {key}"
        self._client = client
        self._key = key
        self._fallback: MemoryState | None = None

    def update(self, change: Callable[[bytes], tuple[bytes, T]]) -> T:
        import redis

        if self._fallback is None:
            try:
                return self._transaction(change)
            except redis.RedisError as exc:
                log.warning("%s: %s; this process limits itself alone from now on", self.where, exc)
                self._fallback = MemoryState()
        return self._fallback.update(change)

    def _transaction(self, change: Callable[[bytes], tuple[bytes, T]]) -> T:
        import redis

        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._key)
                    new, result = change(pipe.get(self._key) or b"")
                    pipe.multi()
                    pipe.set(self._key, new, ex=REDIS_KEY_SECONDS)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another caller changed it first: decide again on its state

    def close(self) -> None:
        pass


class TokenBucket:
    """At most ``rate`` acquisitions per second on average (times the learned factor), bursts of at
    most ``burst``; shared through ``state`` (default: this process only).

    Callers reserve a slot in one update of the state and sleep outside it, so waiting callers are
    served in arrival order. :meth:`pause` (a server's ``Retry-After``) holds every caller back;
    :meth:`throttled` (any 429) lowers the rate. ``clock`` defaults to the state's.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        state: SharedState | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._shared = state or MemoryState()
        self._clock = clock or self._shared.clock
        self._sleep = sleep

    def close(self) -> None:
        self._shared.close()

    def _update(self, change: Callable[[_State, float], T]) -> T:
        """Apply ``change(state, now)`` to the shared state, which is checked for sanity first."""

        def apply(raw: bytes) -> tuple[bytes, T]:
            now = self._clock()
            fault = _fault(raw, now, self.burst) if raw else None  # empty: a new state
            where = self._shared.where
            if fault and where not in _reported:
                _reported.add(where)
                log.warning("rate limit state %s starts afresh: it held %s", where, fault)
            state = _State(*_STATE.unpack(raw)) if raw and not fault else _State(self.burst, now, 1.0, now)
            result = change(state, now)
            return _STATE.pack(state.tokens, state.stamp, state.factor, state.changed), result

        return self._shared.update(apply)

    def _reserve(self) -> float:
        def take(state: _State, now: float) -> float:
            rate = self.rate * state.current_factor(now)
            if now > state.stamp:
                state.tokens = min(self.burst, state.tokens + (now - state.stamp) * rate)
                state.stamp = now
            state.tokens -= 1
            debt = -state.tokens / rate if state.tokens < 0 else 0.0
            return state.stamp - now + debt

        return self._update(take)

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds slept."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """Give out no token for ``seconds`` (at most :data:`MAX_PAUSE`) from now (and no saved-up
        burst after that)."""

        def hold(state: _State, now: float) -> None:
            until = now + min(seconds, MAX_PAUSE)
            if until > state.stamp:
                state.stamp = until
                state.tokens = min(state.tokens, 1.0)

        self._update(hold)

    def throttled(self) -> None:
        """The server answered 429: hand out less (at most one decrease a second)."""

        def lower(state: _State, now: float) -> None:
            if now - state.changed >= 1.0 or state.factor == 1.0:
                state.factor = max(MIN_FACTOR, state.current_factor(now) * DECREASE)
                state.changed = now

        self._update(lower)

    @property
    def factor(self) -> float:
        """The share of the configured rate handed out now."""
        return self._update(lambda state, now: state.current_factor(now))


class RateLimits:
    """The buckets of one workspace (``scope``), one per endpoint class of ``rates``, their state in
    Redis at ``redis_url`` (every machine), else in files under ``local_dir`` (this machine), else in
    memory (this process)."""

    def __init__(
        self, rates: dict[str, float], scope: str, local_dir: Path | None = None, redis_url: str | None = None
    ) -> None:
        client = _redis(redis_url) if redis_url else None

        def state(name: str) -> SharedState:
            if client is not None:
                return RedisState(client, f"airflow-gitsync:ratelimit:{scope}:{name}")
            return FileState(local_dir / f"{scope}-{name}.bucket") if local_dir else MemoryState()

        self._client = client
        self.buckets = {name: TokenBucket(rate, state=state(name)) for name, rate in rates.items()}

    def close(self) -> None:
        for bucket in self.buckets.values():
            bucket.close()
        if self._client is not None:
            self._client.close()


def _redis(url: str) -> redis.Redis:
    try:
        import redis
    except ImportError:
        raise ImportError(
            "a redis:// rate limit needs the redis package: pip install 'airflow-gitsync[celery]' or redis"
        ) from None
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
