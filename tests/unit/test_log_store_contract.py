"""The LogStore contract (kraft.log.store), one suite for both implementations: LmdbStore on a real
directory and MemoryStore. "Reopen" is a crash of the process: for LMDB the environment is closed
without committing and opened again on the same directory; for memory it is ``crash()``."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.log.lmdb_store import LmdbStore
from kraft.log.memory_store import MemoryStore
from kraft.log.store import (
    DB_JOURNAL,
    DB_NAMES,
    DB_OFFSETS,
    KEY_BYTES_MAX,
    LogStore,
    gid_key,
    gid_u64_key,
    prefix_stop,
    u64_of,
)

T = DB_JOURNAL
OTHER = DB_OFFSETS


class Disk:
    """One implementation, with what a crash, a restart and a new disk mean for it."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.store: LogStore = self._open() if kind == "lmdb" else MemoryStore(fsync=False)

    def _open(self) -> LmdbStore:
        return LmdbStore(self.path, fsync=False, map_size_mb=256)

    def reopen(self) -> LogStore:
        """The process died (nothing uncommitted survives) and started again on the same disk."""
        if isinstance(self.store, MemoryStore):
            self.store.crash()
        else:
            self.store.close()
            self.store = self._open()
        return self.store

    def wipe(self) -> LogStore:
        """The disk was replaced by an empty one."""
        if isinstance(self.store, MemoryStore):
            self.store.wipe()
        else:
            self.store.close()
            shutil.rmtree(self.path)
            self.store = self._open()
        return self.store


@pytest.fixture(params=["lmdb", "memory"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    d = Disk(request.param, tmp_path / "store")
    yield d
    d.store.close()


def committed(store: LogStore, table: bytes = T) -> list[tuple[bytes, bytes]]:
    with store.read() as view:
        return list(view.scan(table, b"\x00"))


def test_put_get_delete_see_the_writers_own_uncommitted_writes(disk: Disk) -> None:
    s = disk.store
    assert s.get(T, b"k") is None
    s.put(T, b"k", b"1")
    assert s.get(T, b"k") == b"1"
    s.put(T, b"k", b"2")
    s.put(OTHER, b"k", b"other table")
    assert s.get(T, b"k") == b"2" and s.get(OTHER, b"k") == b"other table"
    assert s.delete(T, b"k") is True
    assert s.delete(T, b"k") is False
    assert s.get(T, b"k") is None and s.get(OTHER, b"k") == b"other table"
    s.put(T, b"j", memoryview(b"from a buffer"))  # type: ignore[arg-type]
    assert s.commit() is True
    assert s.get(T, b"j") == b"from a buffer" and s.get(OTHER, b"k") == b"other table"


def test_scans_are_in_key_order_within_bounds_and_reverse(disk: Disk) -> None:
    s = disk.store
    keys = [bytes([a, b]) for a in (0, 1, 7, 255) for b in (0, 3, 255)]
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    for k in shuffled:
        s.put(T, k, k * 2)
    expected = [(k, k * 2) for k in sorted(keys)]

    def check(start: bytes, stop: bytes | None) -> None:
        want = [(k, v) for k, v in expected if k >= start and (stop is None or k < stop)]
        assert list(s.scan(T, start, stop)) == want, (start, stop)
        assert list(s.scan(T, start, stop, reverse=True)) == want[::-1], (start, stop)
        with s.read() as view:
            assert list(view.scan(T, start, stop)) == want, (start, stop)

    s.commit()
    for start, stop in [(b"\x00", None), (b"\x01", b"\x07"), (b"\x01\x03", b"\x07\x03"), (b"\x01\x04", b"\x01\x05"),
                        (b"\x08", None), (b"\xff\xff\xff", None), (b"\x00", b"\x00"), (b"\x07", b"\x01"),
                        (b"\x00\x00", b"\xff\xff"), (b"\x00", b"\x00\x00\x00")]:
        check(start, stop)
    with s.read() as view:
        assert list(view.scan(T, b"\x01", b"\x07", reverse=True)) == [
            (k, v) for k, v in reversed(expected) if b"\x01" <= k < b"\x07"]
        assert view.get(T, b"\x07\x03") == b"\x07\x03\x07\x03" and view.get(T, b"\x07\x04") is None


def test_a_scan_can_stop_early_and_the_next_one_starts_fresh(disk: Disk) -> None:
    s = disk.store
    for i in range(100):
        s.put(T, gid_u64_key(1, i), b"x")
    it = s.scan(T, gid_u64_key(1, 10), prefix_stop(gid_key(1)))
    assert [u64_of(next(it)[0]) for _ in range(3)] == [10, 11, 12]
    del it
    assert [u64_of(k) for k, _ in s.scan(T, gid_u64_key(1, 97), prefix_stop(gid_key(1)))] == [97, 98, 99]
    assert s.commit()


def test_prefixes_bound_scans_and_delete_prefix_removes_exactly_them(disk: Disk) -> None:
    s = disk.store
    for gid in (1, 2, 3, (1 << 64) - 1):
        s.put(T, gid_key(gid), b"meta")
        for i in (0, 1, 5, (1 << 64) - 1):
            s.put(T, gid_u64_key(gid, i), gid_u64_key(gid, i))
    assert prefix_stop(gid_key(2)) == gid_key(3)
    assert prefix_stop(b"a\xff\xff") == b"b" and prefix_stop(b"\xff\xff") is None
    two = list(s.scan(T, gid_key(2), prefix_stop(gid_key(2))))
    assert [k for k, _ in two] == [gid_key(2)] + [gid_u64_key(2, i) for i in (0, 1, 5, (1 << 64) - 1)]
    last = list(s.scan(T, gid_key((1 << 64) - 1), prefix_stop(gid_key((1 << 64) - 1))))
    assert len(last) == 5
    assert s.delete_prefix(T, gid_key(2)) == 5
    assert s.delete_prefix(T, gid_key(2)) == 0
    assert s.delete_prefix(OTHER, gid_key(1)) == 0
    assert s.delete_prefix(T, gid_key((1 << 64) - 1)) == 5
    assert s.commit()
    keys = [k for k, _ in committed(s)]
    assert len(keys) == 10 and all(k[:8] in (gid_key(1), gid_key(3)) for k in keys)
    assert s.delete_prefix(T, gid_u64_key(1, 5)) == 1  # a longer prefix: one row
    assert s.commit()
    assert len(committed(s)) == 9


def test_delete_range_spends_a_budget_of_rows_and_value_bytes(disk: Disk) -> None:
    s = disk.store
    for i in range(10):
        s.put(T, gid_u64_key(1, i), bytes(1000 * i))  # row i: i * 1000 bytes
        s.put(T, gid_u64_key(2, i), b"other group")
    s.commit()
    stop = gid_u64_key(1, 8)
    assert s.delete_range(T, gid_key(1), stop, 3) == 3  # rows only: rows 0, 1, 2
    # unit 1,000 bytes: row 3 costs 4, row 4 costs 5: the budget of 6 is spent after both
    assert s.delete_range(T, gid_key(1), stop, 6, 1000) == 9
    assert s.delete_range(T, gid_key(1), stop, 1, 10_000) == 1  # at least one row (row 5)
    assert s.delete_range(T, gid_key(1), stop, 100) == 2, "fewer than the budget: the range is empty"
    assert s.delete_range(T, gid_key(1), stop, 100) == 0
    assert s.delete_range(T, gid_key(1), stop, 0) == 0
    assert [u64_of(k) for k, _ in s.scan(T, gid_key(1), prefix_stop(gid_key(1)))] == [8, 9]
    with s.read() as view:
        assert len(list(view.scan(T, gid_key(1), prefix_stop(gid_key(1))))) == 10, "not committed yet"
    assert s.commit() is True
    assert [u64_of(k) for k, v in committed(s) if k[:8] == gid_key(1)] == [8, 9]
    assert s.delete_range(T, gid_key(2), None, 4) == 4  # to the end of the table
    assert s.delete_range(T, gid_key(2), None, 100) == 6
    assert s.delete_range(T, gid_key(7), None, 100) == 0
    assert s.commit() is True
    assert s.delete_range(T, gid_key(7), None, 100) == 0
    assert s.commit() is False, "nothing deleted: nothing written"
    assert committed(s) == [(gid_u64_key(1, 8), bytes(8000)), (gid_u64_key(1, 9), bytes(9000))]


def test_readers_see_only_committed_data(disk: Disk) -> None:
    s = disk.store
    s.put(T, b"a", b"1")
    s.put(T, b"b", b"1")
    s.put(T, b"d", b"1")
    with s.read() as view:
        assert view.get(T, b"a") is None and list(view.scan(T, b"\x00")) == []
    assert s.commit()
    s.put(T, b"a", b"2")  # changed
    s.put(T, b"c", b"2")  # new
    s.delete(T, b"b")  # deleted
    s.delete_prefix(T, b"d")
    assert [k for k, _ in s.scan(T, b"\x00")] == [b"a", b"c"]  # the writer sees its own batch
    with s.read() as view:  # on the writer's own thread, in the middle of its batch
        assert view.get(T, b"a") == b"1" and view.get(T, b"b") == b"1" and view.get(T, b"c") is None
        assert list(view.scan(T, b"\x00")) == [(b"a", b"1"), (b"b", b"1"), (b"d", b"1")]
        assert list(view.scan(T, b"b", reverse=True)) == [(b"d", b"1"), (b"b", b"1")]
    seen: list[object] = []

    def reader() -> None:
        with s.read() as view:
            seen.append(list(view.scan(T, b"\x00")))

    thread = threading.Thread(target=reader)
    thread.start()  # a reader on another thread sees the state before or after the commit, never between
    thread.join(0.2)
    assert s.commit()
    thread.join(5)
    assert seen in ([[(b"a", b"1"), (b"b", b"1"), (b"d", b"1")]], [[(b"a", b"2"), (b"c", b"2")]])
    assert committed(s) == [(b"a", b"2"), (b"c", b"2")]


def test_commit_says_whether_anything_was_written(disk: Disk) -> None:
    s = disk.store
    assert s.commit() is False
    s.get(T, b"x")
    list(s.scan(T, b"\x00"))
    assert s.commit() is False
    s.put(T, b"x", b"1")
    assert s.commit() is True
    assert s.commit() is False
    s.delete(T, b"x")
    assert s.commit() is True


def test_abort_drops_the_batch(disk: Disk) -> None:
    s = disk.store
    s.put(T, b"keep", b"1")
    s.commit()
    s.put(T, b"keep", b"2")
    s.put(T, b"new", b"2")
    s.delete(T, b"keep")
    s.abort()
    assert s.get(T, b"keep") == b"1" and s.get(T, b"new") is None
    assert list(s.scan(T, b"\x00")) == [(b"keep", b"1")]
    assert s.commit() is False


def test_a_crash_keeps_what_was_committed_and_nothing_else(disk: Disk) -> None:
    s = disk.store
    s.put(T, b"a", b"1")
    s.put(OTHER, b"a", b"1")
    s.commit()
    s.put(T, b"a", b"2")
    s.put(T, b"b", b"2")
    s.delete(OTHER, b"a")
    s = disk.reopen()
    assert committed(s) == [(b"a", b"1")] and committed(s, OTHER) == [(b"a", b"1")]
    assert s.get(T, b"b") is None
    s.put(T, b"c", b"3")
    assert s.commit()
    s = disk.reopen()
    assert committed(s) == [(b"a", b"1"), (b"c", b"3")]
    s = disk.wipe()
    assert all(committed(s, table) == [] for table in DB_NAMES)


def test_a_second_thread_cannot_write_into_the_open_batch(disk: Disk) -> None:
    s = disk.store
    s.put(T, b"a", b"1")
    errors: list[BaseException] = []

    def intruder() -> None:
        for op in (lambda: s.put(T, b"b", b"2"), lambda: s.get(T, b"a"), lambda: s.delete(T, b"a"), s.commit):
            try:
                op()
            except AssertionError as e:
                errors.append(e)

    thread = threading.Thread(target=intruder)
    thread.start()
    thread.join(5)
    assert len(errors) == 4
    assert s.commit() and committed(s) == [(b"a", b"1")]

    def next_writer() -> None:  # once committed, another thread may open the next batch
        s.put(T, b"b", b"2")
        s.commit()

    thread = threading.Thread(target=next_writer)
    thread.start()
    thread.join(5)
    assert committed(s) == [(b"a", b"1"), (b"b", b"2")]


def test_large_values_and_many_rows(disk: Disk) -> None:
    s = disk.store
    big = random.Random(2).randbytes(8 * 1024 * 1024)
    s.put(T, b"big", big)
    for i in range(5000):
        s.put(OTHER, gid_u64_key(9, i), i.to_bytes(4, "big"))
    assert s.commit()
    with s.read() as view:
        assert view.get(T, b"big") == big
        rows = list(view.scan(OTHER, gid_key(9), prefix_stop(gid_key(9))))
    assert [int.from_bytes(v, "big") for _, v in rows] == list(range(5000))


def test_empty_tables(disk: Disk) -> None:
    s = disk.store
    for table in DB_NAMES:
        assert s.get(table, b"k") is None
        assert list(s.scan(table, b"\x00")) == [] and list(s.scan(table, b"\x00", reverse=True)) == []
        assert list(s.scan(table, b"k", b"z", reverse=True)) == []
        assert s.delete(table, b"k") is False and s.delete_prefix(table, b"k") == 0
    assert s.commit() is False
    with s.read() as view:
        assert view.get(T, b"k") is None and list(view.scan(T, b"\x00", reverse=True)) == []


def test_keys_must_be_1_to_511_bytes(disk: Disk) -> None:
    s = disk.store
    s.put(T, b"k" * KEY_BYTES_MAX, b"ok")
    with pytest.raises(ValueError):
        s.put(T, b"", b"empty key")
    with pytest.raises(ValueError):
        s.put(T, b"k" * (KEY_BYTES_MAX + 1), b"too long")
    assert s.commit() and committed(s) == [(b"k" * KEY_BYTES_MAX, b"ok")]


@pytest.mark.parametrize("seed", range(8))
def test_random_operations_match_a_model(disk: Disk, seed: int) -> None:
    """Random puts, deletes, prefix deletes, commits, aborts and crashes against two dicts: what was
    committed and what the writer sees."""
    rng = random.Random(seed)
    s = disk.store
    durable: dict[bytes, bytes] = {}
    batch: dict[bytes, bytes] = {}
    keys = [bytes([a, b]) for a in range(4) for b in range(6)]
    for step in range(400):
        op = rng.random()
        key = rng.choice(keys)
        if op < 0.45:
            value = rng.randbytes(rng.randrange(0, 20))
            s.put(T, key, value)
            batch[key] = value
        elif op < 0.65:
            assert s.delete(T, key) is (key in batch), step
            batch.pop(key, None)
        elif op < 0.7:
            prefix = key[:1]
            gone = [k for k in batch if k.startswith(prefix)]
            assert s.delete_prefix(T, prefix) == len(gone), step
            for k in gone:
                del batch[k]
        elif op < 0.8:
            s.commit()
            durable = dict(batch)
        elif op < 0.85:
            s.abort()
            batch = dict(durable)
        elif op < 0.9:
            s = disk.reopen()
            batch = dict(durable)
        start, stop = sorted(rng.sample(keys, 2))
        want = sorted((k, v) for k, v in batch.items() if start <= k < stop)
        assert list(s.scan(T, start, stop)) == want, step
        assert list(s.scan(T, start, stop, reverse=True)) == want[::-1], step
        assert s.get(T, key) == batch.get(key), step
        with s.read() as view:
            assert list(view.scan(T, b"\x00")) == sorted(durable.items()), step
            assert view.get(T, key) == durable.get(key), step
