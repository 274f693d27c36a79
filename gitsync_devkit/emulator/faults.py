"""What makes the emulator behave like a busy service: the knobs (``EmulatorConfig``), rate limits as token
buckets (429 with ``Retry-After``), random 500/503 faults and dropped connections, hidden ``modified_at``,
and failures injected for a path prefix."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gitsync_devkit.emulator.handlers import ENDPOINTS
from gitsync_devkit.emulator.model import is_under
from gitsync_devkit.emulator.replies import error_reply

RATE_CLASSES = {"list": "list", "export": "export", "import": "import"}
PUBLISHED_RATES: dict[str, float | None] = {"export": 60.0, "list": 50.0, "import": 30.0, "other": None}


@dataclass
class EmulatorConfig:
    """Realism knobs; rates are requests/s per endpoint class ("list", "export", "import", "other")."""

    latency_ms: float = 0.0
    rates: dict[str, float | None] = field(default_factory=dict)
    fault_rate: float = 0.0
    drop_rate: float = 0.0
    missing_modified_at_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "fault_rate", "drop_rate", "missing_modified_at_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("fault_rate", "drop_rate", "missing_modified_at_rate"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        for name, rate in self.rates.items():
            if name not in PUBLISHED_RATES:
                raise ValueError(f"unknown rate class {name!r}; use one of {sorted(PUBLISHED_RATES)}")
            if rate is not None and (
                not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0
            ):
                raise ValueError(f"rate for {name!r} must be a finite number >= 0, got {rate!r}")


class Faults:
    """The knobs in force and the injected failures; random choices come from one RNG seeded with ``seed``."""

    def __init__(self, initial: EmulatorConfig) -> None:
        self._initial = initial
        self._lock = threading.Lock()
        self._rng = random.Random(initial.seed)
        self._failures: list[_Failure] = []
        self.reset()

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def update(self, **knobs: Any) -> None:
        """Change the given ``EmulatorConfig`` fields now."""
        self._apply(replace(self._config, **knobs))

    def reset(self) -> None:
        """Back to the knobs the emulator was created with."""
        self._apply(replace(self._initial, rates=dict(self._initial.rates)))

    def inject_failure(
        self, path_prefix: str, endpoints: Iterable[str], status: int, error_code: str
    ) -> None:
        unknown = set(endpoints) - set(ENDPOINTS)
        if unknown or not 400 <= status <= 599:
            raise ValueError(
                f"bad failure: endpoints {sorted(unknown)} unknown or status {status} not 4xx/5xx"
            )
        failure = _Failure(path_prefix.rstrip("/") or "/", frozenset(endpoints), status, error_code)
        with self._lock:
            self._failures.append(failure)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def throttle(self, endpoint: str) -> None:
        bucket = self._buckets.get(RATE_CLASSES.get(endpoint, "other"))
        wait = bucket.take() if bucket else 0.0
        if wait:
            raise error_reply(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                f"Too many requests to the {endpoint} endpoint. Please try again later.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def roll(self) -> tuple[bool, int]:
        """(drop?, fault status or 0) from the seeded RNG."""
        with self._lock:
            drop = self._config.drop_rate > 0 and self._rng.random() < self._config.drop_rate
            fault = self._config.fault_rate > 0 and self._rng.random() < self._config.fault_rate
            status = self._rng.choice((500, 503)) if fault else 0
        return drop, status

    def check_failures(self, endpoint: str, path: str | None) -> None:
        with self._lock:
            failures = list(self._failures)
        for failure in failures:
            if endpoint in failure.endpoints and path and is_under(path, failure.path_prefix):
                headers = {"Retry-After": "1"} if failure.status in (429, 503) else None
                raise error_reply(failure.status, failure.error_code, f"Injected failure for {path}", headers)

    def hides_modified_at(self, object_id: int) -> bool:
        rate = self._config.missing_modified_at_rate
        return rate > 0 and random.Random(object_id * 1_000_003 + self._config.seed).random() < rate

    def _apply(self, config: EmulatorConfig) -> None:
        buckets = {name: _TokenBucket(rate) for name, rate in config.rates.items() if rate}
        with self._lock:
            self._config, self._buckets = config, buckets


@dataclass(frozen=True)
class _Failure:
    path_prefix: str
    endpoints: frozenset[str]
    status: int
    error_code: str


class _TokenBucket:
    """Classic token bucket holding up to one second of requests."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until the next one."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate
