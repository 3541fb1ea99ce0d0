"""The request versions of Kafka 0.8-0.10 that kio does not generate (it has only what Kafka 4
keeps), written by hand: Produce v0-2, Fetch v0-3 and ListOffsets v0, for clients pinned to an old
protocol (Kafka 0.9/0.10 clients, librdkafka with ``broker.version.fallback`` below 0.10.1 and
``api.version.request=false``). Each decodes to, and encodes from, the same plain dicts as kio's
later versions of its API, so one handler serves every version.

Produce v0-2: acks int16, timeout int32, topics [name, partitions [index int32, records bytes]];
answer topics [name, partitions [index int32, error_code int16, base_offset int64,
log_append_time int64 (v2)]], throttle_time_ms int32 (v1+).
Fetch v0-3: replica_id, max_wait, min_bytes int32, max_bytes int32 (v3), topics [topic, partitions
[partition int32, fetch_offset int64, partition_max_bytes int32]]; answer throttle_time_ms int32
(v1+), topics [topic, partitions [partition_index int32, error_code int16, high_watermark int64,
records bytes]].
ListOffsets v0: replica_id int32, topics [name, partitions [partition_index int32, timestamp int64,
max_num_offsets int32]]; answer topics [name, partitions [partition_index int32, error_code int16,
old_style_offsets [int64]]].
Request headers are v1 (key, version, correlation id, client id), response headers v0.
Must not: read record bytes (message sets: ``kraft.protocol.kafka.message_sets``) or know what an
API does. Malformed input is MalformedFrame.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from kraft import errors

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class _Reader:
    def __init__(self, data: memoryview, pos: int) -> None:
        self.data, self.pos = data, pos

    def _take(self, fmt: struct.Struct) -> int:
        if self.pos + fmt.size > len(self.data):
            raise errors.MalformedFrame("legacy request ends early")
        (value,) = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return int(value)

    def i16(self) -> int:
        return self._take(_I16)

    def i32(self) -> int:
        return self._take(_I32)

    def i64(self) -> int:
        return self._take(_I64)

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise errors.MalformedFrame(f"legacy request field of {n} bytes overruns the request")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def string(self) -> str | None:
        n = self.i16()
        return None if n == -1 else self.raw(n).decode("utf-8", errors="replace")

    def count(self) -> int:
        n = self.i32()
        if n < 0 or n > len(self.data):  # each element takes at least a byte: a bound, not a guess
            raise errors.MalformedFrame(f"legacy request array of {n} elements")
        return n


def _string(s: object) -> bytes:
    data = str(s).encode()
    return _I16.pack(len(data)) + data


def _bytes(b: bytes | None) -> bytes:
    return _I32.pack(-1) if b is None else _I32.pack(len(b)) + b


# --- Produce v0-2 ------------------------------------------------------------------------------------

def _produce_request(r: _Reader, version: int) -> dict[str, Any]:
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


def _produce_response(version: int, body: dict[str, Any]) -> bytes:
    topics = body.get("responses") or ()
    out = [_I32.pack(len(topics))]
    for t in topics:
        out += [_string(t["name"]), _I32.pack(len(t["partition_responses"]))]
        for p in t["partition_responses"]:
            out += [_I32.pack(p["index"]), _I16.pack(p.get("error_code", 0)), _I64.pack(p.get("base_offset", -1))]
            if version >= 2:
                out.append(_I64.pack(p.get("log_append_time", -1)))
    if version >= 1:
        out.append(_I32.pack(body.get("throttle_time_ms", 0)))
    return b"".join(out)


# --- Fetch v0-3 --------------------------------------------------------------------------------------

def _fetch_request(r: _Reader, version: int) -> dict[str, Any]:
    body: dict[str, Any] = {"replica_id": r.i32(), "max_wait": r.i32(), "min_bytes": r.i32()}
    if version >= 3:
        body["max_bytes"] = r.i32()
    topics = []
    for _ in range(r.count()):
        name = r.string()
        parts = [{"partition": r.i32(), "fetch_offset": r.i64(), "partition_max_bytes": r.i32(),
                  "current_leader_epoch": -1, "log_start_offset": -1} for _ in range(r.count())]
        topics.append({"topic": name, "partitions": parts})
    body.update(isolation_level=0, session_id=0, session_epoch=-1, topics=topics, forgotten_topics_data=[])
    return body


def _fetch_response(version: int, body: dict[str, Any]) -> bytes:
    out = [_I32.pack(body.get("throttle_time_ms", 0))] if version >= 1 else []
    topics = body.get("responses") or ()
    out.append(_I32.pack(len(topics)))
    for t in topics:
        out += [_string(t["topic"]), _I32.pack(len(t["partitions"]))]
        for p in t["partitions"]:
            out += [_I32.pack(p["partition_index"]), _I16.pack(p.get("error_code", 0)),
                    _I64.pack(p.get("high_watermark", -1)), _bytes(p.get("records") or b"")]
    return b"".join(out)


# --- ListOffsets v0 ----------------------------------------------------------------------------------

def _list_offsets_request(r: _Reader, version: int) -> dict[str, Any]:
    replica_id = r.i32()
    topics = []
    for _ in range(r.count()):
        name = r.string()
        parts = []
        for _ in range(r.count()):
            index, timestamp, _max_offsets = r.i32(), r.i64(), r.i32()
            parts.append({"partition_index": index, "timestamp": timestamp, "current_leader_epoch": -1})
        topics.append({"name": name, "partitions": parts})
    return {"replica_id": replica_id, "isolation_level": 0, "topics": topics}


def _list_offsets_response(version: int, body: dict[str, Any]) -> bytes:
    topics = body.get("topics") or ()
    out = [_I32.pack(len(topics))]
    for t in topics:
        out += [_string(t["name"]), _I32.pack(len(t["partitions"]))]
        for p in t["partitions"]:
            code, offset = p.get("error_code", 0), p.get("offset", -1)
            offsets = [offset] if code == 0 and offset >= 0 else []  # v0's list: one offset, or none
            out += [_I32.pack(p["partition_index"]), _I16.pack(code), _I32.pack(len(offsets)),
                    *(_I64.pack(o) for o in offsets)]
    return b"".join(out)


# api key -> (versions, request decoder, response encoder)
_APIS: dict[int, tuple[range, Callable[[_Reader, int], dict[str, Any]], Callable[[int, dict[str, Any]], bytes]]] = {
    0: (range(0, 3), _produce_request, _produce_response),
    1: (range(0, 4), _fetch_request, _fetch_response),
    2: (range(0, 1), _list_offsets_request, _list_offsets_response),
}


def is_legacy(api_key: int, api_version: int) -> bool:
    """Whether (key, version) is one of this module's."""
    api = _APIS.get(api_key)
    return api is not None and api_version in api[0]


def read_header(frame: bytes) -> tuple[int, str | None, int]:
    """(correlation id, client id, body position) of a request header v1 (key, version, id, client)."""
    r = _Reader(memoryview(frame), 0)
    r.i16(), r.i16()
    correlation_id = r.i32()
    return correlation_id, r.string(), r.pos


def decode_request(api_key: int, api_version: int, frame: bytes, pos: int) -> dict[str, Any]:
    """The body at ``pos`` of a legacy request, named as the API's later versions name it."""
    return _APIS[api_key][1](_Reader(memoryview(frame), pos), api_version)


def encode_response(api_key: int, api_version: int, body: dict[str, Any]) -> bytes:
    """A legacy response body from the dict the handler answers (the later versions' names)."""
    return _APIS[api_key][2](api_version, body)
