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

from kraft.log.entry import BATCH_AT, OP_AT, OP_KAFKA, OP_NATIVE, REGULAR, encode_row, row_term
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
        latest, tombstones_below = self.latest, self.tombstones_below

        def keep(delta: int, ts: int, key: bytes | None, value: bytes | None) -> bool:
            offset = base + delta
            kept = key is not None and latest.get(key) == offset and (value is not None or offset >= tombstones_below)
            if not kept:
                self.removed_records += 1
            return kept

        if op == OP_NATIVE:
            before = self.removed_records
            for offset, ts, key, value in _records(row, base):
                keep(offset - base, ts, key, value)
            if self.removed_records == before:
                return
            self.removed_records = before  # counted again below
            batch = native_to_kafka(batch, 0)
        compacted = compact_kafka_batch(batch, keep)
        if compacted is batch and op == OP_KAFKA:
            return
        journal_key = gid_u64_key(self.gid, raft_index)
        self.removed_bytes += len(row)
        if compacted is None:
            self.store.delete(DB_JOURNAL, journal_key)
            self.store.put(DB_OFFSETS, index_key, as_emptied(index_row))
            return
        new_row = encode_row(row_term(row), REGULAR + OP_KAFKA + compacted)
        self.removed_bytes -= len(new_row)
        self.store.put(DB_JOURNAL, journal_key, new_row)


def _records(row: bytes, base: int) -> Iterator[tuple[int, int, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of every record of the batch in a journal row."""
    op, batch = row[OP_AT:BATCH_AT], row[BATCH_AT:]
    decoded = decode_batch(batch, base) if op == OP_NATIVE else decode_kafka_batch(batch, base)
    for offset, ts, key, value, _headers in decoded:
        yield offset, ts, key, value

