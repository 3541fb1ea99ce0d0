"""The native-protocol front end: an asyncio TCP server that turns frames into broker calls.

Owns: connections from clients, pipelining (each request runs as its own task, bounded per
connection), each request's ``HandlerContext``, and a failed request's answer (its error as
``kraft.node.handlers._errors`` puts it on the wire). A malformed or oversized frame closes that one
connection; an unexpected exception in a handler becomes UNKNOWN_SERVER_ERROR plus a logged traceback.
An optional ``Interceptor`` sits in front of the handler dispatch: the in-process test cluster's
request faults (kraft.testing); a node process never has one.
Must not: hold domain logic (handlers and the broker do).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kraft import errors
from kraft.node import logs
from kraft.node.context import HandlerContext, NodeServices
from kraft.node.handlers import HANDLERS
from kraft.node.handlers._errors import request_error
from kraft.node.listener import READ_CHUNK_BYTES, Listener
from kraft.node.stats import RequestStats
from kraft.protocol.frames import FrameDecoder, decode_request, encode_response

log = logging.getLogger(__name__)


Dispatch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Interceptor(Protocol):
    """Sees every request before the handlers: returns the answer body (usually ``await
    dispatch(api, body)``'s), raises a KraftError to answer with its code, or returns None to send
    no answer at all."""

    async def __call__(self, api: str, body: dict[str, Any], dispatch: Dispatch) -> dict[str, Any] | None: ...


class ClientServer(Listener):
    front_end = "kraft"

    def __init__(self, services: NodeServices, host: str, port: int, max_frame_bytes: int, max_connections: int,
                 max_in_flight: int = 256, max_buffer_bytes: int = 64 << 20, *,
                 interceptor: Interceptor | None = None, stats: RequestStats | None = None) -> None:
        super().__init__(services, host, port, max_frame_bytes, max_connections, max_in_flight, max_buffer_bytes,
                         stats)
        self.interceptor = interceptor

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(self.max_frame_bytes)
        tasks: set[asyncio.Task[None]] = set()
        peer = writer.get_extra_info("peername")
        ctx = HandlerContext(self.services, peer[0] if isinstance(peer, tuple) else "")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            while True:
                data = await reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                decoder.feed(data)
                while (frame := decoder.next_frame()) is not None:
                    cid, api, body = decode_request(frame)
                    if len(tasks) >= self.max_in_flight:
                        # Refuse at once rather than queue without bound or stall this reader.
                        self._send(writer, cid, *request_error(errors.TooManyInFlight(
                            f"{len(tasks)} requests unanswered on this connection "
                            f"(max_in_flight_requests={self.max_in_flight})")))
                        continue
                    if api == "produce":
                        self.stats.size(self.front_end, "produce", decoder.last_frame_bytes)
                    task = asyncio.create_task(self._answer(writer, ctx, client, cid, api, body))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except (errors.MalformedFrame, errors.FrameTooLarge) as e:
            log.warning("closing connection from %s: %s", peer, e)
        except (ConnectionError, OSError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    async def dispatch(self, ctx: HandlerContext, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """The handler's answer to one request (a KraftError for an error answer)."""
        handler = HANDLERS.get(api)
        if handler is None:
            raise errors.UnsupportedRequest(f"unknown request type {api!r}")
        return await handler(ctx, body)

    async def _answer(self, writer: asyncio.StreamWriter, ctx: HandlerContext, client: str, cid: int, api: str,
                      body: dict[str, Any]) -> None:
        stats = self.stats
        name = api if api in HANDLERS else "unknown"  # a client's made-up names must not grow the metrics
        stats.started(self.front_end)
        started = time.perf_counter()
        failed: errors.KraftError | None = None
        try:
            if self.interceptor is None:
                answer: dict[str, Any] | None = await self.dispatch(ctx, api, body)
            else:
                answer = await self.interceptor(api, body, functools.partial(self.dispatch, ctx))
            if answer is None:
                stats.abandoned(self.front_end)
                return  # the interceptor lost this answer on purpose
            code, result = 0, answer
        except errors.KraftError as e:
            failed = e
            logs.request_error(self.front_end, name, client, "", e)
            code, result = request_error(e)
        except asyncio.CancelledError:
            stats.abandoned(self.front_end)  # its connection closed: no answer, nothing to count
            raise
        except Exception:
            failed = errors.KraftError("internal error; see the node's log")
            logs.request_error(self.front_end, name, client, "", failed, unexpected=True)
            code, result = request_error(failed)
        stats.finished(self.front_end, name, time.perf_counter() - started, None if failed is None else failed.name)
        self._send(writer, cid, code, result, fetch=api == "fetch")

    def _send(self, writer: asyncio.StreamWriter, cid: int, code: int, result: dict[str, Any], *,
              fetch: bool = False) -> None:
        if writer.is_closing() or self.unread_answers_over_limit(writer):
            return
        frame = encode_response(cid, code, result)
        if fetch:
            self.stats.size(self.front_end, "fetch", len(frame))
        writer.write(frame)

