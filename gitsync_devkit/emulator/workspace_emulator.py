"""``WorkspaceEmulator``: the in-memory workspace served over HTTP, and the methods tests control it with."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from gitsync_devkit.emulator.faults import EmulatorConfig, Faults
from gitsync_devkit.emulator.formats import check_language, classify_upload
from gitsync_devkit.emulator.handlers import ENDPOINTS
from gitsync_devkit.emulator.model import CONTENT_TYPES, Node, Workspace
from gitsync_devkit.emulator.replies import error_reply
from gitsync_devkit.emulator.server import EmulatorServer
from gitsync_devkit.workspace_generator import generate_workspace

COUNTER_KEYS = ("requests", "ok", "429", "5xx", "dropped", "4xx")


class WorkspaceEmulator:
    """In-process emulator: ``start()`` serves it, the other methods are the test control API."""

    def __init__(self, token: str = "dapi-test", config: EmulatorConfig | None = None) -> None:
        self.workspace = Workspace()
        self._faults = Faults(config or EmulatorConfig())
        self._tokens = {token}
        self._lock = threading.Lock()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_counters()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> WorkspaceEmulator:
        """Listen on ``host:port`` (0 = any free port) in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = EmulatorServer((host, port), self)
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
        return self._faults.config

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
                path_, object_type, language = classify_upload(target, data)
                self.workspace.write(path_, object_type, data, language, create_parents=True)
            count += 1
        return count

    def put_notebook(self, path: str, source: bytes, language: str = "PYTHON") -> None:
        """Create or overwrite a notebook (parents created); ``source`` is its SOURCE export."""
        self.workspace.write(path, "NOTEBOOK", source, check_language(language), create_parents=True)

    def put_file(self, path: str, data: bytes) -> None:
        self.workspace.write(path, "FILE", data, create_parents=True)

    def mkdirs(self, path: str) -> None:
        self.workspace.mkdirs(path)

    def delete(self, path: str, recursive: bool = False) -> None:
        self.workspace.delete(path, recursive)

    def rename(self, old: str, new: str) -> None:
        self.workspace.rename(old, new)

    def modify_notebook(self, path: str, source: bytes | None = None, touch: bool = True) -> None:
        """Write new bytes (``None``: append a deterministic cell); object_id stays, modified_at bumps
        unless ``touch`` is False (the content changes behind an unchanged ``modified_at``)."""
        self.workspace.modify(path, source, touch)

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
        self._faults.update(**{k: v for k, v in changes.items() if v is not None})

    def reset_faults(self) -> None:
        """Back to the knobs the emulator was created with."""
        self._faults.reset()

    def inject_failure(
        self,
        path_prefix: str,
        endpoints: Iterable[str] = ("export",),
        status: int = 500,
        error_code: str = "INTERNAL_ERROR",
    ) -> None:
        """Fail every request on ``endpoints`` for a path under ``path_prefix`` until cleared."""
        self._faults.inject_failure(path_prefix, endpoints, status, error_code)

    def clear_failures(self) -> None:
        self._faults.clear_failures()

    # -- request pipeline (called by the server and the handlers) ------------------------------------

    def _count(self, endpoint: str, key: str) -> None:
        with self._lock:
            counters = self._counters[endpoint]
            counters[key] += 1

    def _check_token(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise error_reply(
                401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API."
            )
        with self._lock:
            known = token.strip() in self._tokens
        if not known:
            raise error_reply(403, "PERMISSION_DENIED", "Invalid access token.")

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
        if (
            shown == "real"
            and node.object_type in CONTENT_TYPES
            and self._faults.hides_modified_at(node.object_id)
        ):
            shown = "missing" if node.object_id % 2 else "zero"
        if shown != "missing":
            info["modified_at"] = node.modified_at if shown == "real" else 0
        if node.object_type in CONTENT_TYPES:
            info["size"] = node.size
        return info
