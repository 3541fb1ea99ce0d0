"""One pipelined native-protocol connection to one node (asyncio).

Owns a socket, the frame codec state and the table of requests awaiting an answer. It knows
nothing about metadata, retries or which node is the leader: that is ``client_core``.

Every method runs on the client's event-loop thread. Failures surface as retriable kraft errors:
a lost or unopenable connection is :class:`KraftConnectionError` for every in-flight request, a
request with no answer in time is :class:`RequestTimedOut` (the connection stays usable; a late
answer is dropped).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kraft.errors import FrameTooLarge, KraftConnectionError, MalformedFrame, RequestTimedOut
from kraft.protocol.frames import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, decode_response, encode_request

_CORRELATION_ID_WRAP = 1 << 31
_WRITE_BUFFER_HIGH_BYTES = 4 * 1024 * 1024

Response = tuple[int, dict[str, Any]]  # (error_code, body)


class Connection(asyncio.Protocol):
    """Use :meth:`open`; then :meth:`request` as often as wanted, concurrently."""

    def __init__(self, address: str, max_frame_bytes: int) -> None:
        self.address = address
        self._decoder = FrameDecoder(max_frame_bytes)
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._next_id = 0
        self._lost_reason: str | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    @classmethod
    async def open(
        cls, host: str, port: int, *, connect_timeout_ms: int, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> Connection:
        address = f"{host}:{port}"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout_ms / 1000):
                _, conn = await loop.create_connection(lambda: cls(address, max_frame_bytes), host, port)
        except (OSError, TimeoutError) as exc:
            raise KraftConnectionError(f"cannot connect to {address}: {exc or type(exc).__name__}") from None
        assert conn._transport is not None  # connection_made ran before create_connection returned
        conn._transport.set_write_buffer_limits(high=_WRITE_BUFFER_HIGH_BYTES)
        return conn

    @property
    def closed(self) -> bool:
        return self._lost_reason is not None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def request(self, api: str, body: dict[str, Any], timeout_ms: float) -> Response:
        """Send one request and wait for its answer ``(error_code, body)``."""
        if self._lost_reason is not None or self._transport is None:
            raise KraftConnectionError(f"connection to {self.address} is closed: {self._lost_reason}")
        self._next_id = (self._next_id + 1) % _CORRELATION_ID_WRAP
        cid = self._next_id
        data = encode_request(cid, api, body)  # a TypeError here is the caller's bug: nothing sent
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Response] = loop.create_future()
        self._pending[cid] = fut
        timer = loop.call_later(timeout_ms / 1000, self._expire, cid, api, timeout_ms)
        try:
            self._transport.write(data)
            if not self._writable.is_set():
                await self._writable.wait()
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(cid, None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._lose("closed by client")

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._decoder.feed(data)
        try:
            while (frame := self._decoder.next_frame()) is not None:
                cid, code, body = decode_response(frame)
                fut = self._pending.get(cid)
                if fut is not None and not fut.done():
                    fut.set_result((code, body))
        except (MalformedFrame, FrameTooLarge) as exc:
            # The stream is out of sync: nothing after this point can be trusted.
            self._lose(f"bad frame from node: {exc}")
            if self._transport is not None:
                self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(f"connection lost: {exc}" if exc else "closed by peer")
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- internals --------------------------------------------------------------------------------

    def _lose(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(KraftConnectionError(f"{self.address}: {self._lost_reason}"))
        self._pending.clear()

    def _expire(self, cid: int, api: str, timeout_ms: float) -> None:
        fut = self._pending.pop(cid, None)
        if fut is not None and not fut.done():
            fut.set_exception(RequestTimedOut(f"{api} to {self.address}: no answer in {timeout_ms:.0f} ms"))
