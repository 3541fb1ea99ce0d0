"""A partition's record log in the node's LogStore: the batch index beside the Raft journal, and reads.

Owns: the rows that turn an offset into the Raft entry holding its batch (``offsets`` table: key gid +
last offset of the batch, value ``INDEX_ROW``: raft index + base offset + max timestamp), reads of
committed batches through them, and the partition's store for its state machine (``PartitionStore``
of ``kraft.state.partition``: the index, plus the state and producer rows of ``kraft.log.rows``).
The batch bytes themselves live only in the journal entry (stored once; ``kraft.log.entry``).
Must not: decide offsets (the partition state machine does) or commit (the driver does).
"""

from __future__ import annotations

import struct
from typing import cast

from kraft.errors import CorruptRecord
from kraft.log.entry import BATCH_AT, OP_AT, as_served, verify_stored
from kraft.log.rows import ProducerRows, StateRow
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, LogStore, ReadView, gid_key, gid_u64_key, prefix_stop
from kraft.state.partition import PartitionState, ProducerState

INDEX_ROW = struct.Struct(">QQq")  # raft index, base offset, max timestamp


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

    # --- driver thread: writes inside the loop's batch -------------------------------------------
    def load_state(self) -> PartitionState | None:
        return self._state.load_state()

    def save_state(self, state: PartitionState) -> None:
        self._state.save_state(state)

    def load_producers(self) -> dict[int, ProducerState]:
        return self._producers.load()

    def save_producer(self, producer_id: int, state: ProducerState | None) -> None:
        self._producers.save(producer_id, state)

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int) -> None:
        key = gid_u64_key(self.gid, base_offset + count - 1)
        self.store.put(DB_OFFSETS, key, INDEX_ROW.pack(raft_index, base_offset, max_timestamp))

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
        unpack_index = INDEX_ROW.unpack
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

    def offset_for_timestamp(self, view: ReadView, timestamp_ms: int) -> int | None:
        """Base offset of the first batch whose max timestamp is >= ``timestamp_ms`` (approximate)."""
        unpack_index = INDEX_ROW.unpack
        for _key, row in view.scan(DB_OFFSETS, self._prefix, self._stop):
            _, base, max_ts = unpack_index(row)
            if max_ts >= timestamp_ms:
                return cast(int, base)  # struct's fields are untyped
        return None
