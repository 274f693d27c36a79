"""The HTTP/1.1 server: reads requests (``Content-Length``, chunked or multipart), runs each Workspace API
request through latency, auth, rate limit, drop, fault, injected failure and handler, and counts the
outcome."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from gitsync_devkit.emulator.control import control
from gitsync_devkit.emulator.handlers import API_ROUTES, Handler
from gitsync_devkit.emulator.model import WorkspaceError
from gitsync_devkit.emulator.replies import Reply, error_reply, json_reply

if TYPE_CHECKING:
    from gitsync_devkit.emulator.workspace_emulator import WorkspaceEmulator


class EmulatorServer(ThreadingHTTPServer):
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
    server: EmulatorServer

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
                raise json_reply(200, control(emu, method, url.path[len("/_emulator/") :], query, body))
            else:
                raise error_reply(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {url.path}'")
        except Reply as reply:
            self._send(reply)
        except WorkspaceError as exc:
            self._send(error_reply(exc.status, exc.error_code, exc.message))

    def _api(
        self, emu: WorkspaceEmulator, route: tuple[str, Handler], query: dict[str, str], raw: bytes
    ) -> None:
        endpoint, handler = route
        emu._count(endpoint, "requests")
        try:
            latency = emu.config.latency_ms
            if latency:
                time.sleep(latency / 1000)
            emu._check_token(self.headers.get("Authorization"))
            emu._faults.throttle(endpoint)
            drop, fault = emu._faults.roll()
            if drop:
                emu._count(endpoint, "dropped")
                self.close_connection = True
                return
            if fault == 500:
                raise error_reply(500, "INTERNAL_ERROR", "Internal error. Please try again later.")
            if fault == 503:
                raise error_reply(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable.")
            body = self._body(raw) if self.command == "POST" else {}
            emu._faults.check_failures(endpoint, query.get("path") or body.get("path"))
            raise json_reply(200, handler(emu, query, body))
        except WorkspaceError as exc:
            reply = error_reply(exc.status, exc.error_code, exc.message)
        except Reply as exc:
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

    def _send(self, reply: Reply) -> None:
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
