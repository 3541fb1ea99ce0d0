"""The batch index row: the one owner of its bytes.

A partition's ``offsets`` table holds one row per batch, keyed gid + the batch's last offset
(``kraft.log.store``); its value:

    INDEX_ROW   raft index (u64), base offset (u64), newest timestamp (i64)
    POSITION    u64: bytes of the batches appended before this one (rows written before positions
                were kept end after INDEX_ROW)
    EMPTIED     one byte, only on the row of a batch that compaction emptied: its journal row is
                gone, readers skip it. The row itself stays, so that which Raft entry holds which
                offsets never depends on how far a replica's compaction has got.

Must not: know tables or transactions (``kraft.log.partition_log`` reads and writes the rows).
"""

from __future__ import annotations

import struct

INDEX_ROW = struct.Struct(">QQq")  # raft index, base offset, max timestamp
POSITION = struct.Struct(">Q")
EMPTIED = b"\x00"
INDEX_ROW_SIZES = (INDEX_ROW.size, INDEX_ROW.size + POSITION.size, INDEX_ROW.size + POSITION.size + len(EMPTIED))


def encode_index_row(raft_index: int, base_offset: int, max_timestamp: int, position: int) -> bytes:
    return INDEX_ROW.pack(raft_index, base_offset, max_timestamp) + POSITION.pack(position)


def row_position(row: bytes) -> int | None:
    """Where the batch starts in the log's bytes (None in rows written before positions were kept)."""
    if len(row) < INDEX_ROW_SIZES[1]:
        return None
    position: int = POSITION.unpack_from(row, INDEX_ROW.size)[0]
    return position


def emptied(row: bytes) -> bool:
    """Whether compaction emptied the row's batch."""
    return len(row) == INDEX_ROW_SIZES[2]


def as_emptied(row: bytes) -> bytes:
    return row[:INDEX_ROW_SIZES[1]] + EMPTIED
