"""A partition's record log in the node's LogStore: the batch index beside the Raft journal, and reads.

Owns: the rows that turn an offset into the Raft entry holding its batch (``offsets`` table: key gid +
last offset of the batch, value as ``kraft.log.index_rows`` lays it out), reads of
committed batches through them, and the partition's store for its state machine (``PartitionStore``
of ``kraft.state.partition``: the index, plus the state and producer rows of ``kraft.log.rows``).
The batch bytes themselves live only in the journal entry (stored once; ``kraft.log.entry``).
Rows of batches below the log start are deleted in bounded slices (``reclaim``), after the trim
that made them unreachable; readers never start below the log start. Compaction passes run in the
same slices (``kraft.log.compactor``); which pass this replica finished is a local row.
Must not: decide offsets (the partition state machine does) or commit (the driver does).
"""

from __future__ import annotations

import logging

from kraft.errors import CorruptRecord
from kraft.log.compactor import CompactionPass
from kraft.log.entry import (
    BATCH_AT,
    OP_AT,
    OP_NATIVE,
    as_served,
    row_term,
    served_count,
    stored_batches,
    verify_stored,
)
from kraft.log.index_rows import INDEX_ROW, INDEX_ROW_SIZES, encode_index_row, row_position
from kraft.log.rows import CompactionDoneRow, CompactionHistoryRow, LeaderEpochsRow, ProducerRows, StateRow
from kraft.log.store import (
    DB_JOURNAL,
    DB_OFFSETS,
    DB_PSTATE,
    LogStore,
    ReadView,
    gid_key,
    gid_u64_key,
    prefix_stop,
    u64_of,
)
from kraft.protocol.batch import RecordOut, decode_batch
from kraft.protocol.kafka.records import decode_kafka_batch
from kraft.state.leader_epochs import LeaderEpochs
from kraft.state.partition import PartitionState, ProducerState

log = logging.getLogger(__name__)

EMPTIED_SIZE = INDEX_ROW_SIZES[2]
COMPACTION_ROWS_PER_BATCH = 20  # a batch decoded and rewritten costs about as much as deleting 20 rows


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
        self._compaction_done = CompactionDoneRow(store, gid)
        self._history = CompactionHistoryRow(store, gid)
        self._epochs = LeaderEpochsRow(store, gid)
        self._pass: CompactionPass | None = None
        self._pass_epoch = 0
        # (log start, compacted to, bytes stored below it): the clean part's size, read once per
        # pass or trim (compaction_target), not at every check: it is every clean batch's row.
        self._clean_size: tuple[int, int, int] | None = None
        if state is not None:
            end, tombstones_below, epoch = state.get("compaction", [0, 0, 0])
            if epoch > self._compaction_done.load():  # a pass a restart interrupted: again, from the start
                self.start_compaction(state.get("log_start_offset", 0), end, tombstones_below, epoch)

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
        self.store.put(DB_OFFSETS, key, encode_index_row(raft_index, base_offset, max_timestamp, position))

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

    def load_leader_epochs(self) -> list[list[int]]:
        return self._epochs.load()

    def save_leader_epochs(self, epochs: list[list[int]]) -> None:
        self._epochs.save(epochs)

    # --- compaction -------------------------------------------------------------------------------
    def start_compaction(self, log_start: int, end: int, tombstones_below: int, epoch: int) -> None:
        self._pass = CompactionPass(self.store, self.gid, log_start, end, tombstones_below)
        self._pass_epoch = epoch

    def load_compaction_history(self) -> list[list[int]]:
        return self._history.load()

    def save_compaction_history(self, history: list[list[int]]) -> None:
        self._history.save(history)

    def compaction_settled(self, epoch: int) -> bool:
        return self._pass is None and self._compaction_done.load() >= epoch

    def compaction_settled_in(self, view: ReadView, epoch: int) -> bool:
        """``compaction_settled`` for a reader on another thread, from committed rows."""
        raw = view.get(DB_PSTATE, self._compaction_done.key)
        return self._pass is None and (0 if raw is None else int.from_bytes(raw, "big")) >= epoch

    def installed_compaction(self, epoch: int) -> None:
        self._pass = None
        self._compaction_done.save(epoch)

    def _compact(self, budget: int) -> int:
        """Up to ``budget`` rows' worth of the pass in progress; ``budget`` while it is not finished."""
        compaction = self._pass
        if compaction is None:
            return 0
        batches = compaction.step(max(1, budget // COMPACTION_ROWS_PER_BATCH))
        if not compaction.done:
            return budget
        self._pass = None
        self._compaction_done.save(self._pass_epoch)
        log.info("partition %d: compaction pass %d done below offset %d: %d records, %d bytes removed",
                 self.gid, self._pass_epoch, compaction.end, compaction.removed_records, compaction.removed_bytes)
        return min(batches * COMPACTION_ROWS_PER_BATCH, budget - 1)

    def reclaim(self, budget: int) -> int:
        """Delete up to ``budget`` index rows of batches wholly below the log start, then run up to
        the rest of ``budget`` batches of a compaction pass; how much work was done (fewer than
        ``budget``: nothing is left)."""
        done = self._reclaim_index(budget)
        if done < budget:
            done += self._compact(budget - done)
        return done

    def _reclaim_index(self, budget: int) -> int:
        if not self._reclaim_below:
            return 0
        done = self.store.delete_range(DB_OFFSETS, self._prefix, gid_u64_key(self.gid, self._reclaim_below), budget)
        if done < budget:
            self._reclaim_below = 0
        return done

    # --- snapshots: the batch index travels as rows (key = last offset of a batch) ----------------
    def index_rows(self, after: int, max_rows: int) -> list[tuple[int, bytes]]:
        """Index rows of batches whose last offset is above ``after`` (-1: from the first), in order."""
        out: list[tuple[int, bytes]] = []
        for key, row in self.store.scan(DB_OFFSETS, gid_u64_key(self.gid, after + 1), self._stop):
            out.append((u64_of(key), bytes(row)))
            if len(out) >= max_rows:
                break
        return out

    def put_index_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None:
        """Make the rows of last offsets in [low, high] exactly ``rows``, another replica's (a
        snapshot): rows of this index in that range that are not among them go (batches that a
        compaction emptied there)."""
        wanted = dict(rows)
        if any(not low <= o <= high or len(r) not in INDEX_ROW_SIZES for o, r in wanted.items()):
            raise ValueError(f"snapshot index rows outside [{low}, {high}] or of a wrong size")
        stop = gid_u64_key(self.gid, high + 1) if high < (1 << 63) - 1 else self._stop
        stale = [bytes(k) for k, _ in self.store.scan(DB_OFFSETS, gid_u64_key(self.gid, low), stop)
                 if u64_of(k) not in wanted]
        for key in stale:
            self.store.delete(DB_OFFSETS, key)
        for last_offset, row in wanted.items():
            self.store.put(DB_OFFSETS, gid_u64_key(self.gid, last_offset), row)

    def destroy(self) -> None:
        self._pass = None
        self._compaction_done.delete()
        self._history.delete()
        self._epochs.delete()
        self.store.delete_prefix(DB_OFFSETS, self._prefix)
        self._producers.destroy()
        self._state.delete()

    # --- any thread: reads of committed data ----------------------------------------------------
    def read_state(self, view: ReadView) -> PartitionState:
        return self._state.read(view) or {"next_offset": 0, "log_start_offset": 0}

    def read_leader_epochs(self, view: ReadView) -> LeaderEpochs:
        """The partition's leader epochs as committed in ``view`` (``kraft.state.leader_epochs``)."""
        return tuple((int(e), int(s)) for e, s in self._epochs.read(view))

    def read(self, view: ReadView, offset: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Committed batches from the one holding ``offset``: at least one, then up to ``max_bytes``.
        Kafka batches come with their base offset and leader epoch (the term of their entry) patched
        in (``kraft.log.entry.as_served``); a set's batches come one by one."""
        out: list[tuple[int, bytes]] = []
        size = 0
        gid = self.gid
        unpack_index = INDEX_ROW.unpack_from
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(gid, offset), self._stop):
            if len(row) == EMPTIED_SIZE:
                continue  # compaction removed every record of this batch
            raft_index, base, _ = unpack_index(row)
            value = view.get(DB_JOURNAL, gid_u64_key(gid, raft_index))
            if value is None:
                break  # trimmed by retention under us; the next fetch starts later
            op, batch = value[OP_AT:BATCH_AT], value[BATCH_AT:]
            try:
                parts = stored_batches(op, batch, base)
                for _base, part_op, part in parts:
                    verify_stored(part_op, part)  # checked after every read: never serve damaged data
            except CorruptRecord:
                raise DamagedEntry(raft_index) from None
            term = row_term(value)
            for part_base, part_op, part in parts:
                if part_base < offset and part_base + served_count(part) <= offset:
                    continue  # a set's batch wholly below the offset asked for: as Kafka, not served
                if out and size + len(part) > max_bytes:
                    return out
                out.append((part_base, as_served(part_op, part, part_base, term)))
                size += len(part)
        return out

    def size(self, view: ReadView) -> int:
        """Bytes of the batches from the log start on, as stored now. Above the compacted part, from
        the index's byte positions (rows from before positions were kept count as position 0); in
        it, batch by batch, since compaction shrank them."""
        state = self.read_state(view)
        start, compacted_to = state["log_start_offset"], state.get("compacted_to", 0)
        size = 0
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            raft_index, base, _ = INDEX_ROW.unpack_from(row)
            if base >= compacted_to:
                return size + max(0, state.get("bytes_appended", 0) - (row_position(row) or 0))
            if len(row) != EMPTIED_SIZE:
                stored = view.get(DB_JOURNAL, gid_u64_key(self.gid, raft_index))
                size += 0 if stored is None else len(stored) - BATCH_AT
        return size

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

    def compaction_target(self, view: ReadView, *, newer_than_ms: int, overdue_before_ms: int | None,
                          min_dirty_ratio: float) -> int | None:
        """Where a compaction pass should end, or None when none is due: the base offset of the
        first batch newer than ``newer_than_ms`` (min.compaction.lag.ms ago), and never past the last
        batch (the active head). Due when the dirty part (since the last pass) is at least
        ``min_dirty_ratio`` of the log up to there, or its oldest batch is older than
        ``overdue_before_ms`` (max.compaction.lag.ms ago).

        The log up to there is its clean part as stored now plus the dirty part, as Kafka's cleanable
        ratio counts it: the index's byte positions count the clean part as it was appended, before
        passes shrank it, so a log of a few keys rewritten many times would look ever less dirty and
        its newest records would wait for a pass that never comes."""
        state = self.read_state(view)
        start, cleaned = state["log_start_offset"], state.get("compacted_to", 0)
        rows: list[tuple[int, int, int]] = []  # (base offset, newest timestamp, position)
        known = self._clean_size
        measure = known is None or known[:2] != (start, cleaned)
        clean_bytes = 0 if measure or known is None else known[2]
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            raft_index, base, max_ts = INDEX_ROW.unpack_from(row)
            rows.append((int(base), int(max_ts), row_position(row) or 0))
            if measure and base < cleaned and len(row) != EMPTIED_SIZE:
                stored = view.get(DB_JOURNAL, gid_u64_key(self.gid, raft_index))
                clean_bytes += 0 if stored is None else len(stored) - BATCH_AT
            if max_ts > newer_than_ms:
                break  # this batch is too new: the pass ends before it
        if measure and (not rows or rows[-1][0] >= cleaned):
            self._clean_size = (start, cleaned, clean_bytes)  # the whole clean part was counted
        if len(rows) < 2:
            return None
        cut = len(rows) - 1  # the first batch left alone: too new, or the active head
        end, _, end_position = rows[cut]
        dirty = [r for r in rows[:cut] if r[0] >= cleaned]
        if end <= max(cleaned, start) or not dirty:
            return None
        dirty_bytes = end_position - dirty[0][2]
        total = clean_bytes + dirty_bytes
        overdue = overdue_before_ms is not None and dirty[0][1] < overdue_before_ms
        if overdue or (total > 0 and dirty_bytes / total >= min_dirty_ratio):
            return end
        return None

    def record_with_max_timestamp(self, view: ReadView) -> tuple[int, int, int] | None:
        """(offset, timestamp, Raft term of its entry) of the record with the largest timestamp at
        or above the log start (the first of several with it), as Kafka's ListOffsets answers for
        MAX_TIMESTAMP (KIP-734); None for a log with no record. The index's per-batch newest
        timestamp finds the batch; only that batch is decoded."""
        unpack_index = INDEX_ROW.unpack_from
        start = self.read_state(view)["log_start_offset"]
        best: tuple[int, int, int] | None = None  # (max timestamp, raft index, base) of the first batch with it
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            if len(row) == EMPTIED_SIZE:
                continue  # compaction removed every record of this batch
            raft_index, base, max_ts = unpack_index(row)
            if best is None or max_ts > best[0]:
                best = (max_ts, raft_index, base)
        if best is None:
            return None
        _, raft_index, base = best
        value = view.get(DB_JOURNAL, gid_u64_key(self.gid, raft_index))
        if value is None:
            return None  # trimmed by retention under us: the caller's view is gone
        records = _decoded(value, base)
        # the newest timestamp of the records still in the log (a batch holding the log start keeps
        # records below it, and compaction may have left the batch's header timestamp behind)
        kept = [(int(offset), int(ts)) for offset, ts, *_ in records if offset >= start]
        if not kept:
            return None
        newest = max(ts for _, ts in kept)
        offset = next(o for o, ts in kept if ts == newest)
        return offset, newest, row_term(value)

    def record_for_timestamp(self, view: ReadView, timestamp_ms: int) -> tuple[int, int, int] | None:
        """(offset, timestamp, Raft term of its entry) of the first record at or above the log start
        whose timestamp is >= ``timestamp_ms``, as Kafka's ListOffsets answers; None when no record
        has one. The index finds the first batch whose newest record is late enough; that batch is
        decoded for the record (the first record of the batch may be older)."""
        unpack_index = INDEX_ROW.unpack_from
        start = self.read_state(view)["log_start_offset"]
        for _key, row in view.scan(DB_OFFSETS, gid_u64_key(self.gid, start), self._stop):
            if len(row) == EMPTIED_SIZE:
                continue  # compaction removed every record of this batch
            raft_index, base, max_ts = unpack_index(row)
            if max_ts < timestamp_ms:
                continue
            value = view.get(DB_JOURNAL, gid_u64_key(self.gid, raft_index))
            if value is None:
                return None  # trimmed by retention under us: the caller's view is gone
            records = _decoded(value, base)
            for offset, ts, _key2, _value, _headers in records:
                if ts >= timestamp_ms and offset >= start:
                    return int(offset), int(ts), row_term(value)
        return None


def _decoded(row: bytes, base: int) -> list[RecordOut]:
    """The records of the batch (or the set's batches) in a journal row whose batch starts at ``base``."""
    out: list[RecordOut] = []
    for part_base, op, part in stored_batches(row[OP_AT:BATCH_AT], row[BATCH_AT:], base):
        out.extend(decode_batch(part, part_base) if op == OP_NATIVE else decode_kafka_batch(part, part_base))
    return out
