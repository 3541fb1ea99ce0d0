"""Record accumulator: per-partition batches between ``Producer.send`` and the sender.

Owns the open batch of every partition, sticky partition choice for keyless records, and the
producer's memory limit. Thread-safe through ONE lock taken once per record; everything else a
record costs is one tuple, one small Future and a list append. It never does I/O and never
encodes: the sender drains closed batches and encodes them (one ``packb`` each) on the loop thread.

A batch is closed (ready to send) when it reaches ``batch_size`` bytes, when ``linger_ms`` has
passed since its first record, or at once while a flush or close is in progress.

Futures are completed per batch, not per record: a batch's records share one :class:`BatchResult`
and the sender completes it with one write; each :class:`RecordFuture` builds its
``RecordMetadata`` only when asked (``result()``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures._base import CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import Any

from kraft.errors import KraftError

from ..types import RecordMetadata

log = logging.getLogger(__name__)

# A record as a batch holds it: (timestamp_ms - batch.first_timestamp, key, value, headers), which
# is already the shape of a record in the encoded batch body (kraft.protocol.batch).
RecordIn = tuple[int, bytes | None, bytes | None, Any]
_INF = float("inf")
# With ``shared_time_base``, a partition's batches opened within this many ms of its time base count
# their deltas from that same base (one msgpack byte each for most records), so the idempotent
# sender can merge queued batches without rewriting their records.
_TIME_BASE_SPAN_MS = 100
_new_future = object.__new__


class BatchResult:
    """The outcome shared by every record of one batch (written once, by the sender).

    ``watched`` lists the futures that have waiters (``concurrent.futures.wait``/``as_completed``)
    or done-callbacks or were cancelled; only those need work when the batch completes.
    """

    __slots__ = ("base_offset", "condition", "done", "exception", "log_append_time", "partition", "topic",
                 "watched")

    def __init__(self, condition: threading.Condition, topic: str, partition: int) -> None:
        self.condition = condition  # shared by every future of the producer
        self.topic = topic
        self.partition = partition
        self.base_offset = -1
        self.log_append_time = -1  # the leader's stamp in a LogAppendTime topic: every record's timestamp
        self.exception: BaseException | None = None
        self.done = False
        self.watched: list[RecordFuture] = []

    def complete(self, base_offset: int = -1, exc: BaseException | None = None, log_append_time: int = -1) -> None:
        """Complete every record of the batch (once): offsets from ``base_offset`` (-1: acks=0,
        none assigned) or the error ``exc``; ``log_append_time`` (>= 0) replaces the records'
        timestamps, as the topic stored them. Callbacks run after the condition is released."""
        callbacks = []
        with self.condition:
            if self.done:
                return
            self.base_offset = base_offset
            self.log_append_time = log_append_time
            self.exception = exc
            self.done = True  # after the fields: readers check ``done`` without the lock
            for future in self.watched:
                watch = future._watch
                assert watch is not None  # a future is watched once it has a _Watch (_watched)
                if watch.cancelled:
                    continue
                for waiter in watch.waiters:
                    if exc is None:
                        waiter.add_result(future)
                    else:
                        waiter.add_exception(future)
                if watch.callbacks:
                    callbacks.append(future)
            self.watched = []
            self.condition.notify_all()
        for future in callbacks:
            future._invoke_callbacks()


class _Watch:
    __slots__ = ("callbacks", "cancelled", "waiters")

    def __init__(self) -> None:
        self.cancelled = False
        self.waiters: list[Any] = []
        self.callbacks: list[Callable[[Future[RecordMetadata]], object]] = []


class RecordFuture(Future[RecordMetadata]):
    """A ``concurrent.futures.Future`` of one record's :class:`RecordMetadata`, cheap to create and
    free to complete: its state lives in the batch's :class:`BatchResult`.

    ``concurrent.futures.Future.__init__`` is not called (its Condition and RLock were most of
    ``send``'s cost). ``concurrent.futures.wait``/``as_completed`` reach into ``_condition``,
    ``_state`` and ``_waiters``: those are properties here, backed by the batch result and by a
    ``_Watch`` made only for futures that are waited on, have callbacks or were cancelled. Relies on
    those private attributes of ``concurrent.futures``, stable since Python 3.8.
    """

    __slots__ = ("_batch", "_index", "_timestamp")
    _watch: _Watch | None = None  # set on the instance (in its __dict__) only when needed

    def __init__(self, batch: BatchResult, index: int, timestamp_ms: int) -> None:
        # RecordAccumulator.append inlines this (object.__new__ and three stores): keep in step.
        self._batch = batch
        self._index = index  # offset = base offset + index
        self._timestamp = timestamp_ms

    # --- concurrent.futures internals (read by wait/as_completed, repr) ----------------------------

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        return self._batch.condition

    @property
    def _state(self) -> str:  # type: ignore[override]
        if self._watch is not None and self._watch.cancelled:
            return CANCELLED_AND_NOTIFIED
        return FINISHED if self._batch.done else PENDING

    @property
    def _result(self) -> RecordMetadata | None:  # type: ignore[override]
        b = self._batch
        return self._metadata() if b.done and b.exception is None else None

    @property
    def _exception(self) -> BaseException | None:  # type: ignore[override]
        return self._batch.exception

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]
        return self._watched().waiters  # callers hold the condition

    @property
    def _done_callbacks(self) -> list[Any]:  # type: ignore[override]
        return self._watched().callbacks

    def _watched(self) -> _Watch:
        """This future's _Watch, registered with its batch (condition held, or batch done)."""
        watch = self._watch
        if watch is None:
            watch = self._watch = _Watch()
            if not self._batch.done:
                self._batch.watched.append(self)
        return watch

    def _metadata(self) -> RecordMetadata:
        b = self._batch
        return RecordMetadata(b.topic, b.partition, b.base_offset + self._index if b.base_offset >= 0 else -1,
                              self._timestamp if b.log_append_time < 0 else b.log_append_time)

    # --- public Future API ------------------------------------------------------------------------

    def done(self) -> bool:
        return self._batch.done or (self._watch is not None and self._watch.cancelled)

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return self._watch is not None and self._watch.cancelled

    def cancel(self) -> bool:
        """Stop waiting for this record (it may still be written). False once it is done."""
        with self._batch.condition:
            if self._batch.done:
                return False
            watch = self._watched()
            if watch.cancelled:
                return True
            watch.cancelled = True
            for waiter in watch.waiters:
                waiter.add_cancelled(self)
            self._batch.condition.notify_all()
        self._invoke_callbacks()
        return True

    def _wait(self, timeout: float | None) -> None:
        batch = self._batch
        if batch.done:
            return
        with batch.condition:
            if not batch.condition.wait_for(self.done, timeout):
                raise TimeoutError()

    def result(self, timeout: float | None = None) -> RecordMetadata:
        self._wait(timeout)
        if self._watch is not None and self._watch.cancelled:
            raise CancelledError()
        exc = self._batch.exception
        if exc is not None:
            raise exc
        return self._metadata()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        if self._watch is not None and self._watch.cancelled:
            raise CancelledError()
        return self._batch.exception

    def add_done_callback(self, fn: Callable[[Future[RecordMetadata]], object]) -> None:
        with self._batch.condition:
            if not self.done():
                self._watched().callbacks.append(fn)
                return
        try:
            fn(self)
        except Exception:
            log.exception("exception calling callback for %r", self)

    def _invoke_callbacks(self) -> None:
        watch = self._watch
        if watch is None:
            return
        for fn in watch.callbacks:
            try:
                fn(self)
            except Exception:
                log.exception("exception calling callback for %r", self)

    def set_running_or_notify_cancel(self) -> bool:
        raise RuntimeError("a producer record future is completed by the producer")

    def set_result(self, result: RecordMetadata) -> None:
        raise InvalidStateError("a producer record future is completed by the producer")

    def set_exception(self, exception: BaseException | None) -> None:
        raise InvalidStateError("a producer record future is completed by the producer")


class ProducerBatch:
    """Records of one partition sent (and retried) together."""

    __slots__ = ("attempts", "base_sequence", "created_at", "deadline", "encoded", "first_timestamp",
                 "followers", "last_error", "max_timestamp", "partition", "producer_id", "records", "result",
                 "retry_at", "seq", "size", "topic")

    def __init__(self, topic: str, partition: int, now: float, deadline: float, seq: int,
                 condition: threading.Condition, first_timestamp: int) -> None:
        self.topic = topic
        self.partition = partition
        self.records: list[RecordIn] = []  # timestamps relative to first_timestamp
        self.result = BatchResult(condition, topic, partition)
        self.first_timestamp = first_timestamp
        self.max_timestamp = first_timestamp
        self.size = 0  # estimated encoded bytes
        self.created_at = now
        self.deadline = deadline  # fail the batch after this (monotonic seconds)
        self.seq = seq  # creation order: retries go back in this order
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error: KraftError | None = None
        self.encoded: bytes | None = None
        # Idempotence: fixed when the batch is first encoded (its first send), kept for every retry.
        self.producer_id = -1
        self.base_sequence = -1
        # Later batches of the partition sent inside this one (idempotent first send): (index of
        # their first record in it, batch); completed with it.
        self.followers: list[tuple[int, ProducerBatch]] | None = None


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
        shared_time_base: bool = False,
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
        self._idle = threading.Condition(self._lock)  # flush() waits here for unfinished_batches == 0
        self._open: dict[tuple[str, int], ProducerBatch] = {}
        self._closed: list[ProducerBatch] = []
        self._sticky: dict[str, int] = {}
        self._time_bases: dict[tuple[str, int], int] | None = {} if shared_time_base else None
        self._seq = 0
        self._wake_pending = False
        # When the sender wakes up by itself at the latest (monotonic seconds): a new batch whose
        # linger ends later needs no wakeup, the sender finds it when it looks anyway.
        self._sender_wakes_by = _INF
        self._flushing = 0
        self.unfinished_batches = 0
        self.unfinished_bytes = 0

    # --- producer thread(s) -----------------------------------------------------------------------

    def append(self, topic: str, partition: int, num_partitions: int, timestamp_ms: int, key: bytes | None,
               value: bytes | None, headers: Any, size: int, max_block_s: float) -> RecordFuture | None:
        """Add one record (``partition`` -1: sticky choice); its future, or None if no memory
        within ``max_block_s``."""
        wake = False
        self._lock.acquire()  # not ``with``: this is the hot path and ``with`` costs twice as much
        try:
            if self.unfinished_bytes + size > self.buffer_memory_bytes and self.unfinished_bytes and not \
                    self._space.wait_for(lambda: self.unfinished_bytes + size <= self.buffer_memory_bytes
                                         or not self.unfinished_bytes, max_block_s):
                return None
            if partition < 0:
                entry = self._sticky.get(topic)
                if entry is not None and 0 <= entry < num_partitions:
                    partition = entry
                else:
                    partition = self._sticky[topic] = self._pick_sticky(entry, num_partitions)
            batch = self._open.get((topic, partition))
            if batch is not None and batch.size + size > self.batch_size:
                self._close((topic, partition), batch)
                batch = None
                wake = True
            if batch is None:
                now = self._clock()
                self._seq += 1
                first = timestamp_ms
                if self._time_bases is not None:
                    base = self._time_bases.get((topic, partition))
                    if base is not None and 0 <= timestamp_ms - base <= _TIME_BASE_SPAN_MS:
                        first = base
                    else:
                        self._time_bases[(topic, partition)] = timestamp_ms
                batch = self._open[(topic, partition)] = ProducerBatch(
                    topic, partition, now, now + self.delivery_timeout_s, self._seq, self.futures_condition,
                    first)
                batch.max_timestamp = timestamp_ms
                self.unfinished_batches += 1
                # The sender must learn this batch's linger deadline unless it looks before anyway.
                wake = wake or now + self.linger_s < self._sender_wakes_by
            elif timestamp_ms > batch.max_timestamp:
                batch.max_timestamp = timestamp_ms
            records = batch.records
            future = _new_future(RecordFuture)  # RecordFuture(batch.result, len(records), timestamp_ms)
            future._batch = batch.result
            future._index = len(records)
            future._timestamp = timestamp_ms
            records.append((timestamp_ms - batch.first_timestamp, key, value, headers))
            batch.size += size
            self.unfinished_bytes += size
            if batch.size >= self.batch_size:
                self._close((topic, partition), batch)
                wake = True
            if wake:
                wake = not self._wake_pending
                self._wake_pending = True
        finally:
            self._lock.release()
        if wake:
            self._wakeup()
        return future

    def flush(self, timeout_s: float | None) -> bool:
        """Close every open batch and wait until all records so far are done. False on timeout."""
        with self._lock:
            self._flushing += 1
            self._wake_pending = True
        self._wakeup()
        try:
            with self._lock:
                return self._idle.wait_for(lambda: self.unfinished_batches == 0, timeout_s)
        finally:
            with self._lock:
                self._flushing -= 1

    # --- sender (loop thread) ---------------------------------------------------------------------

    def drain(self, now: float, force: bool = False) -> list[ProducerBatch]:
        """Closed batches plus open ones whose linger expired (all open ones if ``force``)."""
        with self._lock:
            self._wake_pending = False
            force = force or self._flushing > 0
            if self._open:
                linger_s = self.linger_s
                for key, batch in list(self._open.items()):
                    if force or now - batch.created_at >= linger_s:
                        self._close(key, batch)
            ready, self._closed = self._closed, []
        return ready

    def next_linger_deadline(self) -> float | None:
        """When the oldest open batch's linger expires (monotonic seconds), if any is open. The
        sender calls this before it sleeps and promises to look again by then."""
        with self._lock:
            if self._flushing and self._open:
                deadline: float | None = 0.0
            elif not self._open:
                deadline = None
            else:
                deadline = min(b.created_at for b in self._open.values()) + self.linger_s
            self._sender_wakes_by = _INF if deadline is None else deadline
            return deadline

    def completed(self, batch: ProducerBatch) -> None:
        """Release a finished (acknowledged or failed) batch's memory."""
        with self._lock:
            self.unfinished_batches -= 1
            self.unfinished_bytes -= batch.size
            self._space.notify_all()
            if self.unfinished_batches == 0:
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
