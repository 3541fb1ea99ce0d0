"""The record cache (``cache_max_bytes``): updates of a key coalesced until a commit, eviction by
size, tombstones, the count combined before its repartition topic, and the at-least-once promise
with it — a crash after the cache was flushed and its writes acknowledged but before the offsets
were committed loses no update (state restored from the changelog plus re-processing from the last
committed offset). Topologies run through the ``TopologyTestDriver``; the crash through the runtime
with fake clients."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from kraft.apis.streams import Serde, StreamsBuilder, TopologyTestDriver
from kraft.apis.streams import runtime as runtime_module
from kraft.apis.streams.cache import COUNT_HEADER, ENTRY_OVERHEAD_BYTES
from kraft.apis.streams.runtime import StreamRuntime
from kraft.apis.streams.stores import TaskStores
from kraft.apis.types import ConsumerRecord, RecordMetadata, TopicPartition

CACHE = 1 << 20


def _table_counts(cache_max_bytes: int) -> TopologyTestDriver:
    b = StreamsBuilder("c", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").group_by_key().count(store="counts").to_stream().to("out", value_serde=Serde.int)
    return TopologyTestDriver(b, cache_max_bytes=cache_max_bytes)


def _out(driver: TopologyTestDriver) -> list[tuple[str, int]]:
    return [(r.key, r.value) for r in driver.read_output("out", Serde.str, Serde.int)]


def test_updates_of_a_key_are_coalesced_until_the_commit() -> None:
    with _table_counts(CACHE) as d:
        for key in ["a", "b", "a", "a", "c", "b"]:
            d.pipe_input("in", key, "x")
        assert _out(d) == [], "nothing forwarded before the commit"
        assert dict(d.store("counts").all()) == {"a": 3, "b": 2, "c": 1}, "the store is current at once"
        d.commit()
        # One record per key, least recently updated first, each with its latest count.
        assert _out(d) == [("a", 3), ("c", 1), ("b", 2)]
        changelog = d.outputs.pop("c-counts-changelog")
        assert len(changelog) == 3, "one changelog record per changed key"
        d.pipe_input("in", "a", "x")
        d.commit()
        assert _out(d) == [("a", 4)]
        d.commit()
        assert _out(d) == [], "an empty cache forwards nothing"


def test_without_a_cache_every_update_is_forwarded_at_once() -> None:
    with _table_counts(0) as d:
        for key in ["a", "a"]:
            d.pipe_input("in", key, "x")
        assert _out(d) == [("a", 1), ("a", 2)]


def test_old_values_are_those_of_the_last_flush() -> None:
    """A table aggregation downstream of a cached table sees Change(latest, value at the last
    flush): the subtractor takes out what it was given before, nothing in between."""
    b = StreamsBuilder("old", default_key_serde=Serde.str, default_value_serde=Serde.str)
    users = b.table("users")  # user -> region
    users.group_by(lambda user, region: (region, user)).count(store="per-region").to_stream() \
        .to("regions", value_serde=Serde.int)
    with TopologyTestDriver(b, cache_max_bytes=CACHE) as d:
        d.pipe_input("users", "u1", "eu")
        d.commit()
        for region in ["us", "asia", "us"]:  # eu -> us -> asia -> us between two commits
            d.pipe_input("users", "u1", region)
        d.commit()
        assert dict(d.store("per-region").all()) == {"eu": 0, "us": 1}
        assert "asia" not in dict(d.store("per-region").all()), "the in-between value never left the cache"


def test_eviction_by_size_forwards_the_least_recently_updated_keys() -> None:
    # Room for two and a half entries: a one-letter key (2 bytes of msgpack), a small count (1 byte)
    # and the per-entry overhead.
    entry = ENTRY_OVERHEAD_BYTES + 2 + 1
    with _table_counts(2 * entry + entry // 2) as d:
        d.pipe_input("in", "a", "x")
        d.pipe_input("in", "b", "x")
        d.pipe_input("in", "a", "x")  # a is now the most recently updated
        assert _out(d) == []
        d.pipe_input("in", "c", "x")  # over the budget: b goes first
        assert _out(d) == [("b", 1)]
        d.pipe_input("in", "d", "x")
        assert _out(d) == [("a", 2)]
        d.commit()
        assert _out(d) == [("c", 1), ("d", 1)]


def test_tombstones_of_a_cached_table() -> None:
    b = StreamsBuilder("tomb", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.table("users").to_stream().to("changes")
    with TopologyTestDriver(b, cache_max_bytes=CACHE) as d:
        d.pipe_input("users", "old", "v1")
        d.commit()
        assert [(r.key, r.value) for r in d.read_output("changes", Serde.str, Serde.str)] == [("old", "v1")]
        d.pipe_input("users", "new", "v1")
        d.pipe_input("users", "new", None)  # created and deleted between two commits: nothing at all
        d.pipe_input("users", "old", "v2")
        d.pipe_input("users", "old", None)  # existed at the last commit: its deletion is forwarded
        d.commit()
        assert [(r.key, r.value) for r in d.read_output("changes", Serde.str, Serde.str)] == [("old", None)]
        [store] = b.topology.stores
        changelog = d.outputs.pop(b.topology.changelog_topic(store))
        assert changelog[-2:] == [(b"\xa3new", None, 0), (b"\xa3old", None, 0)], "tombstones for both in the changelog"


def test_the_count_is_combined_before_its_repartition_topic() -> None:
    b = StreamsBuilder("wc", default_value_serde=Serde.str)
    b.stream("lines").flat_map_values(str.split).group_by(lambda _k, w: w).count(store="counts") \
        .to_stream().to("counts-out", value_serde=Serde.int)
    [repartition] = b.topology.repartition_topics
    with TopologyTestDriver(b, cache_max_bytes=CACHE) as d:
        d.pipe_input("lines", None, "a b a")
        d.pipe_input("lines", None, "a c")
        assert repartition not in d.outputs, "the words wait in the cache"
        d.commit()
        sent = d.outputs[repartition]
        assert len(sent) == 3, "one record per word, not per occurrence"
        assert dict(d.store("counts").all()) == {"a": 3, "b": 1, "c": 1}
        out = [(r.key, r.value) for r in d.read_output("counts-out", Serde.str, Serde.int)]
        assert sorted(out) == [("a", 3), ("b", 1), ("c", 1)]
    with TopologyTestDriver(b, cache_max_bytes=0) as d:  # off: one repartition record per word
        d.pipe_input("lines", None, "a b a")
        assert len(d.outputs[repartition]) == 3 and dict(d.store("counts").all()) == {"a": 2, "b": 1}


def test_a_count_header_on_another_topic_counts_one() -> None:
    """Only records of the count's own repartition topic may stand for several."""
    b = StreamsBuilder("h", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").group_by_key().count(store="counts")
    with TopologyTestDriver(b) as d:
        task = d._tasks["in"]
        record = ConsumerRecord("in", 0, 0, b"k", b"v", 1, ((COUNT_HEADER, (5).to_bytes(8, "big")),))
        source, key, value, ts = task.deserialize(record)
        task.process(source, record, key, value, ts)
        assert dict(d.store("counts").all()) == {"k": 1}


# --- a crash after the flush, before the offset commit: nothing lost ----------------------------


class Crash(BaseException):
    """The process dies (not an error the runtime handles)."""


class _Log:
    """What the fake cluster holds: every topic's records, and the group's committed offsets."""

    def __init__(self) -> None:
        self.topics: dict[str, list[tuple[bytes | None, bytes | None, list[Any]]]] = {}
        self.committed: dict[TopicPartition, int] = {}


class _Producer:
    def __init__(self, log: _Log) -> None:
        self.log = log
        self._pending: list[tuple[Future[RecordMetadata], str, bytes | None, bytes | None, Any]] = []

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None,
             partition: int | None = None, timestamp_ms: int | None = None) -> Future[RecordMetadata]:
        future: Future[RecordMetadata] = Future()
        self._pending.append((future, topic, key, value, headers))
        return future

    def flush(self, timeout_s: float | None = None) -> None:
        for future, topic, key, value, headers in self._pending:  # acknowledged: in the topic for good
            records = self.log.topics.setdefault(topic, [])
            records.append((key, value, headers or []))
            future.set_result(RecordMetadata(topic, 0, len(records) - 1, 0))
        self._pending = []


class _Consumer:
    def __init__(self, log: _Log, crash: bool) -> None:
        self.log = log
        self.crash = crash

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.crash:
            raise Crash
        self.log.committed.update(offsets)


def _replay_changelog(log: _Log) -> Any:
    def restore(_consumer: Any, stores: TaskStores, store: str, tp: TopicPartition, **_kw: Any) -> int:
        records = log.topics.get(tp.topic, [])
        start = stores.checkpoint(store) or 0
        stores.restore(store, [(k or b"", v) for k, v, _h in records[start:]], len(records))
        return len(records) - start
    return restore


def _count_runtime(tmp_path: Path, log: _Log, crash: bool) -> StreamRuntime:
    b = StreamsBuilder("crash", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").group_by_key().count(store="counts").to_stream().to("out", value_serde=Serde.int)
    rt = StreamRuntime("crash", "127.0.0.1:1", b.topology, tmp_path, on_error="stop", commit_interval_ms=1000,
                       replication_factor=None, consumer_config={}, producer_config={}, on_state=lambda _s: None,
                       cache_max_bytes=CACHE)
    rt._producer = _Producer(log)  # type: ignore[assignment]
    rt._consumer = _Consumer(log, crash)  # type: ignore[assignment]
    rt._restorer = object()  # type: ignore[assignment]
    rt._on_assign([TopicPartition("in", 0)])
    return rt


def test_a_crash_between_the_flush_and_the_offset_commit_loses_no_update(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _Log()
    monkeypatch.setattr(runtime_module, "restore_store", _replay_changelog(log))
    inputs = [ConsumerRecord("in", 0, i, k.encode(), b"x", 1000 + i, ()) for i, k in enumerate("abaacbba")]
    truth = {"a": 4, "b": 3, "c": 1}

    first = _count_runtime(tmp_path, log, crash=False)
    for record in inputs[:3]:
        first._process(record)
    first.commit()  # offsets 0..2 committed, the stores with them
    first._consumer.crash = True  # type: ignore[union-attr]
    for record in inputs[3:6]:
        first._process(record)
    with pytest.raises(Crash):
        first.commit()  # cache flushed, output and changelog acknowledged, then the process dies
    assert log.committed == {TopicPartition("in", 0): 3}
    first._close_tasks()  # what dying does to the local state: the open LMDB transaction is lost

    # The next owner restores from the changelog (which has the crashed commit's records), then
    # processes from the committed offset on: the updates of 3..5 may count twice, none is lost.
    second = _count_runtime(tmp_path, log, crash=False)
    try:
        for record in inputs[3:]:
            second._process(record)
        second.commit()
        counts = dict(second.tasks[next(iter(second.tasks))].stores.read_range("counts", b"", None))
    finally:
        second._close_tasks()
    stored = {Serde.msgpack.deserialize(k): Serde.msgpack.deserialize(v) for k, v in counts.items()}
    assert all(stored[key] >= n for key, n in truth.items()), stored
    output: dict[str, int] = {}
    for key, value, _h in log.topics["out"]:
        output[Serde.str.deserialize(key)] = Serde.int.deserialize(value)
    assert all(output[key] >= n for key, n in truth.items()), output
    assert log.committed == {TopicPartition("in", 0): len(inputs)}


def test_a_suppressed_windowed_count_is_not_cached_and_emits_each_final_count_once() -> None:
    """The cache would hand the suppression a window's update after later records closed the window
    (found by the cluster test): a table feeding suppress() forwards at once."""
    from kraft.apis.streams import TimeWindows, until_window_closes, windowed_serde

    b = StreamsBuilder("sup", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("clicks").group_by_key().windowed_by(TimeWindows.of(size_ms=10_000, grace_ms=5_000)) \
        .count(store="per-10s").suppress(until_window_closes).to_stream().to("finals")
    with TopologyTestDriver(b, cache_max_bytes=CACHE) as d:
        for key, ts in [("u1", 1_000), ("u1", 4_000), ("u2", 12_000), ("u1", 9_000), ("u1", 16_000),
                        ("u1", 31_000), ("u2", 31_000)]:
            d.pipe_input("clicks", key, "x", ts)
        d.commit()
        finals = [(r.key.key, r.key.start_ms, r.value)
                  for r in d.read_output("finals", Serde.str, Serde.int, windowed_serde(Serde.str, 10_000))]
        assert sorted(finals) == [("u1", 0, 3), ("u1", 10_000, 1), ("u2", 10_000, 1)]
