"""Databricks Workspace API emulator: a threaded HTTP/1.1 server over an in-memory workspace.

Workspace API (``Authorization: Bearer <token>``; missing -> 401, unknown token -> 403)::

    GET  /api/2.0/workspace/list?path=[&notebooks_modified_after=]   {"objects": [...]} or {} when empty
    GET  /api/2.0/workspace/get-status?path=
    GET  /api/2.0/workspace/export?path=&format=SOURCE|AUTO|JUPYTER|HTML|R_MARKDOWN|RAW[&direct_download=true]
    POST /api/2.0/workspace/import   JSON {path, content (base64), format, language, overwrite} or the
                                     multipart form that ``WorkspaceClient.workspace.upload`` sends
    POST /api/2.0/workspace/delete   {path, recursive}
    POST /api/2.0/workspace/mkdirs   {path}

Errors are ``{"error_code": ..., "message": ...}``: 404 RESOURCE_DOES_NOT_EXIST, 400 RESOURCE_ALREADY_EXISTS,
400 DIRECTORY_NOT_EMPTY, 400 MAX_NOTEBOOK_SIZE_EXCEEDED (notebook export or import over 10485760 bytes;
a FILE over the limit gives 400 BAD_REQUEST with the same message), 400 INVALID_PARAMETER_VALUE,
429 REQUEST_LIMIT_EXCEEDED (integer ``Retry-After``), 500 INTERNAL_ERROR, 503 TEMPORARILY_UNAVAILABLE.
A directory exports (SOURCE/AUTO) as a zip of its notebooks' sources and files; listing a notebook or
file path returns that one object. Paths are case-sensitive; request bodies may be chunked.

Knobs (``EmulatorConfig``; all random choices come from one RNG seeded with ``seed``): ``latency_ms`` per
request, ``rates`` per endpoint class ("list", "export", "import", "other"; None/0 = unlimited) as token
buckets with one second of burst, ``fault_rate`` (random 500/503), ``drop_rate`` (connection closed without
an answer), ``missing_modified_at_rate`` (that fraction of notebooks and files, chosen by object id, show
no ``modified_at`` or 0). Per request: latency, auth, rate limit, drop, fault, injected failure, handler.

Control surface, the same bearer token, JSON in and out (content is base64), never throttled or faulted::

    POST /_emulator/notebooks {path, content, language}    POST /_emulator/files {path, content}
    POST /_emulator/mkdirs {path}                          POST /_emulator/delete {path, recursive}
    POST /_emulator/rename {old, new}                      POST /_emulator/modify {path, content?}
    POST /_emulator/modified-at {path, value}              POST /_emulator/generate {n, seed, root}
    GET  /_emulator/objects                                GET  /_emulator/snapshot?root=  (base64 content)
    GET  /_emulator/counters                               POST /_emulator/reset-counters
    POST /_emulator/faults {fault_rate?, drop_rate?, latency_ms?, rates?}   POST /_emulator/reset-faults
    POST /_emulator/failures {path_prefix, endpoints, status, error_code}   POST /_emulator/clear-failures
    POST /_emulator/tokens {token}

CLI: ``python -m gitsync_devkit.emulator --port P (--workspace DIR | --generate N)
--token T [...]``; see ``--help``. Bad input gives one ``error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import io
import json
import math
import random
import signal
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gitsync_devkit.emulator.model import (
    CONTENT_TYPES,
    Node,
    Workspace,
    WorkspaceError,
    is_under,
)
from gitsync_devkit.workspace_generator import (
    CELL_SEPARATORS,
    FILE_TYPES,
    MAX_EXPORT_BYTES,
    NOTEBOOK_HEADERS,
    generate_workspace,
)

ENDPOINTS = ("list", "get-status", "export", "import", "delete", "mkdirs")
RATE_CLASSES = {"list": "list", "export": "export", "import": "import"}
PUBLISHED_RATES: dict[str, float | None] = {"export": 60.0, "list": 50.0, "import": 30.0, "other": None}
COUNTER_KEYS = ("requests", "ok", "429", "5xx", "dropped", "4xx")
_EXTENSIONS = {f".{ext}": lang for lang, ext in FILE_TYPES.items()} | {".R": "R"}


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


class _Reply(Exception):
    """Raised by handlers to answer with a given status, body and headers."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json", headers)


def _error_reply(status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _json_reply(status, {"error_code": error_code, "message": message}, headers)


class WorkspaceEmulator:
    """In-process emulator: ``start()`` serves it, the other methods are the test control API."""

    def __init__(self, token: str = "dapi-test", config: EmulatorConfig | None = None) -> None:
        self.workspace = Workspace()
        self._initial = config or EmulatorConfig()
        self._tokens = {token}
        self._lock = threading.Lock()
        self._rng = random.Random(self._initial.seed)
        self._failures: list[_Failure] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset_faults()
        self.reset_counters()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> WorkspaceEmulator:
        """Listen on ``host:port`` (0 = any free port) in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="workspace-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open keep-alive connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WorkspaceEmulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def add_token(self, token: str) -> None:
        """Accept another bearer token (e.g. an Azure AD access token) from now on."""
        with self._lock:
            self._tokens.add(token)

    # -- workspace content ---------------------------------------------------------------------------

    def load_generated(self, n: int, seed: int = 0, root: str = "/Clients", **kwargs: Any) -> int:
        """Add a generated workspace of ``n`` notebooks under ``root``; returns the number of objects."""
        return self.workspace.load(generate_workspace(n, seed=seed, root=root, **kwargs))

    def load_directory(self, path: str | Path, root: str = "/Clients") -> int:
        """Load a tree from disk: ``*.py/.sql/.scala/.r`` with a notebook header become notebooks
        (extension dropped), other files become FILE objects. Returns the number of objects."""
        base = Path(path)
        if not base.is_dir():
            raise FileNotFoundError(f"workspace directory not found: {base}")
        root = root.rstrip("/")
        self.workspace.mkdirs(root or "/")
        count = 0
        for item in sorted(base.rglob("*")):
            target = f"{root}/{item.relative_to(base).as_posix()}"
            if item.is_dir():
                self.workspace.mkdirs(target)
            else:
                data = item.read_bytes()
                path_, object_type, language = _classify_upload(target, data)
                self.workspace.write(path_, object_type, data, language, create_parents=True)
            count += 1
        return count

    def put_notebook(self, path: str, source: bytes, language: str = "PYTHON") -> None:
        """Create or overwrite a notebook (parents created); ``source`` is its SOURCE export."""
        self.workspace.write(path, "NOTEBOOK", source, _check_language(language), create_parents=True)

    def put_file(self, path: str, data: bytes) -> None:
        self.workspace.write(path, "FILE", data, create_parents=True)

    def mkdirs(self, path: str) -> None:
        self.workspace.mkdirs(path)

    def delete(self, path: str, recursive: bool = False) -> None:
        self.workspace.delete(path, recursive)

    def rename(self, old: str, new: str) -> None:
        self.workspace.rename(old, new)

    def modify_notebook(self, path: str, source: bytes | None = None) -> None:
        """Write new bytes (``None``: append a deterministic cell); object_id stays, modified_at bumps."""
        self.workspace.modify(path, source)

    def set_modified_at(self, path: str, value: int | None) -> None:
        self.workspace.set_modified_at(path, value)

    def objects(self) -> list[dict[str, Any]]:
        """Every object (root excluded) as the list endpoint would describe it."""
        return [self._object_info(node) for node in self.workspace.nodes_under("/")]

    def snapshot(self, root: str = "/") -> dict[str, bytes]:
        """SOURCE bytes of every notebook and raw bytes of every file under ``root``, even too large ones."""
        return {n.path: n.read() for n in self.workspace.nodes_under(root) if n.object_type in CONTENT_TYPES}

    # -- counters, faults, failures ------------------------------------------------------------------

    def counters(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(values) for name, values in self._counters.items()}

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = {name: dict.fromkeys(COUNTER_KEYS, 0) for name in ENDPOINTS}

    def set_faults(
        self,
        *,
        fault_rate: float | None = None,
        drop_rate: float | None = None,
        latency_ms: float | None = None,
        rates: dict[str, float | None] | None = None,
    ) -> None:
        """Change some knobs now; ``rates`` replaces the whole rate map."""
        changes = {"fault_rate": fault_rate, "drop_rate": drop_rate, "latency_ms": latency_ms, "rates": rates}
        self._apply(replace(self._config, **{k: v for k, v in changes.items() if v is not None}))

    def reset_faults(self) -> None:
        """Back to the knobs the emulator was created with."""
        self._apply(replace(self._initial, rates=dict(self._initial.rates)))

    def inject_failure(
        self,
        path_prefix: str,
        endpoints: Iterable[str] = ("export",),
        status: int = 500,
        error_code: str = "INTERNAL_ERROR",
    ) -> None:
        """Fail every request on ``endpoints`` for a path under ``path_prefix`` until cleared."""
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

    def _apply(self, config: EmulatorConfig) -> None:
        buckets = {name: _TokenBucket(rate) for name, rate in config.rates.items() if rate}
        with self._lock:
            self._config, self._buckets = config, buckets

    # -- request pipeline (called by the handler) ----------------------------------------------------

    def _count(self, endpoint: str, key: str) -> None:
        with self._lock:
            counters = self._counters[endpoint]
            counters[key] += 1

    def _check_token(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _error_reply(
                401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API."
            )
        with self._lock:
            known = token.strip() in self._tokens
        if not known:
            raise _error_reply(403, "PERMISSION_DENIED", "Invalid access token.")

    def _throttle(self, endpoint: str) -> None:
        bucket = self._buckets.get(RATE_CLASSES.get(endpoint, "other"))
        wait = bucket.take() if bucket else 0.0
        if wait:
            raise _error_reply(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                f"Too many requests to the {endpoint} endpoint. Please try again later.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def _roll(self) -> tuple[bool, int]:
        """(drop?, fault status or 0) from the seeded RNG."""
        with self._lock:
            drop = self._config.drop_rate > 0 and self._rng.random() < self._config.drop_rate
            fault = self._config.fault_rate > 0 and self._rng.random() < self._config.fault_rate
            status = self._rng.choice((500, 503)) if fault else 0
        return drop, status

    def _check_failures(self, endpoint: str, path: str | None) -> None:
        with self._lock:
            failures = list(self._failures)
        for failure in failures:
            if endpoint in failure.endpoints and path and is_under(path, failure.path_prefix):
                headers = {"Retry-After": "1"} if failure.status in (429, 503) else None
                raise _error_reply(
                    failure.status, failure.error_code, f"Injected failure for {path}", headers
                )

    def _object_info(self, node: Node) -> dict[str, Any]:
        info: dict[str, Any] = {"object_type": node.object_type, "path": node.path}
        if node.language:
            info["language"] = node.language
        info |= {
            "object_id": node.object_id,
            "resource_id": str(node.object_id),
            "created_at": node.created_at,
        }
        shown = node.shown_modified_at
        if shown == "real" and node.object_type in CONTENT_TYPES and self._hides_modified_at(node.object_id):
            shown = "missing" if node.object_id % 2 else "zero"
        if shown != "missing":
            info["modified_at"] = node.modified_at if shown == "real" else 0
        if node.object_type in CONTENT_TYPES:
            info["size"] = node.size
        return info

    def _hides_modified_at(self, object_id: int) -> bool:
        rate = self._config.missing_modified_at_rate
        return rate > 0 and random.Random(object_id * 1_000_003 + self._config.seed).random() < rate


# -- Workspace API handlers ---------------------------------------------------------------------------


def _api_list(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    after = int(query.get("notebooks_modified_after") or 0)
    nodes = emu.workspace.children(_required(query, "path"))
    objects = [
        emu._object_info(n)
        for n in nodes
        if not after or n.object_type != "NOTEBOOK" or n.modified_at > after
    ]
    return {"objects": objects} if objects else {}


def _api_get_status(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    return emu._object_info(emu.workspace.get(_required(query, "path")))


def _api_export(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    node = emu.workspace.get(_required(query, "path"))
    content, file_type = _export(emu.workspace, node, query.get("format") or "SOURCE")
    if query.get("direct_download", "").lower() == "true":
        raise _Reply(200, content, "application/octet-stream")
    return {"content": base64.b64encode(content).decode(), "file_type": file_type}


def _api_import(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    path = _required(body, "path")
    content = body.get("content")
    if content is None:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "Missing required field: content")
    data = content if isinstance(content, bytes) else _b64decode(content)
    if len(data) > MAX_EXPORT_BYTES:
        raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", _size_message(len(data)))
    path, object_type, language, data = _import_target(
        path, data, body.get("format") or "SOURCE", body.get("language")
    )
    overwrite = body.get("overwrite") in (True, "true", "True")
    emu.workspace.write(path, object_type, data, language, overwrite=overwrite)
    return {}


def _api_delete(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    emu.workspace.delete(_required(body, "path"), body.get("recursive") in (True, "true"))
    return {}


def _api_mkdirs(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    emu.workspace.mkdirs(_required(body, "path"))
    return {}


_Handler = Callable[[WorkspaceEmulator, dict[str, str], dict[str, Any]], Any]
API_ROUTES: dict[tuple[str, str], tuple[str, _Handler]] = {
    ("GET", "/api/2.0/workspace/list"): ("list", _api_list),
    ("GET", "/api/2.0/workspace/get-status"): ("get-status", _api_get_status),
    ("GET", "/api/2.0/workspace/export"): ("export", _api_export),
    ("POST", "/api/2.0/workspace/import"): ("import", _api_import),
    ("POST", "/api/2.0/workspace/delete"): ("delete", _api_delete),
    ("POST", "/api/2.0/workspace/mkdirs"): ("mkdirs", _api_mkdirs),
}


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {name}")
    return value


def _b64decode(text: Any) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "Content is not valid base64.") from exc


def _size_message(size: int) -> str:
    return f"File size imported is ({size} bytes), exceeded max size ({MAX_EXPORT_BYTES} bytes)"


def _check_language(language: Any) -> str:
    if language not in NOTEBOOK_HEADERS:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Unsupported language: {language!r}")
    return language


def _export(workspace: Workspace, node: Node, fmt: str) -> tuple[bytes, str]:
    """(content, file_type) of ``node`` in ``fmt``, with the 10 MB limit and the real API's refusals."""
    if node.object_type == "DIRECTORY":
        if fmt not in ("SOURCE", "AUTO"):
            raise WorkspaceError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"Export format {fmt} is not supported for directories by the emulator.",
            )
        return _zip_directory(node.path, workspace.nodes_under(node.path)), "zip"
    if node.object_type not in CONTENT_TYPES:
        raise WorkspaceError(400, "BAD_REQUEST", f"Export of {node.object_type} objects is not supported.")
    if node.size > MAX_EXPORT_BYTES:
        code = "MAX_NOTEBOOK_SIZE_EXCEEDED" if node.object_type == "NOTEBOOK" else "BAD_REQUEST"
        raise WorkspaceError(400, code, _size_message(node.size))
    if node.object_type == "FILE":
        if fmt not in ("SOURCE", "AUTO", "RAW"):
            raise WorkspaceError(
                400, "INVALID_PARAMETER_VALUE", f"Export format {fmt} is not supported for files."
            )
        return node.read(), node.path.rsplit(".", 1)[-1] if "." in node.path.rsplit("/", 1)[-1] else ""
    language = node.language or "PYTHON"
    if fmt in ("SOURCE", "AUTO"):
        return node.read(), FILE_TYPES[language]
    if fmt == "JUPYTER":
        return _to_jupyter(node.path, language, node.read()), "ipynb"
    if fmt == "HTML":
        return _to_html(node.path, node.read()), "html"
    if fmt == "R_MARKDOWN" and language == "R":
        return node.read(), "Rmd"
    raise WorkspaceError(
        400, "INVALID_PARAMETER_VALUE", f"Export format {fmt} is not supported for {language} notebooks."
    )


def _cells(language: str, source: bytes) -> list[str]:
    text = source.decode("utf-8", errors="replace")
    header = NOTEBOOK_HEADERS[language]
    if text.startswith(header):
        text = text[len(header) :].lstrip("\n")
    return [cell.strip("\n") for cell in text.split(f"\n{CELL_SEPARATORS[language]}\n")]


def _to_jupyter(path: str, language: str, source: bytes) -> bytes:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": cell.splitlines(True),
        }
        for cell in _cells(language, source)
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "application/vnd.databricks.v1+notebook": {
                "language": language.lower(),
                "notebookName": path.rsplit("/", 1)[-1],
            },
            "language_info": {"name": language.lower()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return json.dumps(notebook, indent=1).encode()


def _from_jupyter(data: bytes) -> tuple[str, bytes]:
    try:
        notebook = json.loads(data)
        meta = notebook.get("metadata", {}).get("application/vnd.databricks.v1+notebook", {})
        language = str(meta.get("language", "python")).upper()
        cells = ["".join(c.get("source", [])) for c in notebook["cells"]]
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise WorkspaceError(
            400, "INVALID_PARAMETER_VALUE", "Content is not a valid Jupyter notebook."
        ) from exc
    language = language if language in NOTEBOOK_HEADERS else "PYTHON"
    body = f"\n\n{CELL_SEPARATORS[language]}\n\n".join(cells)
    return language, f"{NOTEBOOK_HEADERS[language]}\n{body}".encode()


def _to_html(path: str, source: bytes) -> bytes:
    text = html.escape(source.decode("utf-8", errors="replace"))
    page = (
        f"<!DOCTYPE html><html><head><title>{html.escape(path)}</title></head><body><pre>{text}</pre></body>"
    )
    return (page + "</html>").encode()


def _zip_directory(root: str, subtree: list[Node]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for node in subtree:
            if node.object_type not in CONTENT_TYPES or node.size > MAX_EXPORT_BYTES:
                continue
            name = node.path[len(root) :].lstrip("/")
            if node.object_type == "NOTEBOOK":
                name += "." + FILE_TYPES[node.language or "PYTHON"]
            archive.writestr(name, node.read())
    if buffer.tell() > MAX_EXPORT_BYTES:
        raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", _size_message(buffer.tell()))
    return buffer.getvalue()


def _with_header(language: str, data: bytes) -> bytes:
    header = NOTEBOOK_HEADERS[language].encode()
    return data if data.startswith(header) else header + b"\n" + data


def _classify_upload(path: str, head: bytes) -> tuple[str, str, str | None]:
    """AUTO rule: a known source extension plus a notebook header makes a notebook without the extension."""
    name = path.rsplit("/", 1)[-1]
    for extension, language in _EXTENSIONS.items():
        header = NOTEBOOK_HEADERS[language].encode()
        if name.endswith(extension) and len(name) > len(extension) and head.startswith(header):
            return path[: -len(extension)], "NOTEBOOK", language
    return path, "FILE", None


def _import_target(path: str, data: bytes, fmt: str, language: Any) -> tuple[str, str, str | None, bytes]:
    """(path, object_type, language, stored bytes) for an import in ``fmt``."""
    if fmt == "SOURCE":
        if not language:
            raise WorkspaceError(
                400, "INVALID_PARAMETER_VALUE", "The language field is required to import a SOURCE notebook."
            )
        language = _check_language(language)
        return path, "NOTEBOOK", language, _with_header(language, data)
    if fmt == "AUTO":
        if path.endswith(".ipynb"):
            language, source = _from_jupyter(data)
            return path[: -len(".ipynb")], "NOTEBOOK", language, source
        target, object_type, detected = _classify_upload(path, data)
        return target, object_type, detected, data
    if fmt == "JUPYTER":
        language, source = _from_jupyter(data)
        return path, "NOTEBOOK", language, source
    if fmt == "RAW":
        return path, "FILE", None, data
    raise WorkspaceError(
        400, "INVALID_PARAMETER_VALUE", f"Import format {fmt} is not supported by the emulator."
    )


# -- control surface ------------------------------------------------------------------------------------


def _control(
    emu: WorkspaceEmulator, method: str, name: str, query: dict[str, str], body: dict[str, Any]
) -> Any:
    """Dispatch ``/_emulator/<name>``; returns the JSON payload."""
    routes: dict[tuple[str, str], Callable[[], Any]] = {
        ("POST", "notebooks"): lambda: emu.put_notebook(
            body["path"], _b64decode(body["content"]), body.get("language", "PYTHON")
        ),
        ("POST", "files"): lambda: emu.put_file(body["path"], _b64decode(body["content"])),
        ("POST", "mkdirs"): lambda: emu.mkdirs(body["path"]),
        ("POST", "delete"): lambda: emu.delete(body["path"], bool(body.get("recursive", False))),
        ("POST", "rename"): lambda: emu.rename(body["old"], body["new"]),
        ("POST", "modify"): lambda: emu.modify_notebook(
            body["path"], None if body.get("content") is None else _b64decode(body["content"])
        ),
        ("POST", "modified-at"): lambda: emu.set_modified_at(body["path"], body.get("value")),
        ("POST", "generate"): lambda: {
            "objects": emu.load_generated(
                int(body["n"]), int(body.get("seed", 0)), body.get("root", "/Clients")
            )
        },
        ("GET", "objects"): lambda: {"objects": emu.objects()},
        ("GET", "snapshot"): lambda: {
            "objects": {
                p: base64.b64encode(c).decode() for p, c in emu.snapshot(query.get("root", "/")).items()
            }
        },
        ("GET", "counters"): emu.counters,
        ("POST", "reset-counters"): emu.reset_counters,
        ("POST", "faults"): lambda: emu.set_faults(
            **{k: body[k] for k in ("fault_rate", "drop_rate", "latency_ms", "rates") if k in body}
        ),
        ("POST", "reset-faults"): emu.reset_faults,
        ("POST", "failures"): lambda: emu.inject_failure(
            body["path_prefix"],
            tuple(body.get("endpoints", ("export",))),
            int(body.get("status", 500)),
            body.get("error_code", "INTERNAL_ERROR"),
        ),
        ("POST", "clear-failures"): emu.clear_failures,
        ("POST", "tokens"): lambda: emu.add_token(body["token"]),
    }
    route = routes.get((method, name))
    if route is None:
        raise _error_reply(
            404, "ENDPOINT_NOT_FOUND", f"No emulator control endpoint {method} /_emulator/{name}"
        )
    try:
        result = route()
    except KeyError as exc:
        raise _error_reply(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {exc.args[0]}") from exc
    except (ValueError, TypeError) as exc:
        raise _error_reply(400, "INVALID_PARAMETER_VALUE", str(exc)) from exc
    return result if result is not None else {}


# -- HTTP plumbing ------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: WorkspaceEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is normal (drops, shutdown); anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging: it would cost throughput."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self._read_body()
        route = API_ROUTES.get((method, url.path))
        try:
            if route is not None:
                self._api(emu, route, query, raw)
            elif url.path.startswith("/_emulator/"):
                emu._check_token(self.headers.get("Authorization"))
                body = self._json(raw)
                raise _json_reply(200, _control(emu, method, url.path[len("/_emulator/") :], query, body))
            else:
                raise _error_reply(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {url.path}'")
        except _Reply as reply:
            self._send(reply)
        except WorkspaceError as exc:
            self._send(_error_reply(exc.status, exc.error_code, exc.message))

    def _api(
        self, emu: WorkspaceEmulator, route: tuple[str, _Handler], query: dict[str, str], raw: bytes
    ) -> None:
        endpoint, handler = route
        emu._count(endpoint, "requests")
        try:
            latency = emu.config.latency_ms
            if latency:
                time.sleep(latency / 1000)
            emu._check_token(self.headers.get("Authorization"))
            emu._throttle(endpoint)
            drop, fault = emu._roll()
            if drop:
                emu._count(endpoint, "dropped")
                self.close_connection = True
                return
            if fault == 500:
                raise _error_reply(500, "INTERNAL_ERROR", "Internal error. Please try again later.")
            if fault == 503:
                raise _error_reply(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable.")
            body = self._body(raw) if self.command == "POST" else {}
            emu._check_failures(endpoint, query.get("path") or body.get("path"))
            raise _json_reply(200, handler(emu, query, body))
        except WorkspaceError as exc:
            reply = _error_reply(exc.status, exc.error_code, exc.message)
        except _Reply as exc:
            reply = exc
        emu._count(endpoint, _counter_key(reply.status))
        self._send(reply)

    def _read_body(self) -> bytes:
        """The request body, with ``Content-Length`` or ``Transfer-Encoding: chunked``."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _body(self, raw: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            return _parse_multipart(content_type, raw)
        return self._json(raw)

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise WorkspaceError(400, "MALFORMED_REQUEST", "Request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise WorkspaceError(400, "MALFORMED_REQUEST", "Request body must be a JSON object.")
        return body

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


def _counter_key(status: int) -> str:
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "ok"


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body; the ``content`` part stays bytes, the others become text."""
    boundary = next(
        (p.split("=", 1)[1].strip('"') for p in content_type.split(";") if p.strip().startswith("boundary=")),
        None,
    )
    if not boundary:
        raise WorkspaceError(400, "MALFORMED_REQUEST", "multipart body without boundary")
    fields: dict[str, Any] = {}
    for part in raw.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        value = value[:-2] if value.endswith(b"\r\n") else value
        disposition = next(
            (line for line in head.decode("utf-8", "replace").split("\r\n") if "name=" in line), ""
        )
        name = disposition.split('name="', 1)[-1].split('"', 1)[0]
        fields[name] = value if name == "content" else value.decode("utf-8")
    return fields


# -- CLI -------------------------------------------------------------------------------------------------


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (0-65535): {text!r}")
    return int(text)


def _count_arg(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a non-negative integer: {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="python -m gitsync_devkit.emulator", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--workspace", type=Path, help="load this directory (notebooks as .py/.sql/.scala/.r sources)"
    )
    source.add_argument(
        "--generate", type=_count_arg, metavar="N", help="generate a synthetic workspace of N notebooks"
    )
    parser.add_argument("--port", type=_port, required=True, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", required=True, help="the accepted bearer token")
    parser.add_argument("--root", default="/Clients", help="workspace folder to load into (default /Clients)")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0)
    parser.add_argument(
        "--export-rps", type=_non_negative, default=0.0, help="export requests/s (0 = unlimited)"
    )
    parser.add_argument("--list-rps", type=_non_negative, default=0.0, help="list requests/s (0 = unlimited)")
    parser.add_argument(
        "--import-rps", type=_non_negative, default=0.0, help="import requests/s (0 = unlimited)"
    )
    parser.add_argument("--fault-rate", type=_fraction, default=0.0)
    parser.add_argument("--drop-rate", type=_fraction, default=0.0)
    parser.add_argument("--missing-modified-at-rate", type=_fraction, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workspace is not None and not args.workspace.is_dir():
        parser.error(f"workspace directory not found: {args.workspace}")
    if not args.root.startswith("/"):
        parser.error(f"--root must be an absolute workspace path: {args.root!r}")
    config = EmulatorConfig(
        latency_ms=args.latency_ms,
        rates={
            "export": args.export_rps or None,
            "list": args.list_rps or None,
            "import": args.import_rps or None,
        },
        fault_rate=args.fault_rate,
        drop_rate=args.drop_rate,
        missing_modified_at_rate=args.missing_modified_at_rate,
        seed=args.seed,
    )
    emu = WorkspaceEmulator(token=args.token, config=config)
    if args.workspace is not None:
        count = emu.load_directory(args.workspace, root=args.root)
    else:
        count = emu.load_generated(args.generate, seed=args.seed, root=args.root)
    try:
        emu.start(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"workspace emulator: {count} objects under {args.root}, listening on {emu.url}", flush=True)
    if args.ready_file is not None:
        args.ready_file.write_text(emu.url + "\n")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
