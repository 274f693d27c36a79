"""A TCP proxy on 127.0.0.1 that holds back each HTTP request by a fixed delay: a local server (Azurite) with
the round trip of a remote one (a storage account in another data centre).

It reads the HTTP/1.1 requests on each client connection (keep-alive included): when the first bytes of a
request arrive, it waits ``delay_ms`` before passing them on, then forwards the request's headers and body
(``Content-Length`` or chunked) as they come; the responses flow back untouched. It counts the requests it
has seen and keeps their method and target. It only ever connects to 127.0.0.1, and runs in threads of the
process that enters it, until it exits (or that process ends).

``python -m gitsync_devkit.delay_proxy UPSTREAM_PORT DELAY_MS`` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import sys
import threading
import time

CHUNK = 65536
METHODS = (b"GET", b"PUT", b"POST", b"HEAD", b"DELETE", b"PATCH", b"OPTIONS", b"MERGE")
MAX_HEADER_BYTES = 1 << 20


class _Connection(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        client = self.request
        try:
            upstream = socket.create_connection(("127.0.0.1", proxy.upstream_port))
        except OSError:
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with proxy.tracking(client, upstream):
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            try:
                _Requests(client, upstream, proxy).forward()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)
            back.join()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    proxy: DelayProxy


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends; then end ``target``'s sending side."""
    try:
        while data := source.recv(CHUNK):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


class _Requests:
    """The client-to-server side of one connection, request by request."""

    def __init__(self, client: socket.socket, upstream: socket.socket, proxy: DelayProxy) -> None:
        self.client, self.upstream, self.proxy = client, upstream, proxy
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.client.recv(CHUNK)
        self.buffer += data
        return bool(data)

    def _send(self, size: int) -> None:
        """Forward the first ``size`` bytes of the buffer."""
        self.upstream.sendall(self.buffer[:size])
        self.buffer = self.buffer[size:]

    def forward(self) -> None:
        while self.buffer or self._fill():
            while b"\r\n\r\n" not in self.buffer:
                if len(self.buffer) > MAX_HEADER_BYTES or not self._fill():
                    self._raw()
                    return
            head, _, _ = self.buffer.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            request = lines[0].split(b" ")
            if len(request) != 3 or request[0] not in METHODS:
                self._raw()
                return
            self.proxy.record(request[0].decode(), request[1].decode("latin-1"))
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            self._send(len(head) + 4)
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                self._chunked()
            else:
                self._body(int(headers.get(b"content-length", b"0")))

    def _body(self, size: int) -> None:
        while size:
            if not self.buffer and not self._fill():
                raise ConnectionAbortedError
            part = min(size, len(self.buffer))
            self._send(part)
            size -= part

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionAbortedError
        line, _, _ = self.buffer.partition(b"\r\n")
        self._send(len(line) + 2)
        return line

    def _chunked(self) -> None:
        while size := int(self._line().split(b";")[0], 16):
            self._body(size + 2)  # the chunk and its CRLF
        while self._line():  # trailers, up to the empty line
            pass

    def _raw(self) -> None:
        """Not HTTP as expected: pass the rest through as it is."""
        self._send(len(self.buffer))
        while self._fill():
            self._send(len(self.buffer))


class DelayProxy:
    """A context manager: a proxy on a free port of 127.0.0.1 (:attr:`port`) to 127.0.0.1:``upstream_port``
    that delays each HTTP request by ``delay_ms``; :attr:`requests` lists what it has seen as
    ``(method, target)``, in order."""

    def __init__(self, upstream_port: int, delay_ms: float) -> None:
        self.upstream_port = upstream_port
        self.delay = delay_ms / 1000
        self.requests: list[tuple[str, str]] = []
        self.port = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def count(self) -> int:
        """The number of requests seen so far."""
        return len(self.requests)

    def record(self, method: str, target: str) -> None:
        """A request begins: counted, then held back by the delay."""
        with self._lock:
            self.requests.append((method, target))
        if self.delay:
            time.sleep(self.delay)

    @contextlib.contextmanager
    def tracking(self, *sockets: socket.socket):
        with self._lock:
            self._open.update(sockets)
        try:
            yield
        finally:
            with self._lock:
                self._open.difference_update(sockets)
            for sock in sockets:
                sock.close()

    def __enter__(self) -> DelayProxy:
        self._server = _Server(("127.0.0.1", 0), _Connection)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:  # wakes up the threads of the connections still open
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("delay_ms", type=float)
    args = parser.parse_args(argv)
    with DelayProxy(args.upstream_port, args.delay_ms) as proxy:
        print(
            f"http://127.0.0.1:{proxy.port} -> 127.0.0.1:{args.upstream_port}, {args.delay_ms:g} ms",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
