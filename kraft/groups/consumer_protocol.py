"""Kafka's "consumer" embedded protocol: the subscription and assignment bytes inside JoinGroup and
SyncGroup, which Kafka clients write and the broker otherwise treats as opaque.

The coordinator reads the topics out of a subscription (so a topic growing triggers a rebalance and
``kraft group describe`` shows what a Kafka member subscribed to) and the partitions out of an
assignment (for describe). Unreadable bytes are not an error here: the group keeps working, it only
knows less about the member.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def i16(self) -> int:
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def string(self) -> str:
        n = self.i16()
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("bad string length")
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def count(self) -> int:
        n = self.i32()
        if n < -1 or n > len(self.data):
            raise ValueError("bad array length")
        return max(n, 0)


def subscription_topics(metadata: bytes) -> list[str] | None:
    """The topics of a ConsumerProtocolSubscription (any version), or None if unreadable."""
    try:
        r = _Reader(metadata)
        r.i16()
        return sorted({r.string() for _ in range(r.count())})
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


def assignment_partitions(assignment: bytes) -> list[tuple[str, int]] | None:
    """The partitions of a ConsumerProtocolAssignment (any version), or None if unreadable."""
    if not assignment:
        return []
    try:
        r = _Reader(assignment)
        r.i16()
        out: list[tuple[str, int]] = []
        for _ in range(r.count()):
            topic = r.string()
            out.extend((topic, r.i32()) for _ in range(r.count()))
        return sorted(out)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


def encode_subscription(topics: Iterable[str], user_data: bytes = b"") -> bytes:
    """Version 0 subscription bytes (tests and tools)."""
    topics = list(topics)
    parts = [_I16.pack(0), _I32.pack(len(topics))]
    for t in topics:
        parts.append(_string(t))
    parts.append(_I32.pack(len(user_data)) + user_data)
    return b"".join(parts)


def encode_assignment(partitions: Iterable[tuple[str, int]]) -> bytes:
    """Version 0 assignment bytes (tests and tools)."""
    by_topic: dict[str, list[int]] = {}
    for topic, p in partitions:
        by_topic.setdefault(topic, []).append(p)
    parts = [_I16.pack(0), _I32.pack(len(by_topic))]
    for topic, ps in sorted(by_topic.items()):
        parts.append(_string(topic) + _I32.pack(len(ps)) + b"".join(_I32.pack(p) for p in sorted(ps)))
    parts.append(_I32.pack(-1))
    return b"".join(parts)


def _string(s: str) -> bytes:
    b = s.encode()
    return _I16.pack(len(b)) + b
