"""A loopback HTTP/1.1 reverse proxy that records every request it forwards and can delay each one.

Put between the Azure SDK and Azurite (point ``azureBlobEndpoint`` at it) to count the storage requests a read
makes, in the driver and in Spark's worker processes alike, and to add a fixed round trip per request (the
ADLS latency benchmark). Requests are forwarded one at a time per client connection over a kept-alive
upstream connection; responses are read whole and sent back with a Content-Length (fine for test sizes).
The standard library has no reverse proxy, hence this small one.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade", "te"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # URL path without the query: /<account>/<container>[/<blob>]
    query: dict[str, list[str]]

    @property
    def kind(self) -> str:
        """``list`` (container listing page), ``read`` (blob GET), ``properties`` (blob HEAD), else the method."""
        comp = self.query.get("comp", [""])[0]
        if self.method == "GET" and comp == "list":
            return "list"
        if self.method == "GET" and not comp and self.path.count("/") >= 3:
            return "read"
        if self.method == "HEAD" and self.path.count("/") >= 3:
            return "properties"
        return self.method.lower()


class CountingProxy:
    """``with CountingProxy(upstream_port, delay=0.02) as proxy:`` serves on ``proxy.port``."""

    def __init__(self, upstream_port: int, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.delay = delay
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._active = 0
        self.peak = 0  # most requests in flight at once since the last reset
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def endpoint(self, upstream_endpoint: str) -> str:
        """``upstream_endpoint`` (``http://127.0.0.1:<port>/<account>``) rewritten to go through this proxy."""
        parts = urlsplit(upstream_endpoint)
        return f"{parts.scheme}://{parts.hostname}:{self.port}{parts.path}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def kinds(self) -> Counter[str]:
        return Counter(r.kind for r in self.requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self.peak = self._active

    def _record(self, method: str, target: str) -> None:
        parts = urlsplit(target)
        with self._lock:
            self._requests.append(Request(method, parts.path, parse_qs(parts.query)))
            self._active += 1
            self.peak = max(self.peak, self._active)

    def _done(self) -> None:
        with self._lock:
            self._active -= 1

    def __enter__(self) -> CountingProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="counting-proxy")
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy._record(self.command, self.path)
                try:
                    self._send_upstream(body)
                finally:
                    proxy._done()

            def _send_upstream(self, body: bytes | None) -> None:
                if proxy.delay:
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                for attempt in range(2):  # a kept-alive upstream connection Azurite closed: reconnect once
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        response = self.upstream.getresponse()
                        data = response.read()
                        break
                    except (http.client.HTTPException, OSError):
                        self.upstream.close()
                        self.upstream = None
                        if attempt:
                            raise
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                if self.command == "HEAD":  # no body: pass the object's length through
                    self.send_header("Content-Length", response.getheader("Content-Length") or "0")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward  # noqa: N815

        return Handler


__all__ = ["CountingProxy", "Request"]
