"""A client for the Databricks Workspace API (list, get-status, export, import, delete, mkdirs).

It owns the transport the Airflow Databricks provider does not offer: one pooled keep-alive
session, a client-side rate limit per endpoint class, retries with exponential backoff and full
jitter that honour ``Retry-After``, a bound on the total time one call may spend retrying, typed
errors, and a thread pool for concurrent calls. No Airflow import: the hook supplies the host and a
token provider.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from airflow_gitsync.errors import (
    FATAL_ERRORS,
    AuthError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    TransientError,
    WorkspaceError,
)
from airflow_gitsync.workspace.ratelimit import RateLimits

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_RATES = {"export": 60.0, "list": 50.0, "import": 30.0, "other": 30.0}
"""Databricks' published per-workspace limits, in requests per second, per endpoint class."""
DEFAULT_MAX_WORKERS = 16
DEFAULT_MAX_RETRY_SECONDS = 300.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(slots=True)
class EndpointStats:
    calls: int = 0
    retries: int = 0
    http_429: int = 0
    backoff_seconds: float = 0.0
    throttled_seconds: float = 0.0


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class WorkspaceClient:
    """Workspace API calls against ``host`` (``https://adb-1.azuredatabricks.net``), thread-safe.

    :param token_provider: returns a bearer token; called before each request, so it should cache
        (the Databricks hook's ``_get_token`` does, and refreshes OAuth tokens before they expire).
    :param headers_provider: extra headers per request (Azure service principal management token).
    :param rates: requests per second per endpoint class, merged over :data:`DEFAULT_RATES`.
    :param max_workers: threads for :meth:`map_concurrent` and :meth:`walk`; also the pool size.
    :param max_retry_seconds: how long one call may keep retrying before it raises.
    :param proxies: ``requests`` proxies (``{"https": "http://proxy:3128"}``).
    :param limiter_dir: where the rate limit's state is shared with every other process on this
        machine that talks to the same workspace (see :mod:`.ratelimit`); None: this client only.
    :param limiter_url: a ``redis://`` URL where the rate limit's state is shared with every machine
        that talks to the same workspace; it takes the place of ``limiter_dir``.
    """

    def __init__(
        self,
        host: str,
        token_provider: Callable[[], str],
        *,
        headers_provider: Callable[[], dict[str, str]] | None = None,
        rates: dict[str, float] | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        timeout: tuple[float, float] = (10.0, 120.0),
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        user_agent: str | None = None,
        proxies: dict[str, str] | None = None,
        limiter_dir: Path | None = None,
        limiter_url: str | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        self.max_workers = max_workers
        self.max_retry_seconds = max_retry_seconds
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._token_provider = token_provider
        self._headers_provider = headers_provider
        self._auth_lock = threading.Lock()
        self.rates = {**DEFAULT_RATES, **(rates or {})}
        key = hashlib.sha256(self.host.encode()).hexdigest()[:16]
        self._limits = RateLimits(self.rates, key, limiter_dir, limiter_url)
        self._buckets = self._limits.buckets
        self._stats = {name: EndpointStats() for name in self.rates}
        self._stats_lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_workers, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        if user_agent:
            self._session.headers["User-Agent"] = user_agent
        if proxies:
            self._session.proxies.update(proxies)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="workspace")

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._session.close()
        self._limits.close()

    def __enter__(self) -> WorkspaceClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        with self._auth_lock:
            headers = {"Authorization": f"Bearer {self._token_provider()}"}
            if self._headers_provider:
                headers.update(self._headers_provider())
        return headers

    def _count(self, endpoint: str, **deltas: float) -> None:
        with self._stats_lock:
            stats = self._stats[endpoint]
            for name, delta in deltas.items():
                setattr(stats, name, getattr(stats, name) + delta)

    def _error(self, response: requests.Response, api: str, path: str) -> WorkspaceError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = body.get("error_code")
        message = body.get("message") or response.text[:300]
        status = response.status_code
        detail = f"{api} {path}: HTTP {status} {code or ''} {message}".replace("  ", " ")
        kwargs = {"path": path, "status": status, "error_code": code}
        if status in (401, 403):
            return AuthError(
                f"Databricks workspace {self.host} refused {detail}. Check the connection's token or "
                "service principal (expired? right workspace?) and its permission on the backup root.",
                **kwargs,
            )
        if status == 404 or code == "RESOURCE_DOES_NOT_EXIST":
            return NotFoundError(detail, **kwargs)
        if code == "MAX_NOTEBOOK_SIZE_EXCEEDED" or (status == 400 and "size exceeds" in message.lower()):
            return TooLargeError(detail, **kwargs)
        if status in RETRY_STATUSES:
            return TransientError(detail, **kwargs)
        return WorkspaceError(detail, **kwargs)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _call(self, endpoint: str, method: str, api: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call with rate limiting and retries; returns the successful response."""
        url = f"{self.host}/api/2.0/workspace/{api}"
        bucket = self._buckets[endpoint]
        deadline = time.monotonic() + self.max_retry_seconds
        attempt = 0
        while True:
            self._count(endpoint, calls=1, throttled_seconds=bucket.acquire())
            retry_after = None
            try:
                response = self._session.request(
                    method, url, headers=self._headers(), timeout=self.timeout, **kwargs
                )
            except _CONNECTION_ERRORS as exc:
                error: WorkspaceError = TransientError(f"{api} {path}: {exc!r}", path=path)
            else:
                if response.ok:
                    return response
                error = self._error(response, api, path)
                if response.status_code not in RETRY_STATUSES:
                    raise error
                retry_after = _retry_after(response)
            if error.status == 429:
                self._count(endpoint, http_429=1)
                bucket.throttled()
            delay = self._backoff(attempt) if retry_after is None else retry_after
            if time.monotonic() + delay > deadline:
                if error.status == 429:
                    raise RateLimitedError(
                        f"{self.host} kept rate limiting {endpoint} calls for {self.max_retry_seconds:.0f}s; "
                        f"last: {error}",
                        path=path,
                        status=429,
                        error_code=error.error_code,
                    ) from error
                raise error
            attempt += 1
            if error.status == 429 and retry_after is not None:
                # The limit is the workspace's: the whole endpoint class waits, the next acquire sleeps.
                self._count(endpoint, retries=1)
                bucket.pause(delay)
            else:
                self._count(endpoint, retries=1, backoff_seconds=delay)
                time.sleep(delay)

    # -- API -----------------------------------------------------------------------------------

    def list(self, path: str) -> list[dict]:
        """The objects directly in folder ``path`` (an empty folder lists as ``[]``)."""
        return self._call("list", "GET", "list", path, params={"path": path}).json().get("objects", [])

    def get_status(self, path: str) -> dict:
        return self._call("other", "GET", "get-status", path, params={"path": path}).json()

    def export(self, path: str, format: str = "SOURCE", direct_download: bool = True) -> bytes:
        """The object's content: raw bytes in one request with ``direct_download``."""
        params = {"path": path, "format": format, "direct_download": str(direct_download).lower()}
        response = self._call("export", "GET", "export", path, params=params)
        return response.content if direct_download else base64.b64decode(response.json()["content"])

    def import_(
        self,
        path: str,
        content: bytes,
        language: str | None = None,
        format: str = "SOURCE",
        overwrite: bool = False,
    ) -> None:
        body = {
            "path": path,
            "content": base64.b64encode(content).decode(),
            "format": format,
            "overwrite": overwrite,
        }
        if language:
            body["language"] = language
        self._call("import", "POST", "import", path, json=body)

    def delete(self, path: str, recursive: bool = False) -> None:
        self._call("other", "POST", "delete", path, json={"path": path, "recursive": recursive})

    def mkdirs(self, path: str) -> None:
        self._call("other", "POST", "mkdirs", path, json={"path": path})

    def walk(
        self, path: str, on_error: Callable[[str, WorkspaceError], None] | None = None
    ) -> Iterator[dict]:
        """Every object below folder ``path`` (directories included), folders listed in parallel.

        A folder that vanishes while walking counts as empty. Any other listing error goes to
        ``on_error(folder, error)`` (raised when ``on_error`` is None); :data:`FATAL_ERRORS` always raise.
        """
        pending: dict[Future, str] = {self._executor.submit(self.list, path): path}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    folder = pending.pop(future)
                    try:
                        objects = future.result()
                    except NotFoundError:
                        objects = []
                    except WorkspaceError as exc:
                        if on_error is None or isinstance(exc, FATAL_ERRORS):
                            raise
                        on_error(folder, exc)
                        objects = []
                    for obj in objects:
                        if obj.get("object_type") == "DIRECTORY":
                            pending[self._executor.submit(self.list, obj["path"])] = obj["path"]
                        yield obj
        finally:
            for future in pending:
                future.cancel()

    def map_concurrent(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items`` on the thread pool, results in completion order.

        At most two items per worker are in flight, so memory stays bounded. The first exception
        ``fn`` raises cancels what has not started and propagates.
        """
        items = iter(items)
        pending = {self._executor.submit(fn, item) for item in itertools.islice(items, 2 * self.max_workers)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    pending.update(self._executor.submit(fn, item) for item in itertools.islice(items, 1))
        finally:
            for future in pending:
                future.cancel()

    def stats(self) -> dict[str, dict[str, float]]:
        """Per endpoint class: calls, retries, 429s, seconds in backoff, seconds held by the limiter.

        The limiter's seconds include the pauses a ``Retry-After`` imposed.
        """
        with self._stats_lock:
            return {name: asdict(stats) for name, stats in self._stats.items()}


def merged_stats(*clients: WorkspaceClient) -> dict[str, dict[str, float]]:
    """The :meth:`WorkspaceClient.stats` of several clients, summed."""
    merged: dict[str, Counter] = defaultdict(Counter)
    for client in clients:
        for endpoint, counters in client.stats().items():
            merged[endpoint].update(counters)
    return {endpoint: dict(counters) for endpoint, counters in merged.items()}
