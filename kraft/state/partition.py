"""The partition state machine: committed Raft entries in, dense offsets out.

Owns: ``next_offset`` and ``last_applied`` of one partition, the producers' idempotence states, and
the rule that an entry applied once is never applied again (pysyncobj replays; the last applied index
is saved in the same batch of the store as the batch index row, so a replay below it is skipped).
It declares what it needs from storage, ``PartitionStore`` (``kraft.log.partition_log`` implements
it; the rows' bytes are ``kraft.log.rows``'s).
Must not: read clocks, sockets or randomness; decode records (it reads the batch header's count);
know a byte layout (the command framing and header fields come from ``kraft.log.entry``).

Commands (the payload after pysyncobj's type byte, framed as ``kraft.log.entry`` says):
    b""                  no-op (leader election): only moves last_applied
    OP_NATIVE + batch    append one native record batch; the result is ``(error code, base offset)``
    OP_KAFKA + batch     the same for a Kafka magic-v2 batch, stored as its producer sent it
    OP_KAFKA_SET + batches
                         the same for Kafka batches without a producer id, several produce
                         requests' joined into one entry (``kraft.state.produce_sets``): one index
                         row; each proposer's share of the result is its batch's
    OP_TRIM + offset     move the log start offset up to ``offset`` (DeleteRecords, retention); the
                         result is ``(0, log start offset)``
    OP_COMPACT + end + tombstones below + proposed ms
                         compact the batches below ``end`` (each key's latest record stays;
                         tombstones below the second offset go); the result is ``(0, end)``

Log start: records below ``log_start_offset`` are gone. A trim moves it up (never past
``next_offset``) and moves ``log_floor`` with it: the Raft index of the first entry the record log
still needs (the entry holding the batch of the new log start; the trim's own entry when no batch is
left). Entries below the floor are discarded by the Raft group (``raft.group``), batches whose last
offset is below the log start by the store, both on every replica at the same entry, since the
inputs (the trim's offset, the batch index) are replicated. A batch is never split: a log start
inside a batch keeps the whole batch, and readers skip the records below the start.

Compaction: a pass moves ``compacted_to`` up to its end and ``compact_floor`` with it (the Raft
index of the first batch it leaves alone): Raft no longer reads or sends the entries below, since
each replica's store rewrites their batches (``kraft.log.compactor``), deterministically, in the
background. The Raft log's floor is the higher of the two floors (``raft_floor``); rows between the
log floor and it stay, compacted. Every pass's end and proposal time are kept (the last
``COMPACTION_HISTORY`` of them, ``compaction_history``): a tombstone is first cleaned by the first pass
whose end is above it, so the leader can say which tombstones have been cleaned for longer than
delete.retention.ms (Kafka's rule) as an offset: those below the end of the last pass proposed that
long ago.

Leader epochs: the first entry of a later Raft term applied here (its leader's no-op) starts that
term's epoch at the log end (``leader_epochs``, rules in ``kraft.state.leader_epochs``): every replica
applies the same entries with the same terms, so every replica has the same rows. A trim trims them
with the log start; a snapshot carries them. They are a row of their own, written only when they change.

Idempotence: a batch whose header carries a producer id (>= 0) and base sequence is appended only if
its sequence is the next one expected from that producer on this partition (sequences wrap at 2**31,
as Kafka's). Kafka batches also carry the producer's epoch (native batches are epoch 0): a newer
epoch starts the producer afresh at sequence 0 (a Kafka client bumps its epoch and restarts its
sequences), an older one is fenced with INVALID_PRODUCER_EPOCH. A retry of one of the
producer's last ``RECENT_BATCHES`` batches is answered with the offset it got the first time and is
not appended again; a gap is refused with OUT_OF_ORDER_SEQUENCE. The producer states are part of
the replicated state, so this holds across leader changes and restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from kraft.errors import InvalidProducerEpoch, OutOfOrderSequence, UnknownProducerId
from kraft.log.entry import (
    OP_COMPACT,
    OP_TRIM,
    PRODUCE_OPS,
    batch_fields,
    compact_fields,
    trim_offset,
)
from kraft.state import leader_epochs
from kraft.state.leader_epochs import LeaderEpochs

SNAPSHOT_END = (1 << 63) - 1  # the last offset a snapshot part can cover: to the end
COMPACTION_HISTORY = 256  # passes remembered (end, proposal time): a day of passes every 5 minutes
SEQUENCE_MODULUS = 1 << 31
RECENT_BATCHES = 5  # per producer and partition: how far back a retry is recognised
PRODUCER_EXPIRATION_MS = 7 * 24 * 3600 * 1000  # a producer silent this long (by batch timestamps) is forgotten
EXPIRY_SWEEP_EVERY = 1000  # applies between sweeps for expired producers


class PartitionState(TypedDict, total=False):
    """A partition's state row (every apply writes all three; a missing field reads as 0)."""

    next_offset: int
    log_start_offset: int
    last_applied: int
    log_floor: int  # Raft index of the first entry the record log needs (0: never trimmed)
    newest_timestamp: int  # the newest batch timestamp applied (producer expiry reads it)
    bytes_appended: int  # bytes of every batch appended (the log's end position)
    compacted_to: int  # batches below this offset have been compacted (0: never)
    compact_floor: int  # Raft index of the first entry a compaction left alone (0: none)
    compaction: list[int]  # the last pass: [end offset, tombstones below, epoch]


# One producer's idempotence state on a partition, a msgpack list as stored: [next expected sequence,
# [[base sequence, count, base offset], ...], last timestamp, epoch] (rows written before epochs
# were kept have no epoch: 0).
ProducerState = list[Any]


class PartitionStore(Protocol):
    """Where a partition's state persists: its state row, the batch index, one row per producer."""

    def load_state(self) -> PartitionState | None: ...

    def save_state(self, state: PartitionState) -> None: ...

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int, position: int) -> None:
        """``position``: the bytes of batches appended before this one (sizes and retention.bytes)."""
        ...

    def batch_at(self, offset: int) -> tuple[int, int] | None:
        """(Raft index, base offset) of the batch holding ``offset``, or of the first one after it."""
        ...

    def trim_index(self, log_start_offset: int) -> None:
        """Batches whose last offset is below ``log_start_offset`` are gone (their rows may go later)."""
        ...

    def load_producers(self) -> dict[int, ProducerState]: ...

    def save_producer(self, producer_id: int, state: ProducerState | None) -> None: ...

    def replace_producers(self, producers: dict[int, ProducerState]) -> None: ...

    def start_compaction(self, log_start: int, end: int, tombstones_below: int, epoch: int) -> None:
        """Compact the batches from ``log_start`` below ``end`` (in the background: ``reclaim``)."""
        ...

    def load_compaction_history(self) -> list[list[int]]: ...

    def load_leader_epochs(self) -> list[list[int]]: ...

    def save_leader_epochs(self, epochs: list[list[int]]) -> None: ...

    def save_compaction_history(self, history: list[list[int]]) -> None: ...

    def compaction_settled(self, epoch: int) -> bool:
        """Whether the pass of ``epoch`` (and every one before) has finished on this replica."""
        ...

    def installed_compaction(self, epoch: int) -> None:
        """A snapshot brought rows compacted through ``epoch``: no pass is owed."""
        ...

    def reclaim(self, budget: int) -> int:
        """Delete up to ``budget`` rows of trimmed batches; how many (fewer: none are left)."""
        ...

    def index_rows(self, after: int, max_rows: int) -> list[tuple[int, bytes]]:
        """The batch index as opaque rows (last offset, row) for a snapshot, from above ``after``."""
        ...

    def put_index_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None:
        """Make the rows of last offsets in [low, high] exactly ``rows``."""
        ...


class PartitionMachine:
    def __init__(self, store: PartitionStore, on_append: Callable[[int], None] | None = None) -> None:
        self._store = store
        self._on_append = on_append
        self._load(store.load_state() or {}, store.load_producers())
        # (end offset, proposed ms) of the last passes; replaced, never mutated (other threads read it)
        self.compaction_history: tuple[tuple[int, int], ...] = tuple(
            (e, t) for e, t in store.load_compaction_history())
        # (epoch, start offset) rows, ``kraft.state.leader_epochs``; replaced, never mutated
        self.leader_epochs: LeaderEpochs = tuple((e, o) for e, o in store.load_leader_epochs())

    def _load(self, state: PartitionState, producers: dict[int, ProducerState]) -> None:
        self.next_offset: int = state.get("next_offset", 0)
        self.log_start_offset: int = state.get("log_start_offset", 0)
        self._last_applied: int = state.get("last_applied", 0)
        self.log_floor: int = state.get("log_floor", 0)
        self._newest_ts: int = state.get("newest_timestamp", 0)
        self.bytes_appended: int = state.get("bytes_appended", 0)
        self.compacted_to: int = state.get("compacted_to", 0)
        self.compact_floor: int = state.get("compact_floor", 0)
        self.compaction: list[int] = list(state.get("compaction", [0, 0, 0]))
        # producer id -> its ProducerState. One row each in the store: an apply writes only the
        # producer it touched.
        self._producers: dict[int, ProducerState] = producers

    def state(self) -> PartitionState:
        return {
            "next_offset": self.next_offset,
            "log_start_offset": self.log_start_offset,
            "last_applied": self._last_applied,
            "log_floor": self.log_floor,
            "newest_timestamp": self._newest_ts,
            "bytes_appended": self.bytes_appended,
            "compacted_to": self.compacted_to,
            "compact_floor": self.compact_floor,
            "compaction": list(self.compaction),
        }

    def snapshot_state(self) -> dict[str, Any]:
        """What a snapshot carries besides the producers: the state row and the pass history."""
        return {**self.state(), "compaction_history": [list(h) for h in self.compaction_history],
                "leader_epochs": [list(e) for e in self.leader_epochs]}

    def producers(self) -> dict[int, ProducerState]:
        """A copy of the producer states: a snapshot taken now must not change with later applies
        (messages are encoded only when the driver iteration ends)."""
        return {pid: [st[0], [list(r) for r in st[1]], *st[2:]] for pid, st in self._producers.items()}

    def install(self, state: PartitionState, producers: dict[int, ProducerState]) -> None:
        """Take over another replica's state at its last applied entry (a snapshot: this replica's
        log no longer reaches the leader's). The batch index rows came with the snapshot."""
        history = state.pop("compaction_history", [])  # type: ignore[typeddict-item]
        epochs = state.pop("leader_epochs", [])  # type: ignore[typeddict-item]
        self._load(state, dict(producers))
        self._set_leader_epochs(tuple((int(e), int(o)) for e, o in epochs))
        self.compaction_history = tuple((int(e), int(t)) for e, t in history)
        self._store.save_compaction_history([list(h) for h in self.compaction_history])
        self._store.save_state(self.state())
        self._store.replace_producers(self._producers)
        self._store.trim_index(self.log_start_offset)
        self._store.installed_compaction(self.compaction[2])

    @property
    def raft_floor(self) -> int:
        """The first Raft index the Raft log must keep: below, entries are gone or compacted."""
        return max(self.log_floor, self.compact_floor)

    @property
    def compaction_epoch(self) -> int:
        return self.compaction[2]

    def compaction_settled(self) -> bool:
        return self._store.compaction_settled(self.compaction[2])

    # --- snapshots: the leader's group sends these, a lagging follower's installs them -------------
    def snapshot_rows(self, after: int, max_rows: int) -> tuple[int, int, list[tuple[int, bytes]]]:
        """``(low, high, rows)``: the index rows of the batches still in the log whose last offset is
        above ``after``, up to ``max_rows``; they are all the rows in [low, high] (high: the last
        row's offset, or ``SNAPSHOT_END`` when no row is left)."""
        low = max(after + 1, self.log_start_offset)
        rows = self._store.index_rows(low - 1, max_rows)
        return low, rows[-1][0] if len(rows) >= max_rows else SNAPSHOT_END, rows

    def install_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None:
        """Make the index rows in [low, high] exactly ``rows`` (another replica's)."""
        self._store.put_index_rows(low, high, rows)

    def reclaim(self, budget: int) -> int:
        return self._store.reclaim(budget)

    @property
    def last_applied(self) -> int:
        return self._last_applied

    def apply(self, raft_index: int, payload: bytes, term: int = 0) -> tuple[int, int] | None:
        """Apply the entry at ``raft_index`` of Raft term ``term`` (0: unknown, no epoch starts)."""
        if raft_index <= self._last_applied:
            return None  # replayed by pysyncobj after a restart: already in the log
        if term > 0 and term > leader_epochs.latest_epoch(self.leader_epochs):
            # The first entry of a later term (its leader's no-op): its epoch starts at the log end.
            self._set_leader_epochs(leader_epochs.assign(self.leader_epochs, term, self.next_offset))
        result: tuple[int, int] | None = None
        appended = False
        if payload[:1] in PRODUCE_OPS:
            count, max_ts, producer_id, epoch, sequence = batch_fields(payload)
            result = self._check_sequence(producer_id, epoch, sequence, count)
            if result is None:
                result = (0, self.next_offset)
                self._store.index_batch(raft_index, self.next_offset, count, max_ts, self.bytes_appended)
                self.bytes_appended += len(payload) - 1
                self._record_sequence(producer_id, epoch, sequence, count, self.next_offset, max_ts)
                self.next_offset += count
                appended = True
            self._newest_ts = max(self._newest_ts, max_ts)
            if raft_index % EXPIRY_SWEEP_EVERY == 0:
                self._expire_producers()
        elif payload[:1] == OP_TRIM:
            result = (0, self._trim(raft_index, trim_offset(payload)))
        elif payload[:1] == OP_COMPACT:
            result = (0, self._compact(raft_index, *compact_fields(payload)))
        self._last_applied = raft_index
        self._store.save_state(self.state())
        if appended and self._on_append is not None:
            self._on_append(self.next_offset)
        return result

    def _trim(self, raft_index: int, offset: int) -> int:
        offset = min(offset, self.next_offset)
        if offset <= self.log_start_offset:
            return self.log_start_offset
        # Only an applied batch may hold the new start: a snapshot's rows can run ahead of what this
        # replica applied, and the floor must be the same on every replica.
        kept = self._store.batch_at(offset) if offset < self.next_offset else None
        self.log_start_offset = offset
        self.log_floor = raft_index if kept is None else kept[0]
        self._store.trim_index(offset)
        self._set_leader_epochs(leader_epochs.trim(self.leader_epochs, offset))
        return offset

    def _set_leader_epochs(self, epochs: LeaderEpochs) -> None:
        if epochs != self.leader_epochs:
            self.leader_epochs = epochs
            self._store.save_leader_epochs([list(e) for e in epochs])

    def _compact(self, raft_index: int, end: int, tombstones_below: int, proposed_ms: int) -> int:
        # Passes only ever grow (a later end, or the same end with more tombstones): a pass then
        # removes everything its predecessor would have, so a replica that starts it before finishing
        # the last one (the store restarts with the new pass) ends with the same records as one that
        # finished both. The same end again: tombstones there have waited long enough since.
        end = max(min(end, self.next_offset), self.compacted_to)
        tombstones_below = min(max(tombstones_below, self.compaction[1]), end)
        if end <= self.log_start_offset or (end == self.compacted_to and tombstones_below == self.compaction[1]):
            return self.compacted_to
        kept = self._store.batch_at(end) if end < self.next_offset else None  # as in _trim
        self.compacted_to = end
        self.compact_floor = raft_index if kept is None else kept[0]
        self.compaction = [end, tombstones_below, self.compaction[2] + 1]
        self.compaction_history = (*self.compaction_history, (end, proposed_ms))[-COMPACTION_HISTORY:]
        self._store.save_compaction_history([list(h) for h in self.compaction_history])
        self._store.start_compaction(self.log_start_offset, end, tombstones_below, self.compaction[2])
        return end

    def tombstones_cleaned_before(self, cleaned_by_ms: int) -> int:
        """The offset below which every tombstone was first cleaned at or before ``cleaned_by_ms``
        (the end of the last pass proposed by then; 0 if none: older passes' ends may have been
        forgotten, which only keeps tombstones longer)."""
        return max((end for end, at in self.compaction_history if at <= cleaned_by_ms), default=0)

    def _check_sequence(self, producer_id: int, epoch: int, sequence: int, count: int) -> tuple[int, int] | None:
        """None to append; else the answer without appending (a duplicate's first offset, or an error)."""
        if producer_id < 0:
            return None
        state = self._producers.get(producer_id)
        if state is None:
            return None if sequence == 0 else (UnknownProducerId.code, -1)
        known_epoch = _epoch_of(state)
        if epoch < known_epoch:
            return (InvalidProducerEpoch.code, -1)
        if epoch > known_epoch:
            # A new epoch restarts at 0; its batches are never duplicates of the old epoch's.
            return None if sequence == 0 else (OutOfOrderSequence.code, -1)
        expected, recent = state[0], state[1]
        if sequence == expected:
            return None
        for base_seq, n, base_offset in recent:
            if base_seq == sequence and n == count:
                return (0, base_offset)  # a retry of a batch that is already in the log
        return (OutOfOrderSequence.code, -1)

    def _record_sequence(self, producer_id: int, epoch: int, sequence: int, count: int, base_offset: int,
                         ts: int) -> None:
        if producer_id < 0:
            return
        state = self._producers.get(producer_id)
        if state is None or _epoch_of(state) != epoch:
            state = self._producers[producer_id] = [0, [], ts, epoch]
        state[0] = (sequence + count) % SEQUENCE_MODULUS
        state[1] = [*state[1][-(RECENT_BATCHES - 1):], [sequence, count, base_offset]]
        state[2] = max(state[2], ts)
        self._store.save_producer(producer_id, state)

    def _expire_producers(self) -> None:
        """Forget producers whose newest batch is older than the expiration, by batch timestamps
        (which are in the log, so every replica expires the same ones at the same entry)."""
        horizon = self._newest_ts - PRODUCER_EXPIRATION_MS
        for producer_id in [p for p, st in self._producers.items() if st[2] < horizon]:
            del self._producers[producer_id]
            self._store.save_producer(producer_id, None)


def _epoch_of(state: ProducerState) -> int:
    epoch: int = state[3] if len(state) > 3 else 0
    return epoch
