"""State stores: the LMDB and in-memory stores share one contract; checkpoints commit atomically
with data; restore replays a changelog from the checkpoint (or wipes and replays it all)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kraft.apis.streams.changelog import restore_store
from kraft.apis.streams.stores import LmdbTaskStores, MemoryTaskStores, stale_task_dirs
from kraft.apis.types import ConsumerRecord, TopicPartition


@pytest.fixture(params=["lmdb", "memory"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    s = LmdbTaskStores(tmp_path / "task", ["a", "b"]) if request.param == "lmdb" else MemoryTaskStores()
    yield s
    s.close()


def test_put_get_delete_and_ordered_ranges(stores: Any) -> None:
    for k in [b"k3", b"k1", b"k2", b"x"]:
        stores.put("a", k, k + b"!")
    stores.put("b", b"k1", b"other store")
    stores.put("a", b"x", None)
    assert stores.get("a", b"k1") == b"k1!" and stores.get("a", b"x") is None
    assert stores.range("a", b"k", b"l") == [(b"k1", b"k1!"), (b"k2", b"k2!"), (b"k3", b"k3!")]
    assert stores.range("a", b"k2", None) == [(b"k2", b"k2!"), (b"k3", b"k3!")]
    assert stores.get("b", b"k1") == b"other store"


def test_dirty_keys_hold_the_latest_value_per_key(stores: Any) -> None:
    stores.put("a", b"k", b"1")
    stores.put("a", b"k", b"2")
    stores.put("a", b"gone", b"1")
    stores.put("a", b"gone", None)
    assert stores.take_dirty() == {"a": {b"k": b"2", b"gone": None}}
    assert stores.take_dirty() == {}


def test_checkpoints_are_committed_with_the_data(stores: Any) -> None:
    assert stores.checkpoint("a") is None
    stores.put("a", b"k", b"v")
    stores.commit({"a": 7})
    assert stores.checkpoint("a") == 7 and stores.checkpoint("b") is None
    stores.wipe("a")
    assert stores.checkpoint("a") is None and stores.get("a", b"k") is None


def test_stream_time_is_committed_with_the_data_and_never_goes_back(stores: Any) -> None:
    assert stores.stream_time() == -1
    stores.commit({}, 500)
    stores.commit({}, 300)  # a commit of a task reopened with older records: stream time stays
    assert stores.stream_time() == 500


def test_lmdb_uncommitted_writes_do_not_survive_a_reopen(tmp_path: Path) -> None:
    s = LmdbTaskStores(tmp_path / "t", ["a"])
    s.put("a", b"kept", b"1")
    s.commit({"a": 1})
    s.put("a", b"lost", b"2")   # like a crash between commits
    assert s.get("a", b"lost") == b"2" and s.range("a", b"", None) == [(b"kept", b"1"), (b"lost", b"2")]
    s.put("a", b"lost", b"3")
    s.close()
    s = LmdbTaskStores(tmp_path / "t", ["a"])
    try:
        assert s.get("a", b"kept") == b"1" and s.get("a", b"lost") is None
        assert s.checkpoint("a") == 1 and s.stream_time() == -1
    finally:
        s.close()


def test_lmdb_readers_on_other_threads_see_the_last_commit(tmp_path: Path) -> None:
    s = LmdbTaskStores(tmp_path / "t", ["a"])
    try:
        s.put("a", b"k", b"1")
        s.commit({})
        s.put("a", b"k", b"2")
        seen: list[bytes | None] = []
        t = threading.Thread(target=lambda: seen.append(s.read("a", b"k")))
        t.start()
        t.join(10)
        assert seen == [b"1"]
        s.commit({})
        assert s.read("a", b"k") == b"2" and s.read_range("a", b"", None) == [(b"k", b"2")]
    finally:
        s.close()
    assert s.read("a", b"k") is None  # closed: nothing, not a crash


class FakeChangelogConsumer:
    """The four Consumer methods restore uses, over an in-memory partition (begin may be > 0)."""

    def __init__(self, records: list[tuple[bytes, bytes | None]], begin: int = 0) -> None:
        self.tp = TopicPartition("app-a-changelog", 0)
        self.begin = begin
        # Timestamps as the runtime writes them: its task's stream time (100 ms per record here).
        self.log = [ConsumerRecord(self.tp.topic, 0, begin + i, k, v, 100 * i, ())
                    for i, (k, v) in enumerate(records)]
        self.position = 0
        self.polled_from: list[int] = []

    def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {self.tp: self.begin}

    def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {self.tp: self.begin + len(self.log)}

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset
        self.polled_from.append(offset)

    def poll(self, timeout_ms: float = 0) -> list[ConsumerRecord]:
        batch = self.log[self.position - self.begin:self.position - self.begin + 2]
        self.position += len(batch)
        return batch


def test_restore_from_scratch_applies_puts_and_deletes_in_order(stores: Any) -> None:
    fake = FakeChangelogConsumer([(b"x", b"1"), (b"y", b"1"), (b"x", b"2"), (b"y", None), (b"z", b"3")])
    stores.put("a", b"stale", b"local junk without a checkpoint")
    stores.commit({})
    assert restore_store(fake, stores, "a", fake.tp) == 5
    assert stores.range("a", b"", None) == [(b"x", b"2"), (b"z", b"3")]
    assert stores.checkpoint("a") == 5
    assert stores.stream_time() == 400  # the largest changelog timestamp: windows closed stay closed


def test_restore_resumes_from_a_current_checkpoint(stores: Any) -> None:
    fake = FakeChangelogConsumer([(b"x", b"1"), (b"x", b"2"), (b"y", b"9")])
    stores.put("a", b"x", b"2")
    stores.commit({"a": 2})
    assert restore_store(fake, stores, "a", fake.tp) == 1
    assert fake.polled_from == [2]
    assert stores.range("a", b"", None) == [(b"x", b"2"), (b"y", b"9")]
    assert restore_store(fake, stores, "a", fake.tp) == 0  # now current: nothing to read


def test_restore_with_a_checkpoint_outside_the_changelog_replays_everything(stores: Any) -> None:
    fake = FakeChangelogConsumer([(b"x", b"new")], begin=0)
    stores.put("a", b"old", b"from a deleted changelog")
    stores.commit({"a": 40})
    assert restore_store(fake, stores, "a", fake.tp) == 1
    assert stores.range("a", b"", None) == [(b"x", b"new")]


def test_restore_retries_retriable_errors_and_keeps_what_it_had(stores: Any) -> None:
    from kraft.errors import InvalidTopic, LeaderNotAvailable

    fake = FakeChangelogConsumer([(b"x", b"1"), (b"y", b"2"), (b"z", b"3")])
    real_poll, calls = fake.poll, []

    def flaky_poll(timeout_ms: float = 0) -> list[ConsumerRecord]:
        calls.append(1)
        if len(calls) == 2:
            raise LeaderNotAvailable("moved")
        return real_poll(timeout_ms)

    fake.poll = flaky_poll  # type: ignore[method-assign]
    restore_store(fake, stores, "a", fake.tp, timeout_s=10)
    assert stores.range("a", b"", None) == [(b"x", b"1"), (b"y", b"2"), (b"z", b"3")]
    assert fake.polled_from == [0, 2]  # the retry resumed from the checkpoint of the first batch

    def broken(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        raise InvalidTopic("bad name")  # not retriable: raised at once

    fake.end_offsets = broken  # type: ignore[method-assign]
    with pytest.raises(InvalidTopic):
        restore_store(fake, stores, "a", fake.tp, timeout_s=10)


def test_stale_task_dirs_are_old_unowned_task_directories(tmp_path: Path) -> None:
    import os

    for name in ["0_0", "0_1", "1_0", "not-a-task", "2_x"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.mdb").write_bytes(b"")
    (tmp_path / ".lock").write_text("")
    for name in ["0_0", "0_1", "not-a-task", "2_x"]:
        os.utime(tmp_path / name / "data.mdb", (1000, 1000))
    stale = stale_task_dirs(tmp_path, owned={"0_0"}, now_s=1000 + 601, delay_s=600)
    assert [p.name for p in stale] == ["0_1"]  # 0_0 is owned, 1_0 was written just now
    assert stale_task_dirs(tmp_path / "missing", set(), 0, 0) == []
