"""The Raft host's frames (kraft.raft.host): ``_frame_into`` writes length-prefixed msgpack frames
through one packer the host keeps, so each frame must come out whole and alone, entries of any
size among them, and a value that does not pack must leave nothing behind for the next frame."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from kraft.log.memory_store import MemoryStore
from kraft.raft.host import LEN, RaftHost
from kraft.testing.local_cluster import free_ports

BIG = bytes(range(256)) * 2048  # 512 KiB: larger than the packer's first buffer would need


@pytest.fixture
def host() -> Iterator[RaftHost]:
    (port,) = free_ports(1)
    h = RaftHost(1, ("127.0.0.1", port), {}, MemoryStore())  # not started: frames only
    try:
        yield h
    finally:
        h._shutdown()  # never started: closes its listener, selector and wake pipe


def frames(buf: bytes | bytearray) -> list[Any]:
    out, pos = [], 0
    while pos < len(buf):
        (size,) = LEN.unpack_from(buf, pos)
        out.append(msgpack.unpackb(buf[pos + 4:pos + 4 + size], raw=False, strict_map_key=False))
        pos += 4 + size
    assert pos == len(buf)
    return out


@pytest.mark.parametrize("messages", [
    [[]],  # a ping
    [[[7, {"entries": [[b"x", 3]], "term": 2}]]],
    [[[7, {"entries": [[BIG, 3], [BIG, 3]], "term": 2}]], [], [[9, {"ok": True}]]],  # big, then small ones
])
def test_frames_come_out_whole_and_in_order(host: RaftHost, messages: list[Any]) -> None:
    out = bytearray()
    for obj in messages:
        host._frame_into(out, obj)
    assert frames(out) == messages


def test_a_value_that_does_not_pack_leaves_nothing_for_the_next_frame(host: RaftHost) -> None:
    out = bytearray()
    with pytest.raises(TypeError):
        host._frame_into(out, [[1, {"entries": [[BIG, object()]]}]])
    assert out == b""
    host._frame_into(out, [[1, {"ok": True}]])
    assert frames(out) == [[[1, {"ok": True}]]]


def test_the_packer_of_a_frame_over_the_keep_size_is_replaced(host: RaftHost) -> None:
    out = bytearray()
    kept = host._packer
    host._frame_into(out, [[1, {"entries": [[BIG, 1]]}]])
    assert host._packer is kept  # 512 KiB: kept
    host._frame_into(out, [[1, {"entries": [[BIG, 1]] * 20}]])  # 10 MiB
    assert host._packer is not kept
    assert len(frames(out)) == 2
