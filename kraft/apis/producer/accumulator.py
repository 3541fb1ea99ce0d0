"""Record accumulator: per-partition batches between ``Producer.send`` and the sender.

Owns the open batch of every partition, sticky partition choice for keyless records, and the
producer's memory limit. Thread-safe through ONE lock taken once per record; everything else a
record costs is a few list appends. It never does I/O and never encodes: the sender drains
closed batches and encodes them on the loop thread.

A batch is closed (ready to send) when it reaches ``batch_size`` bytes, when ``linger_ms`` has
passed since its first record, or at once while a flush or close is in progress.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import Any

from kraft.errors import KraftError

from ..types import RecordMetadata

RecordIn = tuple[int, bytes | None, bytes | None, Any]  # (timestamp_ms, key, value, headers)
_DONE_STATES = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)


class RecordFuture(Future[RecordMetadata]):
    """A ``concurrent.futures.Future`` that is cheap to create and to complete.

    All futures of one producer share one Condition instead of each allocating a Condition and an
    RLock (that allocation was most of ``send``'s cost), and a batch's futures are completed under
    one acquisition of it (:meth:`resolve_all`). ``Future.result`` waits only once on its
    condition, which a shared one may wake for another future, so ``result``/``exception`` wait in
    a loop here. Relies on ``concurrent.futures.Future``'s private attributes, stable since 3.8.
    """

    def __init__(self, condition: threading.Condition) -> None:  # no super().__init__: see above
        self._condition = condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks = []

    def _wait_done(self, timeout: float | None) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._state in _DONE_STATES, timeout)

    def result(self, timeout: float | None = None) -> RecordMetadata:
        self._wait_done(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait_done(timeout)
        return super().exception(0)

    @staticmethod
    def resolve_all(
        condition: threading.Condition,
        futures: Sequence[RecordFuture],
        results: Sequence[RecordMetadata] | None = None,
        exc: BaseException | None = None,
    ) -> None:
        """Complete ``futures`` (all sharing ``condition``) with ``results`` or ``exc``; futures
        the caller cancelled are skipped. Callbacks run after the condition is released."""
        with_callbacks = []
        with condition:
            for i, future in enumerate(futures):
                if future._state != PENDING:
                    continue
                if exc is None:
                    future._result = results[i]  # type: ignore[index]
                else:
                    future._exception = exc
                future._state = FINISHED
                for waiter in future._waiters:
                    if exc is None:
                        waiter.add_result(future)
                    else:
                        waiter.add_exception(future)
                if future._done_callbacks:
                    with_callbacks.append(future)
            condition.notify_all()
        for future in with_callbacks:
            future._invoke_callbacks()


class ProducerBatch:
    """Records of one partition sent (and retried) together."""

    __slots__ = ("attempts", "created_at", "deadline", "encoded", "futures", "last_error", "partition",
                 "records", "retry_at", "seq", "size", "topic")

    def __init__(self, topic: str, partition: int, now: float, deadline: float, seq: int) -> None:
        self.topic = topic
        self.partition = partition
        self.records: list[RecordIn] = []
        self.futures: list[RecordFuture] = []
        self.size = 0  # estimated encoded bytes
        self.created_at = now
        self.deadline = deadline  # fail the batch after this (monotonic seconds)
        self.seq = seq  # creation order: retries go back in this order
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error: KraftError | None = None
        self.encoded: bytes | None = None


class RecordAccumulator:
    def __init__(
        self,
        *,
        batch_size: int,
        linger_ms: float,
        delivery_timeout_ms: float,
        buffer_memory_bytes: int,
        wakeup: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.linger_s = linger_ms / 1000
        self.delivery_timeout_s = delivery_timeout_ms / 1000
        self.buffer_memory_bytes = buffer_memory_bytes
        self._wakeup = wakeup
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.futures_condition = threading.Condition()  # shared by every RecordFuture of this producer
        self._space = threading.Condition(self._lock)  # send() waits here when memory is full
        self._idle = threading.Condition(self._lock)  # flush() waits here for unfinished == 0
        self._open: dict[tuple[str, int], ProducerBatch] = {}
        self._closed: list[ProducerBatch] = []
        self._sticky: dict[str, int] = {}
        self._seq = 0
        self._wake_pending = False
        self._flushing = 0
        self.unfinished_records = 0
        self.unfinished_bytes = 0

    # --- producer thread(s) -----------------------------------------------------------------------

    def append(self, topic: str, partition: int, num_partitions: int, record: RecordIn, size: int,
               future: RecordFuture, max_block_s: float) -> bool:
        """Add one record (``partition`` -1: sticky choice). False if no memory within max_block_s."""
        wake = False
        with self._lock:
            if (
                self.unfinished_bytes + size > self.buffer_memory_bytes
                and self.unfinished_bytes > 0
                and not self._space.wait_for(
                    lambda: self.unfinished_bytes + size <= self.buffer_memory_bytes or not self.unfinished_bytes,
                    max_block_s,
                )
            ):
                return False
            if partition < 0:
                entry = self._sticky.get(topic)
                if entry is not None and 0 <= entry < num_partitions:
                    partition = entry
                else:
                    partition = self._sticky[topic] = self._pick_sticky(entry, num_partitions)
            key = (topic, partition)
            batch = self._open.get(key)
            if batch is not None and batch.size + size > self.batch_size:
                self._close(key, batch)
                batch = None
                wake = True
            if batch is None:
                now = self._clock()
                self._seq += 1
                batch = self._open[key] = ProducerBatch(topic, partition, now, now + self.delivery_timeout_s,
                                                        self._seq)
                wake = True  # the sender must learn this batch's linger deadline
            batch.records.append(record)
            batch.futures.append(future)
            batch.size += size
            self.unfinished_records += 1
            self.unfinished_bytes += size
            if batch.size >= self.batch_size:
                self._close(key, batch)
                wake = True
            if wake:
                wake = not self._wake_pending
                self._wake_pending = True
        if wake:
            self._wakeup()
        return True

    def flush(self, timeout_s: float | None) -> bool:
        """Close every open batch and wait until all records so far are done. False on timeout."""
        with self._lock:
            self._flushing += 1
            self._wake_pending = True
        self._wakeup()
        try:
            with self._lock:
                return self._idle.wait_for(lambda: self.unfinished_records == 0, timeout_s)
        finally:
            with self._lock:
                self._flushing -= 1

    # --- sender (loop thread) ---------------------------------------------------------------------

    def drain(self, now: float, force: bool = False) -> list[ProducerBatch]:
        """Closed batches plus open ones whose linger expired (all open ones if ``force``)."""
        with self._lock:
            self._wake_pending = False
            force = force or self._flushing > 0
            for key, batch in list(self._open.items()):
                if force or now - batch.created_at >= self.linger_s:
                    self._close(key, batch)
            ready, self._closed = self._closed, []
        return ready

    def next_linger_deadline(self) -> float | None:
        """When the oldest open batch's linger expires (monotonic seconds), if any is open."""
        with self._lock:
            if self._flushing and self._open:
                return 0.0
            if not self._open:
                return None
            return min(b.created_at for b in self._open.values()) + self.linger_s

    def completed(self, batch: ProducerBatch) -> None:
        """Release a finished (acknowledged or failed) batch's records and memory."""
        with self._lock:
            self.unfinished_records -= len(batch.records)
            self.unfinished_bytes -= batch.size
            self._space.notify_all()
            if self.unfinished_records == 0:
                self._idle.notify_all()

    def abort_open(self) -> list[ProducerBatch]:
        """Take every open and closed batch out (close without flush); the caller fails them."""
        with self._lock:
            batches = self._closed + list(self._open.values())
            self._closed, self._open = [], {}
        return batches

    @property
    def has_open_batches(self) -> bool:
        return bool(self._open) or bool(self._closed)

    # --- internals (lock held) --------------------------------------------------------------------

    def _close(self, key: tuple[str, int], batch: ProducerBatch) -> None:
        del self._open[key]
        self._closed.append(batch)
        topic, partition = key
        if self._sticky.get(topic) == partition:
            # Sticky partitioning: the next keyless record of this topic picks another partition.
            # A negative entry remembers which one to avoid (-1 - partition).
            self._sticky[topic] = -1 - partition

    def _pick_sticky(self, entry: int | None, num_partitions: int) -> int:
        previous = -1 - entry if entry is not None and entry < 0 else -1
        if num_partitions == 1 or not 0 <= previous < num_partitions:
            return self._rng.randrange(num_partitions)
        return (previous + 1 + self._rng.randrange(num_partitions - 1)) % num_partitions
