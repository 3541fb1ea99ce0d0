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
from kraft.log.entry import OP_KAFKA, OP_NATIVE, batch_fields

SEQUENCE_MODULUS = 1 << 31
RECENT_BATCHES = 5  # per producer and partition: how far back a retry is recognised
PRODUCER_EXPIRATION_MS = 7 * 24 * 3600 * 1000  # a producer silent this long (by batch timestamps) is forgotten
EXPIRY_SWEEP_EVERY = 1000  # applies between sweeps for expired producers


class PartitionState(TypedDict, total=False):
    """A partition's state row (every apply writes all three; a missing field reads as 0)."""

    next_offset: int
    log_start_offset: int
    last_applied: int


# One producer's idempotence state on a partition, a msgpack list as stored: [next expected sequence,
# [[base sequence, count, base offset], ...], last timestamp, epoch] (rows written before epochs
# were kept have no epoch: 0).
ProducerState = list[Any]


class PartitionStore(Protocol):
    """Where a partition's state persists: its state row, the batch index, one row per producer."""

    def load_state(self) -> PartitionState | None: ...

    def save_state(self, state: PartitionState) -> None: ...

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int) -> None: ...

    def load_producers(self) -> dict[int, ProducerState]: ...

    def save_producer(self, producer_id: int, state: ProducerState | None) -> None: ...


class PartitionMachine:
    def __init__(self, store: PartitionStore, on_append: Callable[[int], None] | None = None) -> None:
        self._store = store
        state: PartitionState = store.load_state() or {}
        self.next_offset: int = state.get("next_offset", 0)
        self.log_start_offset: int = state.get("log_start_offset", 0)
        self._last_applied: int = state.get("last_applied", 0)
        # producer id -> its ProducerState. One row each in the store: an apply writes only the
        # producer it touched.
        self._producers: dict[int, ProducerState] = store.load_producers()
        self._newest_ts = 0
        self._on_append = on_append

    @property
    def last_applied(self) -> int:
        return self._last_applied

    def apply(self, raft_index: int, payload: bytes) -> tuple[int, int] | None:
        if raft_index <= self._last_applied:
            return None  # replayed by pysyncobj after a restart: already in the log
        result: tuple[int, int] | None = None
        appended = False
        if payload[:1] in (OP_NATIVE, OP_KAFKA):
            count, max_ts, producer_id, epoch, sequence = batch_fields(payload)
            result = self._check_sequence(producer_id, epoch, sequence, count)
            if result is None:
                result = (0, self.next_offset)
                self._store.index_batch(raft_index, self.next_offset, count, max_ts)
                self._record_sequence(producer_id, epoch, sequence, count, self.next_offset, max_ts)
                self.next_offset += count
                appended = True
            self._newest_ts = max(self._newest_ts, max_ts)
            if raft_index % EXPIRY_SWEEP_EVERY == 0:
                self._expire_producers()
        self._last_applied = raft_index
        self._store.save_state({
            "next_offset": self.next_offset,
            "log_start_offset": self.log_start_offset,
            "last_applied": raft_index,
        })
        if appended and self._on_append is not None:
            self._on_append(self.next_offset)
        return result

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
