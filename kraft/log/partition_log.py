"""A partition's record log in the node's LogStore: the batch index beside the Raft journal, and reads.

Owns: the rows that turn an offset into the Raft entry holding its batch (``offsets`` table: key gid +
last offset of the batch, value ``INDEX_ROW``: raft index + base offset + max timestamp, then
``POSITION``: the byte position in the partition's log where the batch starts — rows written before
positions were kept lack it), reads of
committed batches through them, and the partition's store for its state machine (``PartitionStore``
of ``kraft.state.partition``: the index, plus the state and producer rows of ``kraft.log.rows``).
The batch bytes themselves live only in the journal entry (stored once; ``kraft.log.entry``).
Rows of batches below the log start are deleted in bounded slices (``reclaim``), after the trim
that made them unreachable; readers never start below the log start.
Must not: decide offsets (the partition state machine does) or commit (the driver does).
"""

from __future__ import annotations

import struct
from typing import cast

from kraft.errors import CorruptRecord
from kraft.log.entry import BATCH_AT, OP_AT, as_served, verify_stored
from kraft.log.rows import ProducerRows, StateRow
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, LogStore, ReadView, gid_key, gid_u64_key, prefix_stop, u64_of
from kraft.state.partition import PartitionState, ProducerState

INDEX_ROW = struct.Struct(">QQq")  # raft index, base offset, max timestamp
POSITION = struct.Struct(">Q")  # after INDEX_ROW: bytes of batches appended before this one
INDEX_ROW_SIZES = (INDEX_ROW.size, INDEX_ROW.size + POSITION.size)


def row_position(row: bytes) -> int | None:
    """Where the batch starts in the log's bytes (None in rows written before positions were kept)."""
    if len(row) < INDEX_ROW_SIZES[1]:
        return None
    position: int = POSITION.unpack_from(row, INDEX_ROW.size)[0]
    return position


class DamagedEntry(Exception):
    """A stored batch fails its checksum; ``raft_index`` names the journal entry to repair."""

    def __init__(self, raft_index: int) -> None:
        super().__init__(f"journal entry {raft_index} fails its checksum")
        self.raft_index = raft_index


class PartitionLog:
    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.gid = gid
        self._prefix = gid_key(gid)
        self._stop = prefix_stop(self._prefix)
        self._state: StateRow[PartitionState] = StateRow(store, gid)
        self._producers = ProducerRows(store, gid)
        state = self._state.load_state()
        self._reclaim_below = 0 if state is None else state.get("log_start_offset", 0)  # finish after a restart

    # --- driver thread: writes inside the loop's batch -------------------------------------------
    def load_state(self) -> PartitionState | None:
        return self._state.load_state()

    def save_state(self, state: PartitionState) -> None:
        self._state.save_state(state)

    def load_producers(self) -> dict[int, ProducerState]:
        return self._producers.load()

    def save_producer(self, producer_id: int, state: ProducerState | None) -> None:
        self._producers.save(producer_id, state)

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int, position: int) -> None:
        key = gid_u64_key(self.gid, base_offset + count - 1)
        row = INDEX_ROW.pack(raft_index, base_offset, max_timestamp) + POSITION.pack(position)
        self.store.put(DB_OFFSETS, key, row)

    def batch_at(self, offset: int) -> tuple[int, int] | None:
        for _key, row in self.store.scan(DB_OFFSETS, gid_u64_key(self.gid, offset), self._stop):
            raft_index, base, _ = INDEX_ROW.unpack_from(row)
            return int(raft_index), int(base)
        return None

    def trim_index(self, log_start_offset: int) -> None:
        self._reclaim_below = max(self._reclaim_below, log_start_offset)

    def replace_producers(self, producers: dict[int, ProducerState]) -> None:
        self._producers.destroy()
        for producer_id, state in producers.items():
            self._producers.save(producer_id, state)

    def reclaim(self, budget: int) -> int:
        """Delete up to ``budget`` index rows of batches wholly below the log start; how many were
        deleted (fewer than ``budget``: none are left)."""
        if not self._reclaim_below:
            return 0
        stop = gid_u64_key(self.gid, self._reclaim_below)
        keys: list[bytes] = []
        for key, _ in self.store.scan(DB_OFFSETS, self._prefix, stop):
            keys.append(bytes(key))
            if len(keys) >= budget:
                break
        for key in keys:
            self.store.delete(DB_OFFSETS, key)
        if len(keys) < budget:
            self._reclaim_below = 0
        return len(keys)

    # --- snapshots: the batch index travels as rows (key = last offset of a batch) ----------------
    def index_rows(self, after: int, max_rows: int) -> list[tuple[int, bytes]]:
        """Index rows of batches whose last offset is above ``after`` (-1: from the first), in order."""
        out: list[tuple[int, bytes]] = []
        for key, row in self.store.scan(DB_OFFSETS, gid_u64_key(self.gid, after + 1), self._stop):
            out.append((u64_of(key), bytes(row)))
            if len(out) >= max_rows:
                break
        return out

    def put_index_rows(self, rows: list[tuple[int, bytes]]) -> None:
        """Rows from another replica's index. A row is a committed fact (the same on every replica
        that applied its batch), so writing it before the rest of a snapshot arrives is harmless."""
        for last_offset, row in rows:
            if len(row) not in INDEX_ROW_SIZES:
                raise ValueError(f"index row of {len(row)} bytes")
            self.store.put(DB_OFFSETS, gid_u64_key(self.gid, last_offset), row)

    def destroy(self) -> None:
        self.store.delete_prefix(DB_OFFSETS, self._prefix)
        self._producers.destroy()
        self._state.delete()

    # --- any thread: reads of committed data ----------------------------------------------------
    def read_state(self, view: ReadView) -> PartitionState:
        return self._state.read(view) or {"next_offset": 0, "log_start_offset": 0}

    def read(self, view: ReadView, offset: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Committed batches from the one holding ``offset``: at least one, then up to ``max_bytes``.
        Kafka batches come with their base offset patched in (``kraft.log.entry.as_served``)."""
        out: list[tuple[int, bytes]] = []
        size = 0
        gid = self.gid
        unpack_index = INDEX_ROW.unpack_from
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(gid, offset), self._stop):
            raft_index, base, _ = unpack_index(row)
            value = view.get(DB_JOURNAL, gid_u64_key(gid, raft_index))
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

    def size(self, view: ReadView) -> int:
        """Bytes of the batches from the log start on (as stored; rows from before positions were
        kept count as position 0)."""
        state = self.read_state(view)
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, state["log_start_offset"]), self._stop):
            return max(0, state.get("bytes_appended", 0) - (row_position(row) or 0))
        return 0

    def retention_target(self, view: ReadView, *, older_than_ms: int | None, keep_bytes: int | None) -> int | None:
        """The log start that drops the oldest whole batches whose newest record is older than
        ``older_than_ms`` (a wall-clock time) or that lie beyond the newest ``keep_bytes``; None when
        no batch goes. Only the head goes: the first batch both rules keep stops it."""
        state = self.read_state(view)
        start, end = state["log_start_offset"], state["next_offset"]
        appended = state.get("bytes_appended", 0)
        any_gone = False
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            _, base, max_ts = INDEX_ROW.unpack_from(row)
            position = row_position(row)
            expired = older_than_ms is not None and max_ts < older_than_ms
            too_far = keep_bytes is not None and position is not None and appended - position > keep_bytes
            if not (expired or too_far):
                return int(base) if any_gone and base > start else None
            any_gone = True
        return end if any_gone and end > start else None

    def offset_for_timestamp(self, view: ReadView, timestamp_ms: int) -> int | None:
        """Base offset of the first batch whose max timestamp is >= ``timestamp_ms`` (approximate)."""
        unpack_index = INDEX_ROW.unpack_from
        start = self.read_state(view)["log_start_offset"]
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            _, base, max_ts = unpack_index(row)
            if max_ts >= timestamp_ms:
                return max(cast(int, base), start)  # struct's fields are untyped
        return None
