"""``kraft console``: the web console on a port of its own, outside any node.

Owns: an HTTP listener with only the console's routes, pointed at a cluster by its bootstrap list
(its nodes' HTTP addresses too when a cluster.ini names them: CPU, memory, versions and charts
come from those), until SIGINT/SIGTERM.
Must not: serve /metrics or /health (those are a node's own).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType

from kraft.console.app import Console
from kraft.console.cluster import ConsoleCluster
from kraft.node.http import HttpServer, Routes


def serve(bootstrap: str, http_nodes: Mapping[int, str], host: str, port: int, *, read_only: bool,
          ready: Callable[[int], None] | None = None) -> None:
    """Serve the console on ``host:port`` (0: any free port; ``ready`` gets the port) until a signal."""
    cluster = ConsoleCluster(bootstrap, http_nodes)
    routes = Routes()
    Console(cluster, read_only=read_only).add_routes(routes)
    server = HttpServer(host, port, routes)  # OSError when the port is taken
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        if ready is not None:
            ready(server.port)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        cluster.close()
