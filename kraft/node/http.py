"""The node's HTTP listener (``http_port``): a table of paths to handlers, served from a thread.

Owns: the socket, one thread per request (stdlib ``ThreadingHTTPServer``), the route table
(``Routes``: exact path -> handler; a later console adds its own paths to it), and the answer to a
path nobody serves (404) or a handler that fails (500 plus a logged traceback; the listener goes
on). A handler takes the ``Request`` and returns a ``Response``.
Why a thread and not the node's asyncio loop: a scrape of thousands of partitions takes tens of
milliseconds of Python, which on the loop would hold up every client request for that long; and a
liveness probe answered by the loop's own thread could not tell a stuck loop from a live one
(``kraft.node.health`` checks the loop's heartbeat from here instead).
Must not: know what a path means (handlers do) or touch node state itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[Request], Response]


class Routes:
    """Exact paths to handlers (GET and HEAD)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, path: str, handler: Handler) -> None:
        if path in self._handlers:
            raise ValueError(f"{path} is served already")
        self._handlers[path] = handler

    def paths(self) -> list[str]:
        return sorted(self._handlers)

    def answer(self, request: Request) -> Response:
        handler = self._handlers.get(request.path)
        if handler is None:
            listing = "\n".join(self.paths())
            return Response(404, f"no such path: {request.path}\nserved here:\n{listing}\n".encode())
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

    def _serve(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        response = self.server.routes.answer(Request(self.command, parts.path, parse_qs(parts.query)))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
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
