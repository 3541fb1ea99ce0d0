"""The runtime without a cluster: the order records of a task's several inputs are processed in,
loading an app for ``kraft streams run``, and the commit (with fake clients): what is committed
when, after a failed write, a failed record and a refused offset commit; what is purged from
repartition topics after a commit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from kraft.apis.streams import Serde, StreamsApp, StreamsBuilder, StreamsError
from kraft.apis.streams import runtime as runtime_module
from kraft.apis.streams.cli import load_app
from kraft.apis.streams.errors import DeadLetter, check_handler
from kraft.apis.streams.runtime import StreamRuntime, in_time_order
from kraft.apis.streams.stores import LmdbTaskStores
from kraft.apis.types import ConsumerRecord, RecordMetadata, TopicPartition
from kraft.errors import IllegalGeneration, RequestTimedOut


def _rec(topic: str, partition: int, offset: int, ts: int) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, None, None, ts, ())


def test_in_time_order_takes_the_smallest_head_and_keeps_each_partitions_order() -> None:
    batch = [_rec("clicks", 0, 0, 50), _rec("clicks", 0, 1, 10), _rec("clicks", 0, 2, 60),
             _rec("users", 0, 0, 5), _rec("users", 0, 1, 55)]
    out = in_time_order(batch)
    assert [(r.topic, r.offset) for r in out] == [("users", 0), ("clicks", 0), ("clicks", 1), ("users", 1),
                                                  ("clicks", 2)]
    single = [_rec("t", 0, i, 100 - i) for i in range(5)]
    assert in_time_order(single) == single


def test_error_handlers_are_validated() -> None:
    assert check_handler("stop") == "stop" and check_handler(DeadLetter("dlq")) == DeadLetter("dlq")
    with pytest.raises(ValueError):
        check_handler("ignore")


def test_load_app_by_name_by_factory_and_by_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_streams_app.py").write_text(
        "from kraft.apis.streams import StreamsApp\n"
        "app = StreamsApp('a', '127.0.0.1:1', state_dir='s')\n"
        "def make():\n    return StreamsApp('b', '127.0.0.1:1', state_dir='s')\n"
        "not_an_app = 3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_app("my_streams_app:app").app_id == "a"
        assert load_app("my_streams_app:make").app_id == "b"
        assert isinstance(load_app("my_streams_app"), StreamsApp)
        with pytest.raises(ValueError):
            load_app("my_streams_app:not_an_app")
        with pytest.raises(ValueError):
            load_app("my_streams_app:missing")
        with pytest.raises(ImportError):
            load_app("no_such_module_here:app")
    finally:
        sys.modules.pop("my_streams_app", None)


def test_streams_app_validates_its_settings() -> None:
    with pytest.raises(ValueError):
        StreamsApp("bad id", "127.0.0.1:1")
    with pytest.raises(ValueError):
        StreamsApp("ok", "127.0.0.1:1", on_error="ignore")
    with pytest.raises(ValueError):
        StreamsApp("ok", "127.0.0.1:1", commit_interval_ms=0)
    with pytest.raises(ValueError):
        StreamsApp("ok", "127.0.0.1:1", repartition_purge_interval_ms=-1)


# --- the runtime's commit, with fake clients: what is committed when ----------------------------


class _FakeProducer:
    """Futures stay pending until ``flush``, which resolves them (``fail`` picks the ones that fail)."""

    def __init__(self, log: list[str], fail: Callable[[str, bytes | None], bool] = lambda _t, _k: False) -> None:
        self.log = log
        self.fail = fail
        self.closed = False
        self._pending: list[tuple[Future[RecordMetadata], str, bytes | None]] = []
        self._offsets: dict[tuple[str, int], int] = {}

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None,
             partition: int | None = None, timestamp_ms: int | None = None) -> Future[RecordMetadata]:
        if self.closed:
            raise RuntimeError("producer is closed")
        self.log.append(f"send {topic}")
        future: Future[RecordMetadata] = Future()
        self._pending.append((future, topic, key))
        return future

    def flush(self, timeout_s: float | None = None) -> None:
        self.log.append("flush")
        for future, topic, key in self._pending:
            if self.fail(topic, key):
                future.set_exception(RequestTimedOut("not acknowledged"))
            else:
                offset = self._offsets.get((topic, 0), 0)
                self._offsets[(topic, 0)] = offset + 1
                future.set_result(RecordMetadata(topic, 0, offset, 0))
        self._pending = []


class _FakeConsumer:
    def __init__(self, log: list[str], error: BaseException | None = None) -> None:
        self.log = log
        self.error = error
        self.committed: dict[TopicPartition, int] = {}

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.log.append("commit offsets")
        if self.error is not None:
            raise self.error
        self.committed.update(offsets)


def _runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_error: str = "stop",
             fail: Callable[[str, bytes | None], bool] = lambda _t, _k: False,
             commit_error: BaseException | None = None,
             cache_max_bytes: int = 0) -> tuple[StreamRuntime, list[str]]:
    """A runtime of a per-key count (one sub-topology, store "counts"), owning partition 0 of "in"."""
    monkeypatch.setattr(runtime_module, "restore_store", lambda *_a, **_k: 0)
    b = StreamsBuilder("rt", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").filter(lambda _k, v: v != "boom" or 1 // 0).group_by_key().count(store="counts") \
        .to_stream().to("out")
    rt = StreamRuntime("rt", "127.0.0.1:1", b.topology, tmp_path, on_error=on_error, commit_interval_ms=1000,
                       replication_factor=None, consumer_config={}, producer_config={}, on_state=lambda _s: None,
                       cache_max_bytes=cache_max_bytes)
    log: list[str] = []
    rt._producer = _FakeProducer(log, fail)  # type: ignore[assignment]
    rt._consumer = _FakeConsumer(log, commit_error)  # type: ignore[assignment]
    rt._restorer = object()  # type: ignore[assignment]
    rt._on_assign([TopicPartition("in", 0)])
    return rt, log


def _in(offset: int, key: str, value: str = "x") -> ConsumerRecord:
    return ConsumerRecord("in", 0, offset, key.encode(), value.encode(), 1000 + offset, ())


def _checkpoint(rt: StreamRuntime) -> int | None:
    return next(iter(rt.tasks.values())).stores.checkpoint("counts")


def test_commit_sends_changelog_then_flushes_then_commits_offsets_then_the_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch)
    try:
        for offset, key in enumerate(["a", "b", "a"]):
            rt._process(_in(offset, key))
        assert log == ["send out"] * 3 and _checkpoint(rt) is None
        rt.commit()
        # One changelog record per changed key, all before the flush; offsets after it.
        assert log == ["send out"] * 3 + ["send rt-counts-changelog"] * 2 + ["flush", "commit offsets"]
        assert rt._consumer.committed == {TopicPartition("in", 0): 3}  # type: ignore[union-attr]
        assert _checkpoint(rt) == 2  # the changelog offset after its last record
    finally:
        rt._close_tasks()


def test_commit_flushes_the_record_cache_first_then_changelog_flush_offsets_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch, cache_max_bytes=1 << 20)
    try:
        for offset, key in enumerate(["a", "b", "a"]):
            rt._process(_in(offset, key))
        assert log == [] and _checkpoint(rt) is None  # the updates wait in the cache
        rt.commit()
        # One output record per key (the cache coalesced a's two updates), then one changelog
        # record per key, all before the flush; the offsets only once everything is acknowledged.
        assert log == ["send out"] * 2 + ["send rt-counts-changelog"] * 2 + ["flush", "commit offsets"]
        assert rt._consumer.committed == {TopicPartition("in", 0): 3}  # type: ignore[union-attr]
        assert _checkpoint(rt) == 2
        assert rt.cache_budget.used_bytes == 0
    finally:
        rt._close_tasks()


def test_a_failed_write_of_a_cached_update_commits_neither_offsets_nor_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch, fail=lambda topic, key: topic == "out" and key == b"b",
                       cache_max_bytes=1 << 20)
    try:
        for offset, key in enumerate(["a", "b", "b"]):
            rt._process(_in(offset, key))
        with pytest.raises(StreamsError, match="a write failed"):
            rt.commit()
        assert log.count("send out") == 2 and "commit offsets" not in log and _checkpoint(rt) is None
    finally:
        rt._close_tasks()
    assert rt.cache_budget.used_bytes == 0  # closing the tasks dropped what was left


def test_a_failed_write_commits_neither_offsets_nor_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch, fail=lambda topic, key: topic == "out" and key == b"b")
    try:
        for offset, key in enumerate(["a", "b", "c"]):
            rt._process(_in(offset, key))
        with pytest.raises(StreamsError, match="a write failed"):
            rt.commit()
        assert "commit offsets" not in log and _checkpoint(rt) is None
        rt._on_revoke([TopicPartition("in", 0)])  # as close() does: nothing more is committed
        assert "commit offsets" not in log and not rt.tasks
    finally:
        rt._close_tasks()


def test_the_stop_handler_names_the_record_and_commits_nothing_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch)
    try:
        rt._process(_in(0, "a"))
        rt.commit()
        rt._process(_in(1, "a"))
        with pytest.raises(StreamsError, match="topic in partition 0 offset 2"):
            rt._process(_in(2, "a", "boom"))
        rt._healthy = False  # what run() does with the error, before closing the consumer
        rt._on_revoke([TopicPartition("in", 0)])
        assert rt._consumer.committed == {TopicPartition("in", 0): 1}  # type: ignore[union-attr]
        assert log.count("commit offsets") == 1
    finally:
        rt._close_tasks()


def test_a_closed_producer_stops_the_app_even_with_the_continue_handler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _ = _runtime(tmp_path, monkeypatch, on_error="continue")
    try:
        rt._process(_in(0, "a", "boom"))  # a user error: skipped
        rt._producer.closed = True  # type: ignore[union-attr]
        with pytest.raises(StreamsError, match="a write failed"):
            rt._process(_in(1, "a"))
    finally:
        rt._close_tasks()


def test_an_offset_commit_refused_by_the_group_drops_the_tasks_without_committing_their_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, log = _runtime(tmp_path, monkeypatch, commit_error=IllegalGeneration("the group moved on"))
    stores_dir = tmp_path / "rt" / "0_0"
    rt._process(_in(0, "a"))
    rt.commit()
    assert log[-1] == "commit offsets" and not rt.tasks
    reopened = LmdbTaskStores(stores_dir, ["counts"])
    try:
        assert reopened.checkpoint("counts") is None and reopened.get("counts", b"\xa1a") is None
    finally:
        reopened.close()


def test_a_reopened_task_goes_on_from_its_committed_stream_time(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _ = _runtime(tmp_path, monkeypatch)
    try:
        rt._process(_in(5, "a"))  # timestamp 1005
        rt.commit()
        rt._on_revoke([TopicPartition("in", 0)])  # an eager rebalance closes every task...
        rt._on_assign([TopicPartition("in", 0)])  # ...and reopens it
        assert next(iter(rt.tasks.values())).ctx.stream_time == 1005
    finally:
        rt._close_tasks()


def test_futures_of_acknowledged_records_are_dropped_between_commits(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "UNACKED_CHECK_RECORDS", 3)
    rt, _ = _runtime(tmp_path, monkeypatch, fail=lambda _topic, key: key == b"bad")
    rt._unacked_check_at = 3
    try:
        for offset in range(2):
            rt._process(_in(offset, "a"))
        rt._producer.flush()  # type: ignore[union-attr]  # as the sender would, in the background
        rt._process(_in(2, "a"))  # the third: the two acknowledged ones are forgotten
        assert len(rt._unacked) == 1
        rt._process(_in(3, "bad"))
        rt._producer.flush()  # type: ignore[union-attr]
        with pytest.raises(StreamsError, match="a write failed"):
            for offset in range(4, 8):
                rt._process(_in(offset, "a"))  # a check finds the failed one before the commit
    finally:
        rt._close_tasks()


def test_an_unreadable_local_store_is_deleted_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _ = _runtime(tmp_path, monkeypatch)
    try:
        rt._process(_in(0, "a"))
        rt.commit()
        rt._close_tasks()
        data = tmp_path / "rt" / "0_0" / "data.mdb"
        data.write_bytes(b"\xff" * data.stat().st_size)  # both meta pages garbage: LMDB refuses it
        rt._on_assign([TopicPartition("in", 0)])  # no error: the task starts from its changelog
        assert _checkpoint(rt) is None
    finally:
        rt._close_tasks()


class _FakeAdmin:
    """Records ``delete_records`` calls; ``fail`` makes the next ones raise."""

    def __init__(self) -> None:
        self.deleted: list[tuple[str, dict[int, int]]] = []
        self.fail = 0

    def delete_records(self, topic: str, before_offsets: dict[int, int]) -> dict[int, int]:
        if self.fail:
            self.fail -= 1
            raise RequestTimedOut("no answer")
        self.deleted.append((topic, dict(before_offsets)))
        return dict(before_offsets)


def test_committed_offsets_of_repartition_topics_are_purged_once_each(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "restore_store", lambda *_a, **_k: 0)
    b = StreamsBuilder("rp", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("in").group_by(lambda _k, v: v).count(store="counts")
    [repartition] = b.topology.repartition_topics
    rt = StreamRuntime("rp", "127.0.0.1:1", b.topology, tmp_path, on_error="stop", commit_interval_ms=1000,
                       replication_factor=None, consumer_config={}, producer_config={}, on_state=lambda _s: None)
    log: list[str] = []
    admin = _FakeAdmin()
    rt._producer = _FakeProducer(log)  # type: ignore[assignment]
    rt._consumer = _FakeConsumer(log)  # type: ignore[assignment]
    rt._restorer = object()  # type: ignore[assignment]
    rt._admin = admin  # type: ignore[assignment]

    def purge() -> None:
        assert rt.purge_repartition_topics()
        if rt._purging is not None:
            rt._purging.result(10)

    try:
        rt._on_assign([TopicPartition("in", 0), TopicPartition(repartition, 0), TopicPartition(repartition, 1)])
        rt._consumed = {("in", 0): 7, (repartition, 0): 4, (repartition, 1): 9}
        purge()
        assert admin.deleted == []  # nothing committed yet
        rt.commit()
        purge()
        assert admin.deleted == [(repartition, {0: 4, 1: 9})]  # never a user topic
        rt._consumed = {(repartition, 1): 12}
        rt.commit()
        purge()
        assert admin.deleted[1:] == [(repartition, {1: 12})]  # only what moved
        purge()
        assert len(admin.deleted) == 2
        rt._consumed = {(repartition, 0): 5}
        rt.commit()
        admin.fail = 1
        purge()  # fails: logged, and asked again by the next purge without a new commit
        purge()
        assert admin.deleted[2:] == [(repartition, {0: 5})]
        purge()  # takes in the last one's result, asks nothing
        assert len(admin.deleted) == 3 and rt.purges == 4
    finally:
        rt._close_tasks()
        if rt._purger is not None:
            rt._purger.shutdown()
