"""A git smart-HTTP server with authentication, standing in for Azure DevOps in tests and demos.

Real ``git http-backend`` (CGI) behind :class:`http.server.ThreadingHTTPServer`, so both ends of
every fetch and push are real git. Requests must authenticate with HTTP Basic (any user name, the
token as password: Azure DevOps' PAT style) or ``Authorization: Bearer <token>``; anything else is
answered 401. ``max_push_bytes`` refuses larger pushes with 413, to exercise chunked pushes.

    python -m gitsync_devkit.git_server --root DIR --port P --user U --token T \\
        [--max-push-bytes N] [--create REPO] [--ready-file PATH]
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_COPY_CHUNK = 1 << 16
_CGI_HEADERS = {
    "Content-Type": "CONTENT_TYPE",
    "Content-Encoding": "HTTP_CONTENT_ENCODING",
    "Git-Protocol": "HTTP_GIT_PROTOCOL",
}


@dataclass(frozen=True)
class PushRecord:
    """One ``git-receive-pack`` request: its body size, the ref updates it asked for, the answer."""

    bytes: int
    refs: list[tuple[str, str, str]]  # (old id, new id, ref name)
    status: int
    user: str


def _http_backend() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout
    return str(Path(exec_path.strip()) / "git-http-backend")


def _parse_ref_updates(head: bytes) -> list[tuple[str, str, str]]:
    """The ``old new ref`` commands at the start of a receive-pack body (pkt-lines up to a flush)."""
    refs, pos = [], 0
    while pos + 4 <= len(head):
        try:
            size = int(head[pos : pos + 4], 16)
        except ValueError:
            break
        if size == 0 or pos + size > len(head):
            break
        line = head[pos + 4 : pos + size].split(b"\0", 1)[0].strip()
        parts = line.decode(errors="replace").split(" ")
        if len(parts) == 3:
            refs.append((parts[0], parts[1], parts[2]))
        pos += size
    return refs


def _read_chunked(rfile: BinaryIO, sink: BinaryIO) -> int:
    """Copy a ``Transfer-Encoding: chunked`` body from ``rfile`` to ``sink``; return its size."""
    total = 0
    while True:
        size = int(rfile.readline().split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline().strip():  # trailers, then the final blank line
                pass
            return total
        remaining = size
        while remaining:
            block = rfile.read(min(remaining, _COPY_CHUNK))
            if not block:
                raise ConnectionError("chunked body ended early")
            sink.write(block)
            remaining -= len(block)
        total += size
        rfile.readline()


def _read_sized(rfile: BinaryIO, sink: BinaryIO, length: int) -> int:
    remaining = length
    while remaining:
        block = rfile.read(min(remaining, _COPY_CHUNK))
        if not block:
            raise ConnectionError("request body ended early")
        sink.write(block)
        remaining -= len(block)
    return length


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:
        log.debug("git server: %s", format % args)

    def do_GET(self) -> None:
        if "/_apis/git/repositories/" in urlsplit(self.path).path:
            self._repository_info()
        else:
            self._serve()

    def _repository_info(self) -> None:
        """Azure DevOps' ``GET {project}/_apis/git/repositories/{name}``: the repository's compressed
        size (its object files' bytes), for the backup's size watch."""
        if self._authenticated_user() is None:
            self._reply(401, "authentication required", {"WWW-Authenticate": 'Basic realm="git"'})
            return
        base, _, name = urlsplit(self.path).path.partition("/_apis/git/repositories/")
        root = self.server.git_server.root.resolve()
        repo = (root / base.lstrip("/") / "_git" / name).resolve()
        if "/" in name or not repo.is_relative_to(root) or not (repo / "objects").is_dir():
            self._reply(404, f"TF401019: the repository {name} does not exist")
            return
        size = sum(f.stat().st_size for f in (repo / "objects").rglob("*") if f.is_file())
        body = json.dumps({"name": name, "size": size}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._serve()

    def _authenticated_user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = self.server.git_server.token.encode()
        if scheme.lower() == "bearer":
            return "bearer" if hmac.compare_digest(value.strip().encode(), token) else None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).partition(b":")
            except ValueError:
                return None
            if hmac.compare_digest(password, token):
                return user.decode(errors="replace") or self.server.git_server.user
        return None

    def _reply(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = (message + "\n").encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        with tempfile.TemporaryFile() as body:
            size = self._read_body(body)
            user = self._authenticated_user()
            if user is None:
                self._reply(401, "authentication required", {"WWW-Authenticate": 'Basic realm="git"'})
                return
            url = urlsplit(self.path)
            is_push = url.path.endswith("/git-receive-pack") and self.command == "POST"
            limit = self.server.git_server.max_push_bytes
            if is_push and limit is not None and size > limit:
                self._record_push(body, size, 413, user)
                self._reply(413, f"push of {size} bytes exceeds the limit of {limit} bytes")
                return
            body.seek(0)
            status = self._run_backend(body, size, url.path, url.query, user)
            if is_push and size > 4:  # a lone flush-pkt is git's probe before a chunked push
                self._record_push(body, size, status, user)

    def _read_body(self, sink: BinaryIO) -> int:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _read_chunked(self.rfile, sink)
        return _read_sized(self.rfile, sink, int(self.headers.get("Content-Length") or 0))

    def _record_push(self, body: BinaryIO, size: int, status: int, user: str) -> None:
        body.seek(0)
        refs = [] if self.headers.get("Content-Encoding") else _parse_ref_updates(body.read(1 << 16))
        self.server.git_server.record_push(PushRecord(size, refs, status, user))

    def _run_backend(self, body: BinaryIO, size: int, path: str, query: str, user: str) -> int:
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.server.git_server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(size),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            # Partial clones and fetches of single blobs, as Azure DevOps serves them (blob:none and
            # tree:0 filters to every organisation since November 2023).
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "uploadpack.allowFilter",
            "GIT_CONFIG_VALUE_0": "true",
            "GIT_CONFIG_KEY_1": "uploadpack.allowAnySHA1InWant",
            "GIT_CONFIG_VALUE_1": "true",
        }
        for header, variable in _CGI_HEADERS.items():
            if value := self.headers.get(header):
                env[variable] = value
        proc = subprocess.Popen(
            [self.server.git_server.backend],
            stdin=body,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stderr = threading.Thread(target=self._drain_stderr, args=(proc.stderr,), daemon=True)
        stderr.start()
        status = self._relay_response(proc.stdout)
        proc.wait()
        stderr.join()
        return status

    @staticmethod
    def _drain_stderr(stream: BinaryIO) -> None:
        for line in stream:
            log.debug("git http-backend: %s", line.decode(errors="replace").rstrip())

    def _relay_response(self, stdout: BinaryIO) -> int:
        status, headers = 200, []
        for raw in iter(stdout.readline, b""):
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        shutil.copyfileobj(stdout, self.wfile, _COPY_CHUNK)
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    git_server: GitServer


@dataclass
class GitServer:
    """Serve the bare repositories under ``root`` over authenticated smart HTTP."""

    root: Path
    user: str = "backup"
    token: str = "pat-secret"
    max_push_bytes: int | None = None
    push_log: list[PushRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.backend = _http_backend()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GitServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.git_server = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="git-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> GitServer:
        return self if self._httpd else self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the git server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, repo: str) -> str:
        return f"{self.base_url}/{repo}"

    def create_repo(self, name: str) -> Path:
        """A new bare repository ``name`` under the root, accepting pushes over HTTP."""
        path = self.root / name
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"repository {name!r} is outside {self.root}")
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)], check=True)
        # Pushes are accepted over HTTP; like a hosted service, no gc runs inside a push.
        for key, value in (("http.receivepack", "true"), ("receive.autogc", "false"), ("gc.auto", "0")):
            subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
        return path

    def record_push(self, record: PushRecord) -> None:
        with self._lock:
            self.push_log.append(record)

    def serve_until_signalled(self) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        self.stop()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"error: {message}\n")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


_positive.__name__ = "positive integer"


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


_port.__name__ = "port (0-65535)"


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m gitsync_devkit.git_server", description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, type=Path, help="directory holding the bare repositories")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0)
    parser.add_argument("--user", default="backup")
    parser.add_argument("--token", required=True, help="PAT / bearer token accepted as password")
    parser.add_argument("--max-push-bytes", type=_positive, default=None)
    parser.add_argument("--create", action="append", default=[], metavar="REPO", help="create a bare repo")
    parser.add_argument("--ready-file", type=Path, help="write the base URL here once listening")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token must not be empty")
    if args.root.exists() and not args.root.is_dir():
        parser.error(f"--root {args.root} is not a directory")
    server = GitServer(args.root, args.user, args.token, args.max_push_bytes)
    try:
        server.start(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
    for repo in args.create:
        if not (args.root / repo).exists():
            server.create_repo(repo)
    print(f"git server on {server.base_url} serving {args.root}", flush=True)
    if args.ready_file:
        args.ready_file.write_text(server.base_url + "\n")
    server.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
