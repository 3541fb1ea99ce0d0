"""Log compaction of one partition: keep the latest record of every key, in bounded steps.

Owns one compaction pass over the batches from the log start up to ``end`` (an offset the
replicated OP_COMPACT command fixed, with the offset below which tombstones go): first the key map (each key's
latest offset below ``end``), then the batches rewritten in offset order. A record stays when it is
its key's latest below ``end``, unless it is a tombstone (null value) below ``tombstones_below``;
records without a key go, as Kafka's cleaner drops them. A Kafka batch is rewritten as Kafka's
cleaner does (``compact_kafka_batch``); a native batch that loses records becomes a Kafka v2 batch
(native batches carry no offset deltas, and every reader reads both kinds); an emptied batch goes,
its index row stays, marked emptied (``kraft.log.index_rows``). Offsets never change, so a
compacted log has gaps.

The result depends only on the rows and the pass's inputs, which are the same on every replica, so
every replica ends with the same bytes. A pass is idempotent, also from a partly rewritten log (after
a crash, or a newer pass): rewriting goes in offset order, so a tombstone only goes once every older
record of its key has gone.
Must not: decide when to compact (the leader's cleaner proposes a pass), or touch Raft state: the
rows it rewrites are below the Raft log's base, which the journal no longer reads or sends.
"""

from __future__ import annotations

from collections.abc import Iterator

from kraft.log.entry import (
    BATCH_AT,
    OP_AT,
    OP_KAFKA,
    OP_KAFKA_SET,
    OP_NATIVE,
    REGULAR,
    encode_row,
    row_term,
    stored_batches,
)
from kraft.log.index_rows import INDEX_ROW, as_emptied, emptied
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, LogStore, gid_u64_key, u64_of
from kraft.protocol.batch import decode_batch
from kraft.protocol.kafka.records import compact_kafka_batch, decode_kafka_batch, native_to_kafka


class CompactionPass:
    def __init__(self, store: LogStore, gid: int, log_start: int, end: int, tombstones_below: int) -> None:
        self.store = store
        self.gid = gid
        self.end = end
        self.tombstones_below = tombstones_below
        self.latest: dict[bytes, int] = {}  # key -> its latest offset below end
        self.mapping = True  # first the key map, then the rewrite
        self._next = log_start  # the next batch to look at: its last offset >= this
        self._start = log_start
        self.removed_records = 0
        self.removed_bytes = 0

    @property
    def done(self) -> bool:
        return not self.mapping and self._next >= self.end

    def step(self, budget: int) -> int:
        """Up to ``budget`` batches of work (driver thread); how many were done."""
        batches = self._batches(budget)
        for last_offset, raft_index, base, index_key, index_row in batches:
            self._next = last_offset + 1
            if emptied(index_row):
                continue
            row = self.store.get(DB_JOURNAL, gid_u64_key(self.gid, raft_index))
            if row is None:
                continue
            if self.mapping:
                for offset, _ts, key, _value in _records(bytes(row), base):
                    if key is not None:
                        self.latest[key] = offset
            else:
                self._rewrite(raft_index, base, index_key, index_row, bytes(row))
        if len(batches) < budget:  # this phase reached the end
            if self.mapping:
                self.mapping = False
                self._next = self._start
            else:
                self._next = self.end
        return len(batches)

    def _batches(self, budget: int) -> list[tuple[int, int, int, bytes, bytes]]:
        """(last offset, raft index, base offset, index key, index row) of up to ``budget`` batches
        wholly below ``end``, from ``_next`` on."""
        stop = gid_u64_key(self.gid, self.end)  # index keys are last offsets: < end
        out = []
        for key, value in self.store.scan(DB_OFFSETS, gid_u64_key(self.gid, self._next), stop):
            raft_index, base, _ = INDEX_ROW.unpack_from(value)
            out.append((u64_of(key), int(raft_index), int(base), bytes(key), bytes(value)))
            if len(out) >= budget:
                break
        return out

    def _rewrite(self, raft_index: int, base: int, index_key: bytes, index_row: bytes, row: bytes) -> None:
        op, batch = row[OP_AT:BATCH_AT], row[BATCH_AT:]
        if op == OP_KAFKA_SET:
            # Each batch of the set on its own; an emptied one goes, the others keep their offsets
            # (a set's batches carry them, ``kraft.log.entry``).
            parts = []
            for part_base, part_op, view in stored_batches(op, batch, base):
                part = bytes(view)  # a batch kept whole comes back as itself: the test below is by identity
                parts.append((part, self._compacted(part_base, part_op, part)))
            if all(compacted is part for part, compacted in parts):
                return
            kept = [compacted for _part, compacted in parts if compacted is not None]
            self._store_rewritten(raft_index, index_key, index_row, row,
                                  None if not kept else OP_KAFKA_SET + b"".join(kept))
            return
        compacted = self._compacted(base, op, batch)
        if compacted is batch:
            return
        self._store_rewritten(raft_index, index_key, index_row, row,
                              None if compacted is None else OP_KAFKA + compacted)

    def _compacted(self, base: int, op: bytes, batch: bytes) -> bytes | None:
        """``batch`` (its first offset ``base``) with the records the pass keeps, as a Kafka batch;
        ``batch`` itself when every record stays; None when none does."""
        latest, tombstones_below = self.latest, self.tombstones_below

        def keep(delta: int, ts: int, key: bytes | None, value: bytes | None) -> bool:
            offset = base + delta
            kept = key is not None and latest.get(key) == offset and (value is not None or offset >= tombstones_below)
            if not kept:
                self.removed_records += 1
            return kept

        if op == OP_NATIVE:
            before = self.removed_records
            for offset, ts, key, value, _headers in decode_batch(batch, base):
                keep(offset - base, ts, key, value)
            if self.removed_records == before:
                return batch
            self.removed_records = before  # counted again below
            batch = native_to_kafka(batch, 0)
        return compact_kafka_batch(batch, keep)

    def _store_rewritten(self, raft_index: int, index_key: bytes, index_row: bytes, row: bytes,
                         payload: bytes | None) -> None:
        """Replace the journal row's produce payload with ``payload``; None: the row goes, its index
        row is marked emptied."""
        journal_key = gid_u64_key(self.gid, raft_index)
        self.removed_bytes += len(row)
        if payload is None:
            self.store.delete(DB_JOURNAL, journal_key)
            self.store.put(DB_OFFSETS, index_key, as_emptied(index_row))
            return
        new_row = encode_row(row_term(row), REGULAR + payload)
        self.removed_bytes -= len(new_row)
        self.store.put(DB_JOURNAL, journal_key, new_row)


def _records(row: bytes, base: int) -> Iterator[tuple[int, int, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of every record of the batch (or the set's batches) in a
    journal row."""
    for part_base, op, part in stored_batches(row[OP_AT:BATCH_AT], row[BATCH_AT:], base):
        decoded = decode_batch(part, part_base) if op == OP_NATIVE else decode_kafka_batch(part, part_base)
        for offset, ts, key, value, _headers in decoded:
            yield offset, ts, key, value
