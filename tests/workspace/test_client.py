"""WorkspaceClient against a scripted local HTTP server: retries, errors, limits, concurrency."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_gitsync.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    TransientError,
    WorkspaceError,
)
from airflow_gitsync.workspace.client import WorkspaceClient


class Scripted:
    """Answers per (endpoint, path) from a queue of scripted replies, then a default reply."""

    def __init__(self):
        self.replies: dict[tuple[str, str], deque] = defaultdict(deque)
        self.default: dict[tuple[str, str], tuple] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next_reply(self, endpoint, path):
        with self.lock:
            queue = self.replies[(endpoint, path)]
            if queue:
                return queue.popleft()
        return self.default.get((endpoint, path), (404, {}, {"error_code": "RESOURCE_DOES_NOT_EXIST"}))


@pytest.fixture
def server():
    scripted = Scripted()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_one(self, body):
            url = urlsplit(self.path)
            endpoint = url.path.rsplit("/", 1)[-1]
            path = parse_qs(url.query).get("path", [None])[0] or (body or {}).get("path")
            with scripted.lock:
                scripted.requests.append(
                    {"endpoint": endpoint, "path": path, "query": url.query, "body": body, **self.headers}
                )
            reply = scripted.next_reply(endpoint, path)
            if reply == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, payload = reply
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            if reply[0] == "truncate":
                status, data = 200, b"partial"
                headers = {"Content-Length": "1000"}
            self.send_response(status)
            for key, value in {"Content-Length": str(len(data)), **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            if reply[0] == "truncate":
                self.close_connection = True

        def do_GET(self):
            self.handle_one(None)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            self.handle_one(json.loads(self.rfile.read(length)))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield scripted
    httpd.shutdown()
    httpd.server_close()


def make_client(server, **kwargs):
    kwargs = {"max_workers": 4, "backoff_base": 0.01, "max_retry_seconds": 5, **kwargs}
    return WorkspaceClient(server.url, lambda: "dapi-test", **kwargs)


THROTTLED = (429, {"Retry-After": "1"}, {"error_code": "REQUEST_LIMIT_EXCEEDED"})
OK_LIST = (200, {}, {"objects": [{"path": "/a/x", "object_type": "NOTEBOOK"}]})


def test_list_and_empty_folder(server):
    server.default[("list", "/a")] = OK_LIST
    server.default[("list", "/empty")] = (200, {}, {})
    with make_client(server, user_agent="gitsync-test") as client:
        assert client.list("/a") == [{"path": "/a/x", "object_type": "NOTEBOOK"}]
        assert client.list("/empty") == []
    assert server.requests[0]["Authorization"] == "Bearer dapi-test"
    assert server.requests[0]["User-Agent"] == "gitsync-test"


def test_export_direct_and_base64(server):
    server.default[("export", "/a/x")] = (200, {}, b"# Databricks notebook source\n\x00\xff")
    with make_client(server) as client:
        assert client.export("/a/x") == b"# Databricks notebook source\n\x00\xff"
    assert "format=SOURCE" in server.requests[0]["query"]
    assert "direct_download=true" in server.requests[0]["query"]
    content = base64.b64encode(b"print(1)").decode()
    server.default[("export", "/a/y")] = (200, {}, {"content": content, "file_type": "py"})
    with make_client(server) as client:
        assert client.export("/a/y", direct_download=False) == b"print(1)"


def test_post_endpoints(server):
    for endpoint in ("import", "delete", "mkdirs"):
        server.default[(endpoint, "/a/n")] = (200, {}, {})
    server.default[("get-status", "/a/n")] = (200, {}, {"path": "/a/n", "object_type": "NOTEBOOK"})
    with make_client(server) as client:
        client.import_("/a/n", b"print(1)", "PYTHON", overwrite=True)
        client.mkdirs("/a/n")
        client.delete("/a/n", recursive=True)
        assert client.get_status("/a/n")["object_type"] == "NOTEBOOK"
    body = server.requests[0]["body"]
    assert body == {
        "path": "/a/n",
        "content": base64.b64encode(b"print(1)").decode(),
        "format": "SOURCE",
        "language": "PYTHON",
        "overwrite": True,
    }
    assert server.requests[2]["body"] == {"path": "/a/n", "recursive": True}


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        ((404, {}, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}), NotFoundError, "gone"),
        ((400, {}, {"error_code": "MAX_NOTEBOOK_SIZE_EXCEEDED", "message": "big"}), TooLargeError, "big"),
        (
            (400, {}, {"error_code": "BAD_REQUEST", "message": "Size exceeds 10485760 bytes"}),
            TooLargeError,
            "Size exceeds",
        ),
        ((401, {}, {"error_code": "UNAUTHENTICATED", "message": "bad token"}), AuthError, "127.0.0.1"),
        ((403, {}, {"error_code": "PERMISSION_DENIED", "message": "no"}), AuthError, "token"),
        ((400, {}, {"error_code": "INVALID_PARAMETER_VALUE", "message": "odd"}), WorkspaceError, "odd"),
        ((400, {}, b"not json"), WorkspaceError, "not json"),
    ],
)
def test_typed_errors_are_not_retried(server, reply, error, text):
    server.default[("export", "/a/x")] = reply
    with make_client(server) as client, pytest.raises(error, match=text) as info:
        client.export("/a/x")
    assert info.value.path == "/a/x" and info.value.status == reply[0]
    assert len(server.requests) == 1


def test_retries_5xx_and_dropped_connections(server):
    server.replies[("export", "/a/x")].extend(
        [(500, {}, {}), "drop", (503, {}, {}), ("truncate", {}, {}), (502, {}, {}), (504, {}, {})]
    )
    server.default[("export", "/a/x")] = (200, {}, b"content")
    with make_client(server) as client:
        assert client.export("/a/x") == b"content"
        stats = client.stats()["export"]
    assert stats["calls"] == 7 and stats["retries"] == 6 and stats["http_429"] == 0


def test_retry_after_is_honoured_and_pauses_the_endpoint(server):
    server.replies[("export", "/a/x")].append(THROTTLED)
    server.default[("export", "/a/x")] = (200, {}, b"ok")
    with make_client(server) as client:
        start = time.monotonic()
        assert client.export("/a/x") == b"ok"
        assert time.monotonic() - start >= 0.95
        stats = client.stats()["export"]
    assert stats["http_429"] == 1 and stats["retries"] == 1 and stats["throttled_seconds"] >= 0.9


def test_rate_limited_for_too_long(server):
    server.default[("list", "/a")] = THROTTLED
    client = make_client(server, max_retry_seconds=2.5)
    with client, pytest.raises(RateLimitedError, match="rate lim"):
        client.list("/a")
    assert 2 <= len(server.requests) <= 3


def test_persistent_5xx_is_bounded(server):
    server.default[("list", "/a")] = (500, {}, {"error_code": "INTERNAL_ERROR", "message": "boom"})
    with make_client(server, max_retry_seconds=0.5, backoff_base=0.05) as client:
        with pytest.raises(TransientError, match="boom"):
            client.list("/a")
        stats = client.stats()["list"]
        assert stats["retries"] >= 1 and stats["backoff_seconds"] <= 0.5  # it gave up within its budget


def test_client_side_rate_limit(server):
    server.default[("list", "/a")] = OK_LIST
    with make_client(server, rates={"list": 20}) as client:
        start = time.monotonic()
        list(client.map_concurrent(lambda _: client.list("/a"), range(21)))
        assert time.monotonic() - start >= 0.95


def test_walk_lists_folders_in_parallel_and_reports_failures(server):
    server.default[("list", "/r")] = (
        200,
        {},
        {"objects": [{"path": f"/r/{d}", "object_type": "DIRECTORY"} for d in ("a", "b", "gone")]},
    )
    server.default[("list", "/r/a")] = (200, {}, {"objects": [{"path": "/r/a/n", "object_type": "NOTEBOOK"}]})
    server.default[("list", "/r/b")] = (400, {}, {"error_code": "INVALID_STATE", "message": "broken"})
    failures = {}
    with make_client(server) as client:
        paths = sorted(o["path"] for o in client.walk("/r", on_error=lambda f, e: failures.setdefault(f, e)))
        assert paths == ["/r/a", "/r/a/n", "/r/b", "/r/gone"]
        assert list(failures) == ["/r/b"]
        with pytest.raises(WorkspaceError, match="broken"):
            list(client.walk("/r"))


def test_walk_raises_fatal_errors_even_with_on_error(server):
    server.default[("list", "/r")] = (401, {}, {"error_code": "UNAUTHENTICATED"})
    with make_client(server) as client, pytest.raises(AuthError):
        list(client.walk("/r", on_error=lambda f, e: None))


def test_map_concurrent_runs_in_parallel_and_propagates(server):
    together = threading.Barrier(8, timeout=30)  # breaks unless 8 calls are in flight at once

    def meet(i):
        together.wait()
        return i

    with make_client(server, max_workers=8) as client:
        assert sorted(client.map_concurrent(meet, range(16))) == list(range(16))

        def boom(i):
            if i == 3:
                raise ValueError("item 3")
            return i

        with pytest.raises(ValueError, match="item 3"):
            list(client.map_concurrent(boom, range(100)))


def test_token_and_extra_headers_per_request(server):
    server.default[("list", "/a")] = OK_LIST
    tokens = iter(["t1", "t2"])
    extra = {"X-Databricks-Azure-SP-Management-Token": "m"}
    client = WorkspaceClient(server.url, lambda: next(tokens), headers_provider=lambda: extra)
    with client:
        client.list("/a")
        client.list("/a")
    assert [r["Authorization"] for r in server.requests] == ["Bearer t1", "Bearer t2"]
    assert server.requests[0]["X-Databricks-Azure-SP-Management-Token"] == "m"


def test_retry_after_on_503_holds_only_that_call(server):
    server.replies[("export", "/a/slow")].append(
        (503, {"Retry-After": "1"}, {"error_code": "TEMPORARILY_UNAVAILABLE"})
    )
    server.default[("export", "/a/slow")] = (200, {}, b"slow")
    server.default[("export", "/a/fast")] = (200, {}, b"fast")
    with make_client(server) as client:
        slow = client._executor.submit(client.export, "/a/slow")
        while not server.requests:  # the 503 is on its way: the slow call backs off
            time.sleep(0.01)
        assert client.export("/a/fast") == b"fast"
        # the limiter spaced the two calls at its rate and no more: the Retry-After held nobody back
        assert client.stats()["export"]["throttled_seconds"] <= 1 / client.rates["export"]
        assert slow.result() == b"slow"
        assert client.stats()["export"]["backoff_seconds"] == 1
