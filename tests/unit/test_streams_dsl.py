"""The DSL through the in-memory test driver: stateless operations, aggregations, tables,
repartitioning and the topology's structure."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.apis.streams import Serde, StreamsBuilder, TopologyError, TopologyTestDriver

from .streams_backends import both_backends


@pytest.fixture(autouse=True, params=["memory", "lmdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from both_backends(sys.modules[__name__], request, tmp_path, monkeypatch)


def _kv(out):  # type: ignore[no-untyped-def]
    return [(r.key, r.value) for r in out]


def test_stateless_operations_chain() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)
    seen = []
    (b.stream("in")
     .filter(lambda k, v: v != "skip")
     .filter_not(lambda k, v: v == "drop")
     .map_values(str.upper)
     .peek(lambda k, v: seen.append(v))
     .map(lambda k, v: (v, len(v)))
     .flat_map(lambda k, v: [(k, v), (k + "!", v * 10)])
     .to("out", value_serde=Serde.int))
    d = TopologyTestDriver(b)
    for v in ["ab", "skip", "drop", "xyz"]:
        d.pipe_input("in", "k", v)
    assert _kv(d.read_output("out", Serde.str, Serde.int)) == [("AB", 2), ("AB!", 20), ("XYZ", 3), ("XYZ!", 30)]
    assert seen == ["AB", "XYZ"]


def test_select_key_flat_map_values_foreach_and_timestamps_propagate() -> None:
    b = StreamsBuilder("app", default_value_serde=Serde.str)
    got = []
    s = b.stream("in").flat_map_values(str.split).select_key(lambda k, v: v[0])
    s.foreach(lambda k, v: got.append((k, v)))
    s.to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("in", None, "apple berry", timestamp_ms=42)
    assert got == [("a", "apple"), ("b", "berry")]
    assert d.read_output("out", Serde.str, Serde.str) == [("a", "apple", 42), ("b", "berry", 42)]


def test_branch_split_and_merge() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.int)
    branches = (b.stream("in").split(prefix="n-")
                .branch(lambda k, v: v < 0, "neg")
                .branch(lambda k, v: v == 0, "zero")
                .default_branch("pos"))
    assert set(branches) == {"n-neg", "n-zero", "n-pos"}
    branches["n-neg"].to("neg")
    branches["n-pos"].map_values(lambda v: v * 2).merge(branches["n-zero"]).to("other")
    first, second = b.stream("in2").branch(lambda k, v: v > 10, lambda k, v: v > 5)  # no default: 1 dropped
    first.to("big")
    second.to("medium")
    d = TopologyTestDriver(b)
    for v in [-1, 0, 3]:
        d.pipe_input("in", "k", v, value_serde=Serde.int)
    for v in [20, 7, 1]:
        d.pipe_input("in2", "k", v, value_serde=Serde.int)
    assert _kv(d.read_output("neg", Serde.str, Serde.int)) == [("k", -1)]
    assert _kv(d.read_output("other", Serde.str, Serde.int)) == [("k", 0), ("k", 6)]
    assert _kv(d.read_output("big", Serde.str, Serde.int)) == [("k", 20)]
    assert _kv(d.read_output("medium", Serde.str, Serde.int)) == [("k", 7)]


def _word_count_builder() -> StreamsBuilder:
    b = StreamsBuilder("wordcount")
    (b.stream("text-lines", value_serde=Serde.str)
     .flat_map_values(str.split)
     .group_by(lambda key, word: word)
     .count(store="word-counts")
     .to_stream()
     .to("word-counts", value_serde=Serde.int))
    return b


def test_word_count() -> None:
    d = TopologyTestDriver(_word_count_builder())
    lines = ["the quick brown fox", "the lazy dog", "the fox"]
    for line in lines:
        d.pipe_input("text-lines", None, line)
    out = d.read_output("word-counts", Serde.str, Serde.int)
    expected: dict[str, int] = {}
    for word in " ".join(lines).split():
        expected[word] = expected.get(word, 0) + 1
    assert dict(_kv(out)) == expected
    assert [r.value for r in out if r.key == "the"] == [1, 2, 3]
    assert d.store("word-counts").get("fox") == 2
    assert dict(d.store("word-counts").all()) == expected


def test_key_change_before_aggregation_goes_through_a_repartition_topic() -> None:
    b = _word_count_builder()
    subs = b.topology.subtopologies()
    assert len(subs) == 2
    assert subs[0].external_topics == ["text-lines"] and subs[0].stores == []
    assert subs[1].internal_topics == ["wordcount-word-counts-repartition"] and subs[1].stores == ["word-counts"]
    assert b.topology.changelog_topic("word-counts") == "wordcount-word-counts-changelog"


def test_group_by_key_without_key_change_needs_no_repartition() -> None:
    b = StreamsBuilder("app")
    b.stream("in").map_values(len).group_by_key().count(store="c")
    assert len(b.topology.subtopologies()) == 1
    b = StreamsBuilder("app")
    b.stream("in").map(lambda k, v: (v, k)).group_by_key().count(store="c")
    assert len(b.topology.subtopologies()) == 2


def test_reduce_and_aggregate() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.int)
    s = b.stream("in")
    s.group_by_key().reduce(max, store="max").to_stream().to("max")
    s.group_by_key().aggregate(lambda: {"n": 0, "sum": 0},
                               lambda k, v, a: {"n": a["n"] + 1, "sum": a["sum"] + v},
                               store="stats").to_stream().to("stats", value_serde=Serde.json)
    d = TopologyTestDriver(b)
    for k, v in [("a", 3), ("b", 1), ("a", 7), ("a", 5)]:
        d.pipe_input("in", k, v, value_serde=Serde.int)
    assert _kv(d.read_output("max", Serde.str, Serde.int)) == [("a", 3), ("b", 1), ("a", 7), ("a", 7)]
    assert d.store("stats").get("a") == {"n": 3, "sum": 15}
    assert _kv(d.read_output("stats", Serde.str, Serde.json))[-1] == ("a", {"n": 3, "sum": 15})


def test_null_keys_and_values_are_skipped_by_aggregations() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").group_by_key().count(store="c")
    d = TopologyTestDriver(b)
    d.pipe_input("in", None, "v")
    d.pipe_input("in", "k", None)
    d.pipe_input("in", "k", "v")
    assert list(d.store("c").all()) == [("k", 1)]


def test_table_keeps_latest_value_and_tombstones_delete() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)
    t = b.table("users", store="users")
    t.filter(lambda k, v: v != "banned").map_values(str.upper).to_stream().to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("users", "u1", "alice")
    d.pipe_input("users", "u2", "bob")
    d.pipe_input("users", "u1", "banned")
    d.pipe_input("users", "u2", None)
    assert d.store("users").get("u1") == "banned" and d.store("users").get("u2") is None
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("u1", "ALICE"), ("u2", "BOB"), ("u1", None),
                                                               ("u2", None)]


def test_commit_writes_one_changelog_record_per_changed_key() -> None:
    b = _word_count_builder()
    d = TopologyTestDriver(b)
    d.pipe_input("text-lines", None, "a a a b")
    d.commit()
    changelog = d.read_output("wordcount-word-counts-changelog", Serde.msgpack, Serde.msgpack)
    assert sorted((r.key, r.value) for r in changelog) == [("a", 3), ("b", 1)]
    d.commit()
    assert d.read_output("wordcount-word-counts-changelog") == []


def test_through_and_explicit_repartition() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").through("mid").repartition(name="again").map_values(str.upper).to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("in", "k", "v")
    assert _kv(d.read_output("mid", Serde.str, Serde.str)) == [("k", "v")]
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("k", "V")]
    assert "app-again-repartition" in b.topology.repartition_topics


def test_reading_a_topic_twice_or_defining_a_store_twice_is_an_error() -> None:
    b = StreamsBuilder("app")
    b.stream("in").group_by_key().count(store="s")
    with pytest.raises(TopologyError):
        b.stream("in2").group_by_key().count(store="s")
    b = StreamsBuilder("app")
    b.stream("in").to("a")
    b.stream("in").to("b")
    with pytest.raises(TopologyError):
        b.topology.subtopologies()


def test_user_function_errors_propagate_from_the_driver() -> None:
    b = StreamsBuilder("app")
    b.stream("in").map_values(lambda v: 1 // 0).to("out")
    with pytest.raises(ZeroDivisionError):
        TopologyTestDriver(b).pipe_input("in", b"k", b"v")


def test_timestamp_extractor_defines_event_time() -> None:
    b = StreamsBuilder("app", default_value_serde=Serde.json)
    b.stream("in", timestamp_extractor=lambda rec: int(rec.value.split(b":")[1].rstrip(b"}"))).to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("in", b"k", {"t": 1234}, timestamp_ms=5)
    assert d.read_output("out")[0].timestamp_ms == 1234


def test_describe_lists_subtopologies() -> None:
    text = _word_count_builder().describe()
    assert "Sub-topology 0" in text and "Sub-topology 1" in text and "word-counts" in text


def test_grouped_table_aggregations_follow_rows_that_change_and_move() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.json)
    users = b.table("users")
    by_region = users.group_by(lambda user, row: (row["region"], row["age"]))
    by_region.count(store="per-region").to_stream().to("per-region")
    users.group_by(lambda user, row: (row["region"], row["age"])) \
        .aggregate(lambda: 0, lambda k, age, total: total + age, lambda k, age, total: total - age, store="ages")
    d = TopologyTestDriver(b)
    d.pipe_input("users", "ann", {"region": "eu", "age": 30}, value_serde=Serde.json)
    d.pipe_input("users", "bob", {"region": "eu", "age": 40}, value_serde=Serde.json)
    d.pipe_input("users", "ann", {"region": "us", "age": 31}, value_serde=Serde.json)  # moves
    d.pipe_input("users", "bob", {"region": "eu", "age": 41}, value_serde=Serde.json)  # changes in place
    d.pipe_input("users", "bob", None)                                                   # deleted
    assert dict(d.store("per-region").all()) == {"eu": 0, "us": 1}
    assert dict(d.store("ages").all()) == {"eu": 0, "us": 31}
    assert _kv(d.read_output("per-region", Serde.str, Serde.int)) == [
        ("eu", 1), ("eu", 2), ("eu", 1), ("us", 1), ("eu", 1), ("eu", 0)]
    assert any(s.internal_topics for s in b.topology.subtopologies())


class _Dedupe:
    """Forwards each (key, value) the first time it is seen; counts per task in an attribute."""

    def init(self, ctx) -> None:  # type: ignore[no-untyped-def]
        self.seen_here = 0

    def process(self, ctx, key, value) -> None:  # type: ignore[no-untyped-def]
        store = ctx.store("seen")
        if store.get([key, value]) is None:
            store.put([key, value], ctx.timestamp)
            self.seen_here += 1
            ctx.forward(key, f"{value}#{self.seen_here}")


def test_custom_processor_with_a_state_store() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.add_state_store("seen")
    b.stream("in").process(_Dedupe, stores=["seen"]).to("out")
    d = TopologyTestDriver(b)
    for k, v in [("a", "x"), ("a", "x"), ("b", "x"), ("a", "y"), ("b", "x")]:
        d.pipe_input("in", k, v, 7)
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("a", "x#1"), ("b", "x#2"), ("a", "y#3")]
    assert sorted(d.store("seen").all()) == [(["a", "x"], 7), (["a", "y"], 7), (["b", "x"], 7)]
    d.commit()
    assert len(d.read_output("app-seen-changelog")) == 3  # one changelog record per store write


def test_process_needs_declared_stores() -> None:
    b = StreamsBuilder("app")
    with pytest.raises(TopologyError):
        b.stream("in").process(_Dedupe, stores=["nope"])


class _Batcher:
    """Sums values per key and emits the sums every 100 ms of stream time and on a wall-clock tick."""

    def init(self, ctx) -> None:  # type: ignore[no-untyped-def]
        self.ctx = ctx
        ctx.schedule(100, "stream_time", lambda now: self.flush(f"stream@{now}"))
        ctx.schedule(1000, "wall_clock", lambda now: self.flush(f"wall@{now}"))

    def process(self, ctx, key, value) -> None:  # type: ignore[no-untyped-def]
        sums = ctx.store("sums")
        sums.put(key, (sums.get(key) or 0) + value)

    def flush(self, why: str) -> None:
        sums = self.ctx.store("sums")
        for key, total in list(sums.all()):
            self.ctx.forward(key, f"{total} {why}")
            sums.delete(key)


def test_punctuators_on_stream_time_and_wall_clock() -> None:
    b = StreamsBuilder("app", default_key_serde=Serde.str, default_value_serde=Serde.int)
    b.add_state_store("sums")
    b.stream("in").process(_Batcher, stores=["sums"]).to("out", value_serde=Serde.str)
    d = TopologyTestDriver(b)
    d.pipe_input("in", "a", 1, 10, value_serde=Serde.int)   # schedules: stream time due 110, wall clock 1000
    d.pipe_input("in", "a", 2, 50, value_serde=Serde.int)
    d.pipe_input("in", "b", 5, 120, value_serde=Serde.int)  # 120 >= 110: fires once
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("a", "3 stream@120"), ("b", "5 stream@120")]
    d.pipe_input("in", "a", 7, 130, value_serde=Serde.int)  # next stream-time punctuation at 210
    d.advance_wall_clock(999)
    assert d.read_output("out") == []
    d.advance_wall_clock(1)
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("a", "7 wall@1000")]
    d.pipe_input("in", "a", 1, 500, value_serde=Serde.int)  # missed intervals fire once, not three times
    assert _kv(d.read_output("out", Serde.str, Serde.str)) == [("a", "1 stream@500")]
