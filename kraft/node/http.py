"""The node's HTTP listener (``http_port``): a table of paths to handlers, served from a thread.

Owns: the socket, one thread per request (stdlib ``ThreadingHTTPServer``), the route table
(``Routes``: exact path -> handler and the methods it takes; the console, ``kraft.console``, adds
its own paths to it), request bodies (POST, at most ``BODY_BYTES_MAX``), and the answer to a path
nobody serves (404), a method a path does not take (405), a body too large (413) or a handler that
fails (500 plus a logged traceback; the listener goes on). A handler takes the ``Request`` and
returns a ``Response``.
Why a thread and not the node's asyncio loop: a scrape of thousands of partitions takes tens of
milliseconds of Python, which on the loop would hold up every client request for that long; and a
liveness probe answered by the loop's own thread could not tell a stuck loop from a live one
(``kraft.node.health`` checks the loop's heartbeat from here instead).
Must not: know what a path means (handlers do) or touch node state itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

BODY_BYTES_MAX = 1 << 20  # a console form or a test message; nothing served here takes more


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased

    def form(self) -> dict[str, list[str]]:
        """An ``application/x-www-form-urlencoded`` body's fields (blank values kept)."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()  # more headers (Location of a redirect, caching, CSP)


Handler = Callable[[Request], Response]


class Routes:
    """Exact paths to handlers; each path takes GET (and HEAD) unless it says which methods."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Handler, frozenset[str]]] = {}

    def add(self, path: str, handler: Handler, methods: tuple[str, ...] = ("GET",)) -> None:
        if path in self._handlers:
            raise ValueError(f"{path} is served already")
        allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
        self._handlers[path] = (handler, frozenset(allowed))

    def paths(self) -> list[str]:
        return sorted(self._handlers)

    def answer(self, request: Request) -> Response:
        found = self._handlers.get(request.path)
        if found is None:
            listing = "\n".join(self.paths())
            return Response(404, f"no such path: {request.path}\nserved here:\n{listing}\n".encode())
        handler, methods = found
        if request.method not in methods:
            return Response(405, f"{request.path} takes {', '.join(sorted(methods))}\n".encode(),
                            headers=(("Allow", ", ".join(sorted(methods))),))
        try:
            return handler(request)
        except Exception:
            log.exception("HTTP handler of %s failed", request.path)
            return Response(500, b"internal error; see the node's log\n")


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus scrapes over one connection

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_POST(self) -> None:
        self._serve(send_body=True)

    def _read_body(self) -> bytes | None:
        """The request's body; None when it is larger than ``BODY_BYTES_MAX`` (not read)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > BODY_BYTES_MAX:
            self.close_connection = True  # its unread body would be taken for the next request
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            response = Response(413, f"a request body is at most {BODY_BYTES_MAX} bytes\n".encode())
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = self.server.routes.answer(Request(self.command, parts.path,
                                                         parse_qs(parts.query, keep_blank_values=True), body, headers))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every few seconds is not worth a log line


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that keeps its connection open must not hold up the node's stop
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: Routes) -> None:
        self.routes = routes
        super().__init__(address, _RequestHandler)


class HttpServer:
    """Serves ``routes`` on ``host:port`` from a background thread (port 0: any free port)."""

    def __init__(self, host: str, port: int, routes: Routes) -> None:
        self.routes = routes
        self._server = _Server((host, port), routes)  # binds now: OSError if the port is taken
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
