"""Produce v0-2 (Kafka 0.8-0.10 clients, and librdkafka with ``broker.version.fallback`` below 0.10.1
and ``api.version.request=false``), written by hand: kio generates only the versions Kafka 4 keeps
(Produce v3+). The same plain dicts as kio's later versions, so one handler serves every version.

Request (header v1, then): acks int16, timeout int32, topics [name string, partitions [index
int32, records bytes: a legacy message set]]. Response (header v0, then): topics [name string,
partitions [index int32, error_code int16, base_offset int64, log_append_time int64 (v2+)]],
throttle_time_ms int32 (v1+).
Must not: read the message sets (``kraft.protocol.kafka.message_sets``) or know what Produce does.
"""

from __future__ import annotations

import struct
from typing import Any

from kraft import errors

API_KEY = 0
VERSIONS = range(0, 3)

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class _Reader:
    def __init__(self, data: memoryview, pos: int) -> None:
        self.data, self.pos = data, pos

    def _take(self, fmt: struct.Struct) -> int:
        if self.pos + fmt.size > len(self.data):
            raise errors.MalformedFrame("produce v0-2 request ends early")
        (value,) = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return int(value)

    def i16(self) -> int:
        return self._take(_I16)

    def i32(self) -> int:
        return self._take(_I32)

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise errors.MalformedFrame(f"produce v0-2 field of {n} bytes overruns the request")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def string(self) -> str | None:
        n = self.i16()
        return None if n == -1 else self.raw(n).decode("utf-8", errors="replace")

    def count(self) -> int:
        n = self.i32()
        if n < 0 or n > len(self.data):  # each element takes at least a byte: a bound, not a guess
            raise errors.MalformedFrame(f"produce v0-2 array of {n} elements")
        return n


def read_header(frame: bytes) -> tuple[int, str | None, int]:
    """(correlation id, client id, body position) of a request header v1 (key, version, id, client)."""
    r = _Reader(memoryview(frame), 0)
    r.i16(), r.i16()
    correlation_id = r.i32()
    return correlation_id, r.string(), r.pos


def decode_request(frame: bytes, pos: int) -> dict[str, Any]:
    """The body of a Produce v0-2 request starting at ``pos``, named as Produce v3+'s fields."""
    r = _Reader(memoryview(frame), pos)
    acks, timeout = r.i16(), r.i32()
    topics = []
    for _ in range(r.count()):
        name = r.string()
        parts = []
        for _ in range(r.count()):
            index = r.i32()
            n = r.i32()
            parts.append({"index": index, "records": None if n == -1 else r.raw(n)})
        topics.append({"name": name, "partition_data": parts})
    return {"transactional_id": None, "acks": acks, "timeout": timeout, "topic_data": topics}


def encode_response(version: int, body: dict[str, Any]) -> bytes:
    """A Produce v0-2 response body from the dict the handler answers (Produce v3+'s names)."""
    out = [_I32.pack(len(body.get("responses") or ()))]
    for t in body.get("responses") or ():
        name = str(t["name"]).encode()
        out += [_I16.pack(len(name)), name, _I32.pack(len(t["partition_responses"]))]
        for p in t["partition_responses"]:
            out += [_I32.pack(p["index"]), _I16.pack(p.get("error_code", 0)), _I64.pack(p.get("base_offset", -1))]
            if version >= 2:
                out.append(_I64.pack(p.get("log_append_time", -1)))
    if version >= 1:
        out.append(_I32.pack(body.get("throttle_time_ms", 0)))
    return b"".join(out)
