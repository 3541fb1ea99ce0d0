"""MemoryStore: the LogStore in plain Python, for the simulator and tests (no files, no fsync).

Owns: each table as a sorted key list beside a dict (bisect for ranges), the writer's batch as an
undo map (the value every key had before the batch, so commit is free and abort/crash restore), and
the durability model of a crash simulator: what was committed is what the disk holds; ``crash()``
drops everything uncommitted and leaves the object as the disk a restarted node opens again;
``wipe()`` is an empty disk.
Must not: know what a row means; hold anything a real restart would lose beyond the open batch.

Threads: the batch belongs to the thread that opened it, as in ``LmdbStore`` (another thread's
write, commit or abort raises AssertionError). A batch and read views share one re-entrant lock: a
view on another thread waits for the batch to commit (so it is a snapshot of committed data, like an
LMDB read transaction) and a batch waits for other threads' views to close. On the writer's own
thread a view reads committed data through the undo map (as of each call, not of its opening).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Iterator
from contextlib import contextmanager

from kraft.invariants import InvariantViolation
from kraft.log.store import DB_NAMES, KEY_BYTES_MAX

_get_ident = threading.get_ident


class _Table:
    __slots__ = ("keys", "rows")

    def __init__(self) -> None:
        self.keys: list[bytes] = []  # sorted
        self.rows: dict[bytes, bytes] = {}


def _check_key(key: bytes) -> None:
    if not 0 < len(key) <= KEY_BYTES_MAX:
        raise ValueError(f"key of {len(key)} bytes (keys are 1..{KEY_BYTES_MAX} bytes)")


def _scan(t: _Table, start: bytes, stop: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
    keys, rows = t.keys, t.rows
    i = bisect_left(keys, start)
    j = len(keys) if stop is None else bisect_left(keys, stop)
    if reverse:
        for n in range(j - 1, i - 1, -1):
            key = keys[n]
            yield key, rows[key]
    else:
        for n in range(i, j):
            key = keys[n]
            yield key, rows[key]


def _scan_committed(t: _Table, undo: dict[bytes, bytes | None], start: bytes, stop: bytes | None,
                    reverse: bool) -> Iterator[tuple[bytes, bytes]]:
    """``_scan`` as of the last commit: the batch's changes in range replaced by what they replaced."""
    rows = dict(_scan(t, start, stop, False))
    for key, before in undo.items():
        if key >= start and (stop is None or key < stop):
            if before is None:
                rows.pop(key, None)
            else:
                rows[key] = before
    for key in sorted(rows, reverse=reverse):
        yield key, rows[key]


class MemoryView:
    """Committed data (``MemoryStore.read``)."""

    __slots__ = ("_store",)

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def get(self, table: bytes, key: bytes) -> bytes | None:
        undo = self._store._undo.get(table)
        if undo and key in undo:
            return undo[key]
        return self._store._tables[table].rows.get(key)

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        undo = self._store._undo.get(table)
        t = self._store._tables[table]
        return _scan_committed(t, undo, start, stop, reverse) if undo else _scan(t, start, stop, reverse)


class MemoryStore:
    """A node's tables in memory; every commit counts as durable (``fsync`` is only reported)."""

    def __init__(self, *, fsync: bool = True) -> None:
        self.fsync = fsync
        self.commits = 0
        self._tables: dict[bytes, _Table] = {}
        self._undo: dict[bytes, dict[bytes, bytes | None]] = {}  # per table: key -> value before the batch
        self._writer_thread: int | None = None
        self._lock = threading.RLock()
        self.wipe()

    # --- the writer's batch ---------------------------------------------------------------------
    def _begin(self) -> None:
        """Open the batch on this thread, or refuse a second thread (called when not the writer)."""
        if self._writer_thread is not None:
            raise InvariantViolation("MemoryStore write batch used from two threads")
        self._lock.acquire()
        self._writer_thread = _get_ident()

    def get(self, table: bytes, key: bytes) -> bytes | None:
        if self._writer_thread != _get_ident():
            self._begin()
        return self._tables[table].rows.get(key)

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        if self._writer_thread != _get_ident():
            self._begin()
        return _scan(self._tables[table], start, stop, reverse)

    def put(self, table: bytes, key: bytes, value: bytes) -> None:
        if self._writer_thread != _get_ident():
            self._begin()
        t = self._tables[table]
        rows = t.rows
        before = rows.get(key)
        undo = self._undo.get(table)
        if undo is None:
            undo = self._undo[table] = {}
        if key not in undo:
            undo[key] = before
        if before is None:
            _check_key(key)
            insort(t.keys, key)
        rows[key] = value if type(value) is bytes else bytes(value)

    def delete(self, table: bytes, key: bytes) -> bool:
        if self._writer_thread != _get_ident():
            self._begin()
        _check_key(key)
        t = self._tables[table]
        before = t.rows.pop(key, None)
        if before is None:
            return False
        undo = self._undo.setdefault(table, {})
        if key not in undo:
            undo[key] = before
        del t.keys[bisect_left(t.keys, key)]
        return True

    def delete_prefix(self, table: bytes, prefix: bytes) -> int:
        if self._writer_thread != _get_ident():
            self._begin()
        t = self._tables[table]
        keys = t.keys
        i = j = bisect_left(keys, prefix)
        while j < len(keys) and keys[j].startswith(prefix):
            j += 1
        if i == j:
            return 0
        undo = self._undo.setdefault(table, {})
        for key in keys[i:j]:
            before = t.rows.pop(key)
            if key not in undo:
                undo[key] = before
        del keys[i:j]
        return j - i

    def delete_range(self, table: bytes, start: bytes, stop: bytes | None, budget: int, unit_bytes: int = 0) -> int:
        if self._writer_thread != _get_ident():
            self._begin()
        t = self._tables[table]
        keys, rows = t.keys, t.rows
        i = j = bisect_left(keys, start)
        end = len(keys) if stop is None else bisect_left(keys, stop)
        spent = 0
        while j < end and spent < budget:
            spent += 1 + (len(rows[keys[j]]) // unit_bytes if unit_bytes else 0)
            j += 1
        if i == j:
            return 0
        undo = self._undo.setdefault(table, {})
        for key in keys[i:j]:
            before = rows.pop(key)
            if key not in undo:
                undo[key] = before
        del keys[i:j]
        return spent

    def has_writes(self) -> bool:
        return self._writer_thread is not None and any(self._undo.values())

    def commit(self) -> bool:
        if self._writer_thread is None:
            return False
        if self._writer_thread != _get_ident():
            raise InvariantViolation("MemoryStore write batch committed from another thread")
        written = bool(self._undo)
        self._undo = {}
        self._writer_thread = None
        self._lock.release()
        if written:
            self.commits += 1
        return written

    def abort(self) -> None:
        if self._writer_thread is None:
            return
        if self._writer_thread != _get_ident():
            raise InvariantViolation("MemoryStore write batch aborted from another thread")
        self._roll_back()
        self._writer_thread = None
        self._lock.release()

    def _roll_back(self) -> None:
        for table, undo in self._undo.items():
            t = self._tables[table]
            for key, before in undo.items():
                present = key in t.rows
                if before is None:
                    if present:
                        del t.rows[key]
                        del t.keys[bisect_left(t.keys, key)]
                else:
                    if not present:
                        insort(t.keys, key)
                    t.rows[key] = before
        self._undo = {}

    # --- readers --------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[MemoryView]:
        with self._lock:
            yield MemoryView(self)

    # --- the disk across a crash ----------------------------------------------------------------
    def crash(self) -> None:
        """The process died: everything uncommitted is gone; the object is now the disk it restarts on.
        Any thread may call it; the old writer and views must not be used again."""
        self._roll_back()
        self._writer_thread = None
        self._lock = threading.RLock()

    def wipe(self) -> None:
        """The disk was replaced: every table empty (the old writer and views must not be used again)."""
        self._tables = {name: _Table() for name in DB_NAMES}
        self._undo = {}
        self._writer_thread = None
        self._lock = threading.RLock()

    def close(self) -> None:
        """As a process closing its store (any thread): the open batch is dropped, committed data stays."""
        self.crash()
