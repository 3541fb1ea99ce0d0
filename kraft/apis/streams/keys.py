"""Byte layouts of store keys. Keys are msgpack-encoded (a prefix-free code, so one key's bytes
are never a prefix of another's and a prefix scan finds exactly one key's entries), followed by
big-endian times, so LMDB's byte order is (key, time) order."""

from __future__ import annotations

import struct
from typing import Any

from .serdes import INTERNAL

_TIME = struct.Struct(">q")
_UNIQ = struct.Struct(">Iq")


def enc(key: Any) -> bytes:
    return INTERNAL.serialize(key) or b""


def dec(data: bytes) -> Any:
    return INTERNAL.deserialize(data)


def pack_time(ms: int) -> bytes:
    return _TIME.pack(ms)


def unpack_time(data: bytes, at: int = 0) -> int:
    return int(_TIME.unpack_from(data, at)[0])


def window_key(kbytes: bytes, start_ms: int) -> bytes:
    return kbytes + _TIME.pack(start_ms)


def session_key(kbytes: bytes, start_ms: int, end_ms: int) -> bytes:
    return kbytes + _TIME.pack(end_ms) + _TIME.pack(start_ms)


def join_key(kbytes: bytes, ts: int, source: int, offset: int) -> bytes:
    return kbytes + _TIME.pack(ts) + _UNIQ.pack(source, offset)


JOIN_SUFFIX_BYTES = 8 + _UNIQ.size


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string starting with ``prefix`` (None: no bound)."""
    b = bytearray(prefix)
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return None
    b[-1] += 1
    return bytes(b)
