"""Joins through the test driver: stream-table, table-table, windowed stream-stream (inner, left,
outer), and the co-partitioning rule."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.apis.streams import JoinWindows, Serde, StreamsBuilder, TopologyError, TopologyTestDriver
from kraft.apis.streams.topics import check_copartitioned

from .streams_backends import both_backends


@pytest.fixture(autouse=True, params=["memory", "lmdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from both_backends(sys.modules[__name__], request, tmp_path, monkeypatch)


def _kv(out):  # type: ignore[no-untyped-def]
    return [(r.key, r.value) for r in out]


def _builder() -> StreamsBuilder:
    return StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)


@pytest.mark.parametrize("how", ["join", "left_join"])
def test_stream_table_join(how: str) -> None:
    b = _builder()
    users = b.table("users", store="users")
    clicks = b.stream("clicks")
    getattr(clicks, how)(users, lambda click, user: f"{click}@{user}").to("enriched")
    d = TopologyTestDriver(b)
    d.pipe_input("clicks", "u1", "c0")        # before the user exists
    d.pipe_input("users", "u1", "alice")
    d.pipe_input("clicks", "u1", "c1")
    d.pipe_input("users", "u1", "alicia")
    d.pipe_input("clicks", "u1", "c2")
    d.pipe_input("users", "u1", None)
    d.pipe_input("clicks", "u1", "c3")
    got = _kv(d.read_output("enriched", Serde.str, Serde.str))
    if how == "join":
        assert got == [("u1", "c1@alice"), ("u1", "c2@alicia")]
    else:
        assert got == [("u1", "c0@None"), ("u1", "c1@alice"), ("u1", "c2@alicia"), ("u1", "c3@None")]


def test_stream_table_join_after_key_change_repartitions_the_stream() -> None:
    b = _builder()
    users = b.table("users", store="users")
    b.stream("clicks").select_key(lambda k, v: v.split(":")[0]).join(users, lambda c, u: u).to("out")
    subs = b.topology.subtopologies()
    join_sub = next(s for s in subs if "users" in s.sources)
    assert join_sub.internal_topics and join_sub.requires_copartition
    d = TopologyTestDriver(b)
    d.pipe_input("users", "u7", "gina")
    d.pipe_input("clicks", None, "u7:home")
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("u7", "gina")]
    # Co-partitioning is of key bytes: the repartition topic's keys are the table's key bytes
    # (Serde.str), not msgpack, so the producer's partitioner puts u7 where the users row is.
    assert [r.key for r in d.read_output(join_sub.internal_topics[0])] == [b"u7"]


def test_stream_stream_join_after_key_change_repartitions_with_the_other_sides_key_bytes() -> None:
    b = _builder()
    rekeyed = b.stream("clicks").select_key(lambda k, v: v.split(":")[0])
    rekeyed.join(b.stream("views"), lambda c, v: f"{c}|{v}", JoinWindows.of(100)).to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("views", "u7", "v", 10)
    d.pipe_input("clicks", None, "u7:c", 20)
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("u7", "u7:c|v")]
    topic = next(t for t in b.topology.repartition_topics)
    assert [r.key for r in d.read_output(topic)] == [b"u7"]


@pytest.mark.parametrize(("how", "expected"), [
    ("join", [("k", "A1+B1"), ("k", "A2+B1"), ("k", None)]),
    ("left_join", [("k", "A1+None"), ("k", "A1+B1"), ("k", "A2+B1"), ("k", None)]),
    ("outer_join", [("k", "A1+None"), ("k", "A1+B1"), ("k", "A2+B1"), ("k", "None+B1")]),
])
def test_table_table_join(how: str, expected: list) -> None:  # type: ignore[type-arg]
    b = _builder()
    left = b.table("left", store="L")
    right = b.table("right", store="R")
    getattr(left, how)(right, lambda a, c: f"{a}+{c}").to_stream().to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("left", "k", "A1")
    d.pipe_input("right", "k", "B1")
    d.pipe_input("left", "k", "A2")
    d.pipe_input("left", "k", None)
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == expected


def test_table_table_join_on_a_derived_table_materializes_it() -> None:
    b = _builder()
    left = b.table("left").map_values(str.upper)
    right = b.table("right")
    left.join(right, lambda a, c: a + c).to_stream().to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("right", "k", "r")
    d.pipe_input("left", "k", "l")
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("k", "Lr")]


def _stream_join(how: str, events: list[tuple[str, str, str, int]], window: JoinWindows) -> list:  # type: ignore[type-arg]
    b = _builder()
    left, right = b.stream("L"), b.stream("R")
    if how == "join":
        left.join(right, lambda a, c: f"{a}+{c}", windows=window).to("out")
    else:
        getattr(left, how)(right, lambda a, c: f"{a}+{c}", window).to("out")
    d = TopologyTestDriver(b)
    for topic, key, value, ts in events:
        d.pipe_input(topic, key, value, ts)
    return [(r.key, r.value, r.timestamp_ms) for r in d.read_output("out", Serde.str, Serde.str)]


EVENTS = [("L", "k", "a", 100), ("R", "k", "x", 105),    # within 10 ms: join
          ("L", "k", "b", 200),                           # no partner ever
          ("R", "k", "y", 300),                           # no partner ever
          ("L", "j", "c", 310), ("R", "j", "z", 305),     # right earlier, within window
          ("L", "k", "late", 95),                         # window closed (grace 20): dropped
          ("R", "k", "flush", 1000)]                      # advances stream time past every window


def test_windowed_inner_stream_stream_join() -> None:
    got = _stream_join("join", EVENTS, JoinWindows.of(10, grace_ms=20))
    assert got == [("k", "a+x", 105), ("j", "c+z", 310)]


def test_windowed_left_join_emits_unmatched_left_records_only_when_their_window_closes() -> None:
    got = _stream_join("left_join", EVENTS, JoinWindows.of(10, grace_ms=20))
    assert got == [("k", "a+x", 105), ("k", "b+None", 200), ("j", "c+z", 310)]


def test_windowed_outer_join() -> None:
    got = _stream_join("outer_join", EVENTS, JoinWindows.of(10, grace_ms=20))
    assert got == [("k", "a+x", 105), ("k", "b+None", 200), ("j", "c+z", 310), ("k", "None+y", 300)]


def test_left_join_partner_arriving_within_grace_suppresses_the_unmatched_result() -> None:
    events = [("L", "k", "a", 100), ("R", "k", "q", 130), ("R", "k", "x", 108), ("R", "k", "end", 500)]
    got = _stream_join("left_join", events, JoinWindows.of(10, grace_ms=50))
    assert got == [("k", "a+x", 108)]


def test_stream_stream_join_needs_windows_and_stream_table_join_refuses_them() -> None:
    b = _builder()
    with pytest.raises(TopologyError):
        b.stream("a").join(b.stream("b"), lambda x, y: x)
    with pytest.raises(TopologyError):
        b.stream("c").join(b.table("t"), lambda x, y: x, windows=JoinWindows.of(1))


def test_join_inputs_must_be_co_partitioned() -> None:
    b = _builder()
    b.stream("clicks").join(b.table("users"), lambda c, u: u).to("out")
    (sub,) = b.topology.subtopologies()
    check_copartitioned(sub, {"clicks": 3, "users": 3})
    with pytest.raises(TopologyError):
        check_copartitioned(sub, {"clicks": 3, "users": 4})
