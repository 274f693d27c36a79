"""The benchmark's delay proxy: each request over one keep-alive connection held back and counted, bodies
(Content-Length and chunked) passed through intact."""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from gitsync_devkit.delay_proxy import DelayProxy

DELAY_MS = 50


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    clients: list[tuple[str, int]] = []

    def _answer(self, body: bytes) -> None:
        self.clients.append(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(self.path.encode())

    def do_HEAD(self) -> None:
        self._answer(b"")

    def do_PUT(self) -> None:
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(body[::-1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    _Echo.clients = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_each_request_on_a_keep_alive_connection_is_delayed_and_counted(server):
    with DelayProxy(server.server_address[1], DELAY_MS) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        body = bytes(range(256)) * 1000  # larger than one read
        requests = [("GET", "/a?x=1", None), ("PUT", "/b", body), ("HEAD", "/c", None), ("GET", "/d", None)]
        for method, target, content in requests:
            started = time.monotonic()
            connection.request(method, target, body=content)
            response = connection.getresponse()
            answer = response.read()
            assert time.monotonic() - started >= DELAY_MS / 1000
            assert response.status == 200
            assert answer == {"GET": target.encode(), "PUT": (content or b"")[::-1], "HEAD": b""}[method]
        # Chunked: a body of unknown length.
        connection.request("PUT", "/e", body=iter([b"abc", b"", b"defgh"]), encode_chunked=True)
        assert connection.getresponse().read() == b"hgfedcba"
        connection.close()
        assert len(set(_Echo.clients)) == 1  # one connection all along, to the server too
        assert proxy.requests == [(m, t) for m, t, _ in requests] + [("PUT", "/e")]
        assert proxy.count == 5


def test_it_stops_with_connections_still_open(server):
    started = time.monotonic()
    with DelayProxy(server.server_address[1], 0) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        connection.request("GET", "/x")
        assert connection.getresponse().read() == b"/x"
    assert time.monotonic() - started < 2
    connection.close()
