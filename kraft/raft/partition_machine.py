"""The partition state machine: committed Raft entries in, dense offsets out.

Owns: ``next_offset`` and ``last_applied`` of one partition, and the rule that an entry applied
once is never applied again (pysyncobj replays; the last applied index is written in the same LMDB
transaction as the batch index row, so a replay below it is skipped).
Must not: read clocks, sockets or randomness; decode records (it reads the batch header's count).

Commands (the payload after pysyncobj's type byte):
    b""            no-op (leader election): only moves last_applied
    b"P" + batch   append one record batch; the result is its base offset
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

COUNT_AT = struct.Struct(">I")  # batch header: magic u8, crc u32, count u32 ...
MAX_TS_AT = struct.Struct(">q")
OP_PRODUCE = b"P"


class PartitionStore(Protocol):
    def load_state(self) -> dict | None: ...

    def save_state(self, state: dict) -> None: ...

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int) -> None: ...


class PartitionMachine:
    def __init__(self, store: PartitionStore, on_append: Callable[[int], None] | None = None) -> None:
        self._store = store
        state = store.load_state() or {}
        self.next_offset: int = state.get("next_offset", 0)
        self.log_start_offset: int = state.get("log_start_offset", 0)
        self._last_applied: int = state.get("last_applied", 0)
        self._on_append = on_append

    @property
    def last_applied(self) -> int:
        return self._last_applied

    def apply(self, raft_index: int, payload: bytes) -> int | None:
        if raft_index <= self._last_applied:
            return None  # replayed by pysyncobj after a restart: already in the log
        result: int | None = None
        if payload[:1] == OP_PRODUCE:
            (count,) = COUNT_AT.unpack_from(payload, 1 + 5)
            (max_ts,) = MAX_TS_AT.unpack_from(payload, 1 + 17)
            result = self.next_offset
            self._store.index_batch(raft_index, result, count, max_ts)
            self.next_offset += count
        self._last_applied = raft_index
        self._store.save_state({
            "next_offset": self.next_offset,
            "log_start_offset": self.log_start_offset,
            "last_applied": raft_index,
        })
        if result is not None and self._on_append is not None:
            self._on_append(self.next_offset)
        return result
