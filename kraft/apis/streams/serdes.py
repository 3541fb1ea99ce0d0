"""Serdes: how the Streams API turns keys and values into bytes and back.

``Serde.bytes``, ``Serde.str`` (UTF-8), ``Serde.int`` (8-byte big-endian signed, as Kafka's
LongSerializer), ``Serde.json``, ``Serde.msgpack`` and ``Serde(serialize=fn, deserialize=fn)``.
``None`` always maps to ``None`` (a tombstone or a missing key), never through the user's functions.

Windowed keys follow Kafka Streams' layout, so a Kafka consumer can read kraft's windowed output:
a time window is the inner key's bytes then the window start (8-byte big-endian ms); a session
window is the inner key's bytes then the session end then its start.
"""

from __future__ import annotations

import builtins
import json as _json
import struct
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import msgpack as _msgpack

from .windows import Windowed

_LONG = struct.Struct(">q")


class Serde:
    """A pair of functions between Python objects and bytes.

    Its class attributes ``bytes``, ``str`` and ``int`` shadow the builtins inside the class body:
    annotations there spell them ``builtins.bytes`` and ``builtins.str``.
    """

    bytes: ClassVar[Serde]
    str: ClassVar[Serde]
    int: ClassVar[Serde]
    json: ClassVar[Serde]
    msgpack: ClassVar[Serde]

    def __init__(self, serialize: Callable[[Any], builtins.bytes], deserialize: Callable[[builtins.bytes], Any],
                 name: builtins.str = "custom") -> None:
        self._serialize = serialize
        self._deserialize = deserialize
        self.name = name

    def serialize(self, obj: Any) -> builtins.bytes | None:
        return None if obj is None else self._serialize(obj)

    def deserialize(self, data: builtins.bytes | None) -> Any:
        return None if data is None else self._deserialize(data)

    def __repr__(self) -> builtins.str:
        return f"Serde.{self.name}"


def _bytes_ser(obj: Any) -> bytes:
    if not isinstance(obj, bytes | bytearray | memoryview):
        raise TypeError(f"Serde.bytes cannot serialize {type(obj).__name__}")
    return bytes(obj)


def _str_ser(obj: Any) -> bytes:
    if not isinstance(obj, str):
        raise TypeError(f"Serde.str cannot serialize {type(obj).__name__}")
    return obj.encode()


def _int_ser(obj: Any) -> bytes:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise TypeError(f"Serde.int cannot serialize {type(obj).__name__}")
    return _LONG.pack(obj)


def _int_de(data: bytes) -> int:
    if len(data) != 8:
        raise ValueError(f"Serde.int needs 8 bytes, got {len(data)}")
    return int(_LONG.unpack(data)[0])


def _json_ser(obj: Any) -> bytes:
    return _json.dumps(obj, separators=(",", ":")).encode()


_packers = threading.local()  # a Packer is several times cheaper than packb() but not thread-safe


def _msgpack_ser(obj: Any) -> bytes:
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = _msgpack.Packer(use_bin_type=True)
    return packer.pack(obj)


def _msgpack_de(data: bytes) -> Any:
    return _msgpack.unpackb(data, raw=False, strict_map_key=False)


Serde.bytes = Serde(_bytes_ser, bytes, "bytes")
Serde.str = Serde(_str_ser, lambda b: b.decode(), "str")
Serde.int = Serde(_int_ser, _int_de, "int")
Serde.json = Serde(_json_ser, _json.loads, "json")
Serde.msgpack = Serde(_msgpack_ser, _msgpack_de, "msgpack")

# Internal topics and stores hold whatever Python objects the user's functions produce; msgpack
# round-trips bytes, str, int, float, bool, None, lists and dicts (tuples come back as lists).
INTERNAL = Serde.msgpack


def infer_serialize(obj: Any) -> bytes | None:
    """Serializer for an output whose serde the user did not give and the topology cannot know:
    bytes as is, str as UTF-8, int as Serde.int, anything else as JSON."""
    if obj is None:
        return None
    if isinstance(obj, bytes | bytearray):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, int) and not isinstance(obj, bool):
        return _LONG.pack(obj)
    return _json_ser(obj)


INFERRED = Serde(lambda o: infer_serialize(o) or b"", bytes, "inferred")


def serialize_windowed(serde: Serde, key: Windowed, session: bool = False) -> bytes:
    inner = serde.serialize(key.key) or b""
    if session:
        return inner + _LONG.pack(key.end_ms) + _LONG.pack(key.start_ms)
    return inner + _LONG.pack(key.start_ms)


def deserialize_windowed(serde: Serde, data: bytes, size_ms: int | None = None, session: bool = False) -> Windowed:
    """Inverse of :func:`serialize_windowed`; a time window's end is start + ``size_ms`` (the
    bytes do not carry it, as in Kafka)."""
    if session:
        if len(data) < 16:
            raise ValueError("a session-windowed key needs at least 16 bytes")
        end, start = _LONG.unpack(data[-16:-8])[0], _LONG.unpack(data[-8:])[0]
        return Windowed(serde.deserialize(data[:-16]), start, end)
    if len(data) < 8:
        raise ValueError("a windowed key needs at least 8 bytes")
    start = _LONG.unpack(data[-8:])[0]
    end = start + size_ms if size_ms is not None else 2**63 - 1
    return Windowed(serde.deserialize(data[:-8]), start, end)


def windowed_serde(inner: Serde, size_ms: int | None = None, session: bool = False) -> Serde:
    """A serde of :class:`Windowed` keys in Kafka Streams' layout."""
    return Serde(lambda k: serialize_windowed(inner, k, session),
                 lambda b: deserialize_windowed(inner, b, size_ms, session), f"windowed({inner.name})")
