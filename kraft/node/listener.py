"""What both client front ends (native and Kafka protocol) share: a TCP listener on the node's
asyncio loop, the connection limit, and the cut-off for clients that do not read their answers.

Owns: accepting, counting and refusing connections. Must not: parse bytes (each front end does).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import ClassVar

from kraft.node.context import NodeServices
from kraft.node.stats import RequestStats

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 1 << 20


class Listener:
    front_end: ClassVar[str]  # how metrics and logs name this front end ("kraft" native, "kafka")

    def __init__(self, services: NodeServices, host: str, port: int, max_frame_bytes: int, max_connections: int,
                 max_in_flight: int = 256, max_buffer_bytes: int = 64 << 20,
                 stats: RequestStats | None = None) -> None:
        self.services = services  # what the handlers call
        self.stats = stats if stats is not None else RequestStats()  # requests, shared by both front ends
        self.host = host
        self.port = port
        self.max_frame_bytes = max_frame_bytes
        self.max_connections = max_connections
        self.max_in_flight = max_in_flight
        self.max_buffer_bytes = max_buffer_bytes
        self.connections = 0
        self.connections_accepted = 0
        self.connections_refused = 0  # over max_connections
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.Task[None]] = set()  # the connection tasks, cancelled by ``close``

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``host``:``port``, or on ``sock`` when given (bound already, e.g. to port 0)."""
        if sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=sock, limit=READ_CHUNK_BYTES)
            return
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=READ_CHUNK_BYTES)

    async def close(self) -> None:
        """Stop listening and end every open connection, waiting for them (a clean stop: no task of
        a connection is left for the loop's shutdown to cancel, which printed CancelledError
        tracebacks from inside the streams' own callbacks)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._open)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.max_connections:
            self.connections_refused += 1
            writer.close()
            return
        self.connections += 1
        self.connections_accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._open.add(task)
        try:
            await self.serve_connection(reader, writer)
        except asyncio.CancelledError:
            pass  # ``close``: the node is stopping; ending here is the clean way out
        finally:
            if task is not None:
                self._open.discard(task)
            self.connections -= 1

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def unread_answers_over_limit(self, writer: asyncio.StreamWriter) -> bool:
        """True (and the connection aborted) when a client has stopped reading its answers: the node
        must not hold them all."""
        if writer.transport.get_write_buffer_size() <= self.max_buffer_bytes:
            return False
        log.warning("closing a connection with over %d bytes of unread answers", self.max_buffer_bytes)
        writer.transport.abort()
        return True
