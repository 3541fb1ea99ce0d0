"""A partition's record log in the node's LMDB: the batch index beside the Raft journal, and reads.

Owns: the rows that turn an offset into the Raft entry holding its batch (``offsets`` db: key gid +
last offset of the batch, value raft index + base offset + max timestamp) and the persisted partition
state (``pstate`` db). The batch bytes themselves live only in the journal entry (stored once).
Must not: decide offsets (the partition state machine does) or commit (the driver does).

Journal value layout of a produce entry: term (8) | pysyncobj command type (1) | op | batch bytes, where
op is b"P" (native batch) or b"K" (Kafka v2 batch, as its producer sent it; see ``kraft.protocol.stored``).
"""

from __future__ import annotations

import struct
from typing import Any

import lmdb
import msgpack

from kraft.errors import CorruptRecord
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, DB_PRODUCERS, NodeStore, StateRow, gid_key, gid_u64_key
from kraft.protocol.stored import as_served, verify_stored

INDEX_ROW = struct.Struct(">QQq")  # raft index, base offset, max timestamp
OP_AT = 8 + 1  # term, command type
BATCH_AT = OP_AT + 1


class DamagedEntry(Exception):
    """A stored batch fails its checksum; ``raft_index`` names the journal entry to repair."""

    def __init__(self, raft_index: int) -> None:
        super().__init__(f"journal entry {raft_index} fails its checksum")
        self.raft_index = raft_index


class PartitionLog:
    def __init__(self, store: NodeStore, gid: int) -> None:
        self.store = store
        self.gid = gid
        self._prefix = gid_key(gid)
        self._offsets = store.db(DB_OFFSETS)
        self._journal = store.db(DB_JOURNAL)
        self._producers = store.db(DB_PRODUCERS)
        self._state = StateRow(store, gid)

    # --- driver thread: writes inside the loop's transaction -------------------------------------
    def load_state(self) -> dict[str, Any] | None:
        return self._state.load_state()

    def save_state(self, state: dict[str, Any]) -> None:
        self._state.save_state(state)

    def load_producers(self) -> dict[int, list]:
        out = {}
        with self.store.wtxn().cursor(self._producers) as cur:
            if cur.set_range(self._prefix):
                for key, value in cur:
                    if key[:8] != self._prefix:
                        break
                    out[int.from_bytes(key[8:16], "big")] = msgpack.unpackb(value)
        return out

    def save_producer(self, producer_id: int, state: list | None) -> None:
        key = gid_u64_key(self.gid, producer_id)
        if state is None:
            self.store.wtxn().delete(key, db=self._producers)
        else:
            self.store.wtxn().put(key, msgpack.packb(state), db=self._producers)

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int) -> None:
        key = gid_u64_key(self.gid, base_offset + count - 1)
        self.store.wtxn().put(key, INDEX_ROW.pack(raft_index, base_offset, max_timestamp), db=self._offsets)

    def destroy(self) -> None:
        self.store.delete_prefix(DB_OFFSETS, self.gid)
        self.store.delete_prefix(DB_PRODUCERS, self.gid)
        self._state.delete()

    # --- any thread: reads of committed data ----------------------------------------------------
    def read_state(self, txn: lmdb.Transaction) -> dict[str, Any]:
        return self._state.read(txn) or {"next_offset": 0, "log_start_offset": 0}

    def read(self, txn: lmdb.Transaction, offset: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Committed batches from the one holding ``offset``: at least one, then up to ``max_bytes``.
        Kafka batches come with their base offset patched in (``kraft.protocol.stored.as_served``)."""
        out: list[tuple[int, bytes]] = []
        size = 0
        with txn.cursor(self._offsets) as cur:
            if not cur.set_range(gid_u64_key(self.gid, offset)):
                return out
            for key, row in cur:
                if key[:8] != self._prefix:
                    break
                raft_index, base, _ = INDEX_ROW.unpack(row)
                value = txn.get(gid_u64_key(self.gid, raft_index), db=self._journal)
                if value is None:
                    break  # trimmed by retention under us; the next fetch starts later
                op, batch = value[OP_AT:BATCH_AT], value[BATCH_AT:]
                try:
                    verify_stored(op, batch)  # checked after every read: never serve damaged data
                except CorruptRecord:
                    raise DamagedEntry(raft_index) from None
                if out and size + len(batch) > max_bytes:
                    break
                out.append((base, as_served(op, batch, base)))
                size += len(batch)
        return out

    def offset_for_timestamp(self, txn: lmdb.Transaction, timestamp_ms: int) -> int | None:
        """Base offset of the first batch whose max timestamp is >= ``timestamp_ms`` (approximate)."""
        with txn.cursor(self._offsets) as cur:
            if not cur.set_range(self._prefix):
                return None
            for key, row in cur:
                if key[:8] != self._prefix:
                    break
                _, base, max_ts = INDEX_ROW.unpack(row)
                if max_ts >= timestamp_ms:
                    return base
        return None
