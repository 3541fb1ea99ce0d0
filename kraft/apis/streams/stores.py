"""State stores of one task: ordered byte maps, in LMDB (the runtime) or in memory (the test
driver), with the bookkeeping that ties them to their changelog topics.

A task's stores change only inside the current *commit interval*. Writes are remembered as
*dirty* (latest value per key) so the commit can send one changelog record per changed key; the
LMDB store also answers reads of dirty keys from that dict and writes them into its open write
transaction only when a range scan or the commit needs them (a hot key costs one LMDB write per
commit, not one per record). ``commit`` then writes each store's changelog *checkpoint* (the
changelog offset its local content corresponds to) in the same transaction as the data, so the
local state is always exactly the changelog up to the checkpoint: a crash loses the open
transaction and nothing else, and a restore resumes from the checkpoint instead of offset 0.
The task's *stream time* (its largest record timestamp, which decides when windows close) is kept
beside the checkpoints, so a reopened task (a restart, every eager rebalance) goes on from it.

This module knows nothing about topics, producers or consumers; :mod:`.changelog` does that.
"""

from __future__ import annotations

import bisect
import shutil
import struct
import threading
from pathlib import Path
from typing import Protocol

import lmdb

_OFFSET = struct.Struct(">q")
_META_DB = b"__checkpoints__"
_STREAM_TIME = b"\x00stream-time"  # no store's checkpoint key: store names have no NUL (Topology.add_store)
LMDB_MAP_SIZE_MB = 4096  # per task; reserves address space, not disk (the file grows as data does)
LMDB_MAX_STORES = 64


class TaskStores(Protocol):
    """The stores of one task (one partition of one sub-topology)."""

    def get(self, store: str, key: bytes) -> bytes | None: ...
    def put(self, store: str, key: bytes, value: bytes | None) -> None: ...
    def range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]: ...
    def take_dirty(self) -> dict[str, dict[bytes, bytes | None]]: ...
    def checkpoint(self, store: str) -> int | None: ...
    def stream_time(self) -> int: ...
    def commit(self, checkpoints: dict[str, int], stream_time: int = -1) -> None: ...
    def restore(self, store: str, records: list[tuple[bytes, bytes | None]], next_offset: int,
                stream_time: int = -1) -> None: ...
    def wipe(self, store: str) -> None: ...
    def read(self, store: str, key: bytes) -> bytes | None: ...
    def read_range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]: ...
    def close(self) -> None: ...


class MemoryTaskStores:
    """Stores in dicts with a sorted key list per store: the test driver's and the unit tests'."""

    def __init__(self) -> None:
        self._data: dict[str, dict[bytes, bytes]] = {}
        self._keys: dict[str, list[bytes]] = {}
        self._dirty: dict[str, dict[bytes, bytes | None]] = {}
        self._checkpoints: dict[str, int] = {}
        self._stream_time = -1

    def get(self, store: str, key: bytes) -> bytes | None:
        return self._data.get(store, {}).get(key)

    def put(self, store: str, key: bytes, value: bytes | None) -> None:
        self._dirty.setdefault(store, {})[key] = value
        self._apply(store, key, value)

    def _apply(self, store: str, key: bytes, value: bytes | None) -> None:
        data = self._data.setdefault(store, {})
        keys = self._keys.setdefault(store, [])
        if value is None:
            if data.pop(key, None) is not None:
                keys.pop(bisect.bisect_left(keys, key))
            return
        if key not in data:
            bisect.insort(keys, key)
        data[key] = value

    def range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        keys = self._keys.get(store, [])
        data = self._data.get(store, {})
        i = bisect.bisect_left(keys, lo)
        j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
        return [(k, data[k]) for k in keys[i:j]]

    read = get
    read_range = range

    def take_dirty(self) -> dict[str, dict[bytes, bytes | None]]:
        dirty, self._dirty = self._dirty, {}
        return dirty

    def checkpoint(self, store: str) -> int | None:
        return self._checkpoints.get(store)

    def stream_time(self) -> int:
        return self._stream_time

    def commit(self, checkpoints: dict[str, int], stream_time: int = -1) -> None:
        self._checkpoints.update(checkpoints)
        self._stream_time = max(self._stream_time, stream_time)

    def restore(self, store: str, records: list[tuple[bytes, bytes | None]], next_offset: int,
                stream_time: int = -1) -> None:
        for key, value in records:
            self._apply(store, key, value)
        self._checkpoints[store] = next_offset
        self._stream_time = max(self._stream_time, stream_time)

    def wipe(self, store: str) -> None:
        self._data.pop(store, None)
        self._keys.pop(store, None)
        self._checkpoints.pop(store, None)

    def close(self) -> None:
        pass


class LmdbTaskStores:
    """One LMDB environment per task under ``path``; one named database per store.

    The processing thread owns the write transaction; ``read``/``read_range`` (interactive
    queries, any thread) use their own read transactions and so see the last commit."""

    def __init__(self, path: Path, stores: list[str], map_size_mb: int = LMDB_MAP_SIZE_MB) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=map_size_mb << 20, max_dbs=LMDB_MAX_STORES,
                              subdir=True, lock=True, sync=False, metasync=False)
        # Every database is opened up front: opening one needs its own write transaction.
        self._dbs = {name: self._env.open_db(name.encode()) for name in stores}
        self._meta = self._env.open_db(_META_DB)
        self._txn: lmdb.Transaction | None = None
        self._dirty: dict[str, dict[bytes, bytes | None]] = {}  # since the last take_dirty (changelog)
        self._pending: dict[str, dict[bytes, bytes | None]] = {}  # not yet in the write transaction
        self._lock = threading.Lock()  # close() vs. readers on other threads
        self._closed = False

    def _db(self, store: str) -> lmdb._Database:
        return self._dbs[store]

    def _write(self) -> lmdb.Transaction:
        if self._txn is None:
            self._txn = self._env.begin(write=True)
        return self._txn

    def get(self, store: str, key: bytes) -> bytes | None:
        pending = self._pending.get(store)
        if pending is not None and key in pending:
            return pending[key]
        return self._write().get(key, db=self._db(store))

    def put(self, store: str, key: bytes, value: bytes | None) -> None:
        dirty = self._dirty.get(store)
        if dirty is None:
            dirty = self._dirty[store] = {}
        dirty[key] = value
        pending = self._pending.get(store)
        if pending is None:
            pending = self._pending[store] = {}
        pending[key] = value

    def _apply_pending(self, store: str | None = None) -> lmdb.Transaction:
        """Write the pending changes (of ``store``, or of every store) into the transaction."""
        txn = self._write()
        for name in [store] if store is not None else list(self._pending):
            pending = self._pending.pop(name, None)
            if not pending:
                continue
            db = self._db(name)
            for key, value in pending.items():
                if value is None:
                    txn.delete(key, db=db)
                else:
                    txn.put(key, value, db=db)
        return txn

    def range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        return _scan(self._apply_pending(store), self._db(store), lo, hi)

    def read(self, store: str, key: bytes) -> bytes | None:
        with self._lock:
            if self._closed:
                return None
            with self._env.begin() as txn:
                return txn.get(key, db=self._db_readonly(store))

    def read_range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        with self._lock:
            if self._closed:
                return []
            with self._env.begin() as txn:
                return _scan(txn, self._db_readonly(store), lo, hi)

    def _db_readonly(self, store: str) -> lmdb._Database:
        return self._dbs[store]

    def take_dirty(self) -> dict[str, dict[bytes, bytes | None]]:
        dirty, self._dirty = self._dirty, {}
        return dirty

    def checkpoint(self, store: str) -> int | None:
        txn = self._write()
        raw = txn.get(store.encode(), db=self._meta)
        return None if raw is None else int(_OFFSET.unpack(raw)[0])

    def stream_time(self) -> int:
        raw = self._write().get(_STREAM_TIME, db=self._meta)
        return -1 if raw is None else int(_OFFSET.unpack(raw)[0])

    def _advance_stream_time(self, txn: lmdb.Transaction, stream_time: int) -> None:
        if stream_time > self.stream_time():
            txn.put(_STREAM_TIME, _OFFSET.pack(stream_time), db=self._meta)

    def commit(self, checkpoints: dict[str, int], stream_time: int = -1) -> None:
        txn = self._apply_pending()
        for store, offset in checkpoints.items():
            txn.put(store.encode(), _OFFSET.pack(offset), db=self._meta)
        self._advance_stream_time(txn, stream_time)
        txn.commit()
        self._txn = None

    def restore(self, store: str, records: list[tuple[bytes, bytes | None]], next_offset: int,
                stream_time: int = -1) -> None:
        txn = self._write()
        self._advance_stream_time(txn, stream_time)
        db = self._db(store)
        for key, value in records:
            if value is None:
                txn.delete(key, db=db)
            else:
                txn.put(key, value, db=db)
        txn.put(store.encode(), _OFFSET.pack(next_offset), db=self._meta)
        txn.commit()
        self._txn = None

    def wipe(self, store: str) -> None:
        self._pending.pop(store, None)
        self._dirty.pop(store, None)
        txn = self._write()
        txn.drop(self._db(store), delete=False)
        txn.delete(store.encode(), db=self._meta)
        txn.commit()
        self._txn = None

    def abort(self) -> None:
        """Drop the uncommitted writes (the task is being closed without a commit)."""
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        self._dirty.clear()
        self._pending.clear()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.abort()
            self._closed = True
            self._env.close()


def _scan(txn: lmdb.Transaction, db: lmdb._Database, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    with txn.cursor(db=db) as cur:
        if not cur.set_range(lo):
            return out
        for key, value in cur:
            if hi is not None and key >= hi:
                break
            out.append((bytes(key), bytes(value)))
    return out


def stale_task_dirs(app_dir: Path, owned: set[str], now_s: float, delay_s: float) -> list[Path]:
    """Task directories (``<sub-topology>_<partition>``) of tasks this instance does not own and
    has not written for ``delay_s``: their tasks moved away for good (a task coming back within
    the delay reuses its state)."""
    stale = []
    for path in app_dir.iterdir() if app_dir.is_dir() else []:
        sub, _, part = path.name.partition("_")
        if not (path.is_dir() and sub.isdigit() and part.isdigit()) or path.name in owned:
            continue
        newest = max((f.stat().st_mtime for f in path.iterdir()), default=path.stat().st_mtime)
        if now_s - newest > delay_s:
            stale.append(path)
    return stale


def remove_task_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
