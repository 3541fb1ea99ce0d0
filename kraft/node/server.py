"""The native-protocol front end: an asyncio TCP server that turns frames into broker calls.

Owns: connections from clients, pipelining (each request runs as its own task, bounded per
connection), mapping errors to codes. A malformed or oversized frame closes that one connection;
an unexpected exception in a handler becomes UNKNOWN_SERVER_ERROR plus a logged traceback.
Must not: hold domain logic (handlers and the broker do).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kraft import errors
from kraft.node.broker import Broker
from kraft.node.handlers import HANDLERS
from kraft.protocol.frames import FrameDecoder, decode_request, encode_response

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 1 << 20


class ClientServer:
    def __init__(self, broker: Broker, host: str, port: int, max_frame_bytes: int, max_connections: int,
                 max_in_flight: int = 256, max_buffer_bytes: int = 64 << 20) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.max_frame_bytes = max_frame_bytes
        self.max_connections = max_connections
        self.max_in_flight = max_in_flight
        self.max_buffer_bytes = max_buffer_bytes
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=READ_CHUNK_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.max_connections:
            writer.close()
            return
        self.connections += 1
        decoder = FrameDecoder(self.max_frame_bytes)
        tasks: set[asyncio.Task[None]] = set()
        peer = writer.get_extra_info("peername")
        try:
            while True:
                data = await reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                decoder.feed(data)
                while (frame := decoder.next_frame()) is not None:
                    cid, api, body = decode_request(frame)
                    body["_client_host"] = peer[0] if isinstance(peer, tuple) else ""
                    if len(tasks) >= self.max_in_flight:
                        # Refuse at once rather than queue without bound or stall this reader.
                        self._send(writer, cid, errors.TooManyInFlight.code, {
                            "message": f"{len(tasks)} requests unanswered on this connection "
                                       f"(max_in_flight_requests={self.max_in_flight})"})
                        continue
                    task = asyncio.create_task(self._answer(writer, cid, api, body))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except (errors.MalformedFrame, errors.FrameTooLarge) as e:
            log.warning("closing connection from %s: %s", peer, e)
        except (ConnectionError, OSError):
            pass
        finally:
            self.connections -= 1
            for task in tasks:
                task.cancel()
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, cid: int, api: str, body: dict[str, Any]) -> None:
        try:
            handler = HANDLERS.get(api)
            if handler is None:
                raise errors.UnsupportedRequest(f"unknown request type {api!r}")
            code, result = 0, await handler(self.broker, body)
        except errors.KraftError as e:
            code, result = e.code, {"message": e.message, **_wire_details(e)}
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler %s failed", api)
            code, result = errors.KraftError.code, {"message": "internal error; see the node's log"}
        self._send(writer, cid, code, result)

    def _send(self, writer: asyncio.StreamWriter, cid: int, code: int, result: dict[str, Any]) -> None:
        if writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > self.max_buffer_bytes:
            # A client that does not read its answers must not make the node hold them all.
            log.warning("closing a connection with over %d bytes of unread answers", self.max_buffer_bytes)
            writer.transport.abort()
            return
        writer.write(encode_response(cid, code, result))


def _wire_details(e: errors.KraftError) -> dict[str, Any]:
    return {k: v for k, v in e.details.items() if isinstance(v, (int, str, type(None)))}
