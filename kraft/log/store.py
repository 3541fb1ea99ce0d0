"""The node's one LMDB environment and its write-transaction discipline.

Owns: opening ``data_dir/<node id>/`` with the named databases every other module uses, the single
write transaction of the Raft driver thread (opened lazily, committed once per driver loop, so all
groups' journal appends and applies share one fsync), and read transactions for other threads.
Must not: know what a record, a batch or a Raft message is.

Keys are prefixed with an 8-byte group id (``gid``) so one database holds every group's rows and a
group's rows are one contiguous key range.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
import msgpack

GID = struct.Struct(">Q")
GID_U64 = struct.Struct(">QQ")

# Test-only: after every synced commit, copy the data file to SYNCED_COPY, i.e. what a power loss
# would leave on disk. Fault tests restore it to simulate losing every write after the last fsync.
SYNC_SNAPSHOT_ENV = "KRAFT_FAULTS_SYNC_SNAPSHOT"
SYNCED_COPY = "data.mdb.synced"

# Named databases (one env, many named dbs; each keyed by gid prefix).
DB_JOURNAL = b"journal"  # gid+raft idx -> term(8) + command
DB_RAFTMETA = b"raftmeta"  # gid -> msgpack {term, vote, commit}
DB_OFFSETS = b"offsets"  # gid+last offset of batch -> raft idx(8) + base offset(8)
DB_PSTATE = b"pstate"  # gid -> msgpack partition state
DB_PRODUCERS = b"producers"  # gid+producer id -> msgpack idempotence state of that producer
DB_NAMES = (DB_JOURNAL, DB_RAFTMETA, DB_OFFSETS, DB_PSTATE, DB_PRODUCERS)


def gid_key(gid: int) -> bytes:
    return GID.pack(gid)


def gid_u64_key(gid: int, n: int) -> bytes:
    return GID_U64.pack(gid, n)


class NodeStore:
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
        self.dbs = {name: self.env.open_db(name) for name in DB_NAMES}
        self._txn: lmdb.Transaction | None = None
        self._writer_thread: int | None = None
        self.commits = 0
        self._snapshot_on_sync = os.environ.get(SYNC_SNAPSHOT_ENV) == "1"

    def db(self, name: bytes) -> lmdb._Database:
        return self.dbs[name]

    # --- the driver's write transaction -------------------------------------------------------
    def wtxn(self) -> lmdb.Transaction:
        """The current write transaction of the driver thread, opened on first use in a loop."""
        ident = threading.get_ident()
        if self._txn is None:
            self._writer_thread = ident
            self._txn = self.env.begin(write=True)
        # A write transaction belongs to the thread that opened it (start-up, then the driver).
        assert self._writer_thread == ident, "LMDB write transaction used from two threads"
        return self._txn

    def commit(self) -> bool:
        """Commit (and, with fsync=always, sync) everything written since the last commit."""
        if self._txn is None:
            return False
        txn, self._txn = self._txn, None
        txn.commit()
        self.commits += 1
        if self._snapshot_on_sync and self.fsync:
            # No write transaction is open here, so the file is a consistent committed state.
            shutil.copyfile(self.path / "data.mdb", self.path / (SYNCED_COPY + ".tmp"))
            os.replace(self.path / (SYNCED_COPY + ".tmp"), self.path / SYNCED_COPY)
        return True

    def abort(self) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None

    # --- readers on any thread ------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        """A read transaction: sees only committed data (what has been made durable)."""
        txn = self.env.begin(write=False)
        try:
            yield txn
        finally:
            txn.abort()

    def delete_prefix(self, name: bytes, gid: int) -> int:
        """Delete every row of ``gid`` in database ``name`` (driver thread). Returns rows deleted."""
        txn = self.wtxn()
        db = self.dbs[name]
        prefix = gid_key(gid)
        n = 0
        with txn.cursor(db) as cur:
            if not cur.set_range(prefix):
                return 0
            while cur.key()[:8] == prefix:
                if not cur.delete():
                    break
                n += 1
        return n

    def close(self) -> None:
        self.abort()
        self.env.close()


class StateRow:
    """One group's persisted state machine state: a msgpack map in ``pstate``, keyed by gid.

    Written in the driver's transaction, so it commits together with the Raft entries it reflects.
    """

    def __init__(self, store: NodeStore, gid: int) -> None:
        self.store = store
        self.key = gid_key(gid)
        self.db = store.db(DB_PSTATE)

    def load_state(self) -> dict | None:
        raw = self.store.wtxn().get(self.key, db=self.db)
        return None if raw is None else msgpack.unpackb(raw, raw=False, strict_map_key=False)

    def save_state(self, state: dict) -> None:
        self.store.wtxn().put(self.key, msgpack.packb(state, use_bin_type=True), db=self.db)

    def read(self, txn: lmdb.Transaction) -> dict | None:
        raw = txn.get(self.key, db=self.db)
        return None if raw is None else msgpack.unpackb(raw, raw=False, strict_map_key=False)

    def delete(self) -> None:
        self.store.wtxn().delete(self.key, db=self.db)



class MetadataRows(StateRow):
    """The metadata group's persisted state in ``pstate``: the catalogue row (StateRow's key), one
    row per consumer group, and a small row with the last applied Raft index. An entry that commits
    offsets rewrites only the groups it touched and the index row, not every group's offsets.

    Group rows are keyed gid + b"g" + the group id (or its SHA-256 when the id is too long for an
    LMDB key); the id itself is kept in the value.
    """

    _GROUP_KEY_MAX = 400  # LMDB keys are at most 511 bytes

    def __init__(self, store: NodeStore, gid: int) -> None:
        super().__init__(store, gid)
        self._group_prefix = self.key + b"g"
        self._applied_key = self.key + b"a"

    def load_groups(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self.store.wtxn().cursor(self.db) as cur:
            if cur.set_range(self._group_prefix):
                for key, raw in cur:
                    if not key.startswith(self._group_prefix):
                        break
                    row = msgpack.unpackb(raw, raw=False, strict_map_key=False)
                    out[row["name"]] = row
        return out

    def save_group(self, name: str, state: dict | None) -> None:
        key = self._group_key(name)
        if state is None:
            self.store.wtxn().delete(key, db=self.db)
        else:
            self.store.wtxn().put(key, msgpack.packb({**state, "name": name}, use_bin_type=True), db=self.db)

    def load_applied(self) -> int | None:
        raw = self.store.wtxn().get(self._applied_key, db=self.db)
        return None if raw is None else int.from_bytes(raw, "big")

    def save_applied(self, raft_index: int) -> None:
        self.store.wtxn().put(self._applied_key, raft_index.to_bytes(8, "big"), db=self.db)

    def _group_key(self, name: str) -> bytes:
        raw = name.encode()
        if len(raw) > self._GROUP_KEY_MAX:
            raw = b"#" + hashlib.sha256(raw).digest()
        return self._group_prefix + raw
