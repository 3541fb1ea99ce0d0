"""LmdbStore: the LogStore of a real node, one LMDB environment in ``data_dir/<node id>/``.

Owns: the environment (one named database per table of ``kraft.log.store``), the driver thread's
write transaction (opened lazily, committed once per driver loop, so all groups' journal appends
and applies share one fsync), read transactions for other threads, and the test-only copy of what a
power loss would leave (``SYNC_SNAPSHOT_ENV``).
Must not: know what a row means, or be imported outside ``kraft.log`` (callers use the protocol).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb

from kraft.invariants import InvariantViolation
from kraft.log.store import DB_NAMES

# Test-only: after every synced commit, copy the data file to SYNCED_COPY, i.e. what a power loss
# would leave on disk. Fault tests restore it to simulate losing every write after the last fsync.
SYNC_SNAPSHOT_ENV = "KRAFT_FAULTS_SYNC_SNAPSHOT"
SYNCED_COPY = "data.mdb.synced"


def _scan(txn: lmdb.Transaction, db: lmdb._Database, start: bytes, stop: bytes | None,
          reverse: bool) -> Iterator[tuple[bytes, bytes]]:
    """Items in key order within the bounds, as bytes (the write transaction's are buffers into the
    map, valid only until its next write; ``bytes`` of a read transaction's bytes is free)."""
    with txn.cursor(db) as cur:
        if reverse:
            if stop is None or not cur.set_range(stop):
                if not cur.last():
                    return
            elif not cur.prev():
                return
            for key, value in cur.iterprev():
                key = bytes(key)
                if key < start:
                    return
                yield key, bytes(value)
            return
        if not (cur.set_range(start) if start else cur.first()):
            return
        for key, value in cur.iternext():
            key = bytes(key)
            if stop is not None and key >= stop:
                return
            yield key, bytes(value)


class LmdbView:
    """A read transaction (``LmdbStore.read``): a snapshot of committed data."""

    __slots__ = ("_dbs", "_txn")

    def __init__(self, txn: lmdb.Transaction, dbs: dict[bytes, lmdb._Database]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, table: bytes, key: bytes) -> bytes | None:
        return self._txn.get(key, db=self._dbs[table])

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._txn, self._dbs[table], start, stop, reverse)


class LmdbStore:
    """One LMDB environment per node; the Raft driver thread is its only writer."""

    def __init__(self, path: Path, *, fsync: bool, map_size_mb: int = 16384) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fsync = fsync
        # sync=False/metasync=False leaves durability to the OS page cache: survives kill -9, not power loss.
        self.env = lmdb.open(
            str(path),
            map_size=map_size_mb * 1024 * 1024,
            max_dbs=16,
            sync=fsync,
            metasync=fsync,
            max_readers=512,
            lock=True,
        )
        self._dbs = {name: self.env.open_db(name) for name in DB_NAMES}
        self._txn: lmdb.Transaction | None = None
        self._writer_thread: int | None = None
        self._written = False
        self.commits = 0
        self.on_commit: Callable[[float], None] | None = None  # seconds of each commit that wrote (metrics)
        self._snapshot_on_sync = os.environ.get(SYNC_SNAPSHOT_ENV) == "1"

    # --- the driver's write transaction -------------------------------------------------------
    def _wtxn(self) -> lmdb.Transaction:
        """The current write transaction of the driver thread, opened on first use in a loop."""
        txn = self._txn
        if txn is None:
            self._writer_thread = threading.get_ident()
            # buffers: values are views into the map, not copies, so ``delete_range`` learns a
            # value's length without copying it (a journal row is up to 1 MiB); ``get`` and ``scan``
            # copy what they return, as an unbuffered transaction would.
            txn = self._txn = self.env.begin(write=True, buffers=True)
        # A write transaction belongs to the thread that opened it (start-up, then the driver).
        elif self._writer_thread != threading.get_ident():
            raise InvariantViolation("LMDB write transaction used from two threads")
        return txn

    def get(self, table: bytes, key: bytes) -> bytes | None:
        value = self._wtxn().get(key, db=self._dbs[table])
        return None if value is None else bytes(value)

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._wtxn(), self._dbs[table], start, stop, reverse)

    def put(self, table: bytes, key: bytes, value: bytes) -> None:
        txn = self._wtxn()
        self._written = True
        try:
            txn.put(key, value, db=self._dbs[table])
        except lmdb.BadValsizeError as e:
            raise ValueError(f"key of {len(key)} bytes: {e}") from None

    def delete(self, table: bytes, key: bytes) -> bool:
        txn = self._wtxn()
        try:
            deleted = txn.delete(key, db=self._dbs[table])
        except lmdb.BadValsizeError as e:
            raise ValueError(f"key of {len(key)} bytes: {e}") from None
        if deleted:
            self._written = True
        return deleted

    def delete_prefix(self, table: bytes, prefix: bytes) -> int:
        txn = self._wtxn()
        n = 0
        with txn.cursor(self._dbs[table]) as cur:
            if not (cur.set_range(prefix) if prefix else cur.first()):
                return 0
            while cur.key()[:len(prefix)] == prefix:
                if not cur.delete():
                    break
                n += 1
        if n:
            self._written = True
        return n

    def delete_range(self, table: bytes, start: bytes, stop: bytes | None, budget: int, unit_bytes: int = 0) -> int:
        txn = self._wtxn()
        spent = 0
        with txn.cursor(self._dbs[table]) as cur:
            if budget <= 0 or not cur.set_range(start):
                return 0
            while spent < budget:
                key = cur.key()
                if not len(key) or (stop is not None and bytes(key) >= stop):
                    break  # past the last row, or past the range
                size = len(cur.value())  # a view into the map: no copy
                if not cur.delete():  # deletes, and moves to the next row
                    break
                self._written = True
                spent += 1 + (size // unit_bytes if unit_bytes else 0)
        return spent

    def has_writes(self) -> bool:
        return self._txn is not None and self._written

    def commit(self) -> bool:
        """Commit (and, with fsync=always, sync) everything written since the last commit."""
        if self._txn is None:
            return False
        if self._writer_thread != threading.get_ident():
            raise InvariantViolation("LMDB write transaction committed from another thread")
        txn, self._txn = self._txn, None
        if not self._written:
            txn.abort()  # only read: nothing to make durable
            return False
        self._written = False
        started = time.perf_counter()
        txn.commit()  # with fsync=always, this is where the fsync happens
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)
        self.commits += 1
        if self._snapshot_on_sync and self.fsync:
            # No write transaction is open here, so the file is a consistent committed state.
            shutil.copyfile(self.path / "data.mdb", self.path / (SYNCED_COPY + ".tmp"))
            os.replace(self.path / (SYNCED_COPY + ".tmp"), self.path / SYNCED_COPY)
        return True

    def abort(self) -> None:
        if self._txn is not None and self._writer_thread != threading.get_ident():
            raise InvariantViolation("LMDB write transaction aborted from another thread")
        self._drop()

    def _drop(self) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        self._written = False

    # --- readers on any thread ------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[LmdbView]:
        """A read transaction: sees only committed data (what has been made durable)."""
        txn = self.env.begin(write=False)
        try:
            yield LmdbView(txn, self._dbs)
        finally:
            txn.abort()

    def usage(self) -> tuple[int, int, int]:
        """(map size in bytes, page size in bytes, pages used up to the last one written); any thread."""
        info = self.env.info()
        return int(info["map_size"]), int(self.env.stat()["psize"]), int(info["last_pgno"]) + 1

    def close(self) -> None:
        """Any thread (the driver may have left a transaction open when it stopped)."""
        self._drop()
        self.env.close()
