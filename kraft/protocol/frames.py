"""Sans-I/O codec for native-protocol frames (docs/native-protocol.md, "Frames").

A frame is a 4-byte big-endian length ``N`` followed by ``N`` bytes of msgpack. Requests are
``[correlation_id, api, body]`` and responses ``[correlation_id, error_code, body]``.

This module owns bytes <-> frames only. It never touches a socket, a clock or an event loop: the
node's server and the client's connection feed it bytes and write out what it returns.

Decoding is total: any input either yields frames or raises :class:`~kraft.errors.MalformedFrame` /
:class:`~kraft.errors.FrameTooLarge` (both mean "close this connection"), never another exception.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from kraft.errors import FrameTooLarge, MalformedFrame

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
LENGTH_PREFIX_BYTES = 4

_LENGTH = struct.Struct(">I")
_MAX_LENGTH = 0xFFFFFFFF
# Compacting the buffer costs a copy of what is left; doing it only once the consumed prefix is
# both large and at least half the buffer keeps the total copying linear in the bytes received.
_COMPACT_MIN_BYTES = 64 * 1024


def _pack_frame(payload: list[Any]) -> bytes:
    body: bytes = msgpack.packb(payload, use_bin_type=True)
    if len(body) > _MAX_LENGTH:
        raise ValueError(f"frame of {len(body)} bytes does not fit a 4-byte length prefix")
    return _LENGTH.pack(len(body)) + body


def encode_request(correlation_id: int, api: str, body: dict[str, Any]) -> bytes:
    """One request frame, length prefix included."""
    return _pack_frame([correlation_id, api, body])


def encode_response(correlation_id: int, error_code: int, body: dict[str, Any]) -> bytes:
    """One response frame, length prefix included."""
    return _pack_frame([correlation_id, error_code, body])


def _unpack_payload(payload: bytes | bytearray | memoryview) -> list[Any]:
    try:
        # unpackb bounds every str/bin/array/map length by len(payload), so a hostile length
        # inside the frame cannot make it allocate more than the frame itself. Map keys may be
        # ints (node_status "peers"), hence strict_map_key=False.
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:  # msgpack raises many types (ValueError, TypeError, StackError, ...)
        raise MalformedFrame(f"undecodable msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, list):
        raise MalformedFrame(f"frame is a {type(obj).__name__}, not an array")
    return obj


class FrameDecoder:
    """Turns a byte stream into msgpack frames.

    ``feed`` bytes as they arrive, then call ``next_frame`` until it returns None. After it has
    raised, the stream is out of sync and the decoder must not be used again.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0  # start of the first unconsumed byte in _buf
        self.last_frame_bytes = 0  # the size of the frame ``next_frame`` returned last (without its prefix)

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_frame(self) -> list[Any] | None:
        """The next decoded frame array, or None when more bytes are needed."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < LENGTH_PREFIX_BYTES:
            return None
        (length,) = _LENGTH.unpack_from(buf, pos)
        if length > self.max_frame_bytes:
            raise FrameTooLarge(f"frame of {length} bytes is over the limit of {self.max_frame_bytes}")
        start = pos + LENGTH_PREFIX_BYTES
        end = start + length
        if len(buf) < end:
            return None
        # Unpacked in place (a slice would copy the frame, a megabyte for a fetch answer, only for
        # msgpack to copy its records out again); the views are released before _compact resizes.
        with memoryview(buf) as view, view[start:end] as payload:
            frame = _unpack_payload(payload)
        self.last_frame_bytes = length
        self._pos = end
        self._compact()
        return frame

    def _compact(self) -> None:
        pos = self._pos
        if pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif pos >= _COMPACT_MIN_BYTES and pos * 2 >= len(self._buf):
            del self._buf[:pos]
            self._pos = 0


def _is_int(value: object) -> bool:
    # bool is an int subclass; msgpack true/false must not pass as a number.
    return isinstance(value, int) and not isinstance(value, bool)


def decode_request(frame: list[Any]) -> tuple[int, str, dict[str, Any]]:
    """``(correlation_id, api, body)`` of a request frame; MalformedFrame if the shape is wrong."""
    if len(frame) != 3:
        raise MalformedFrame(f"request frame has {len(frame)} elements, expected 3")
    correlation_id, api, body = frame
    if not _is_int(correlation_id):
        raise MalformedFrame("request correlation_id is not an int")
    if not isinstance(api, str):
        raise MalformedFrame("request api is not a str")
    if not isinstance(body, dict):
        raise MalformedFrame("request body is not a map")
    return correlation_id, api, body


def decode_response(frame: list[Any]) -> tuple[int, int, dict[str, Any]]:
    """``(correlation_id, error_code, body)`` of a response frame; MalformedFrame if malformed."""
    if len(frame) != 3:
        raise MalformedFrame(f"response frame has {len(frame)} elements, expected 3")
    correlation_id, error_code, body = frame
    if not _is_int(correlation_id):
        raise MalformedFrame("response correlation_id is not an int")
    if not _is_int(error_code):
        raise MalformedFrame("response error_code is not an int")
    if not isinstance(body, dict):
        raise MalformedFrame("response body is not a map")
    return correlation_id, error_code, body
