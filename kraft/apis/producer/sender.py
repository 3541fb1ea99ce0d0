"""The producer's sender: closed batches -> one ``produce`` request per leader node.

Runs on the client core's loop thread. Each cycle it drains ready batches from the accumulator,
encodes them (kraft.protocol.batch, in columns when the cluster's metadata says its batch_format is
columns, else in rows), groups them by the partition leader in the cached metadata,
and sends one request per node with all that node's ready batches (a node with ``max_in_flight``
requests outstanding waits). Answers complete the records' futures; retriable errors put the batch
back in creation order after a backoff and refresh metadata, until the batch's delivery deadline;
then (or on a non-retriable error) the futures fail with the typed error.

Ordering: batches of a partition leave in order and a retried batch goes back in front of later
ones still queued. Without idempotence a later batch already in flight may land first, and a retry
of a batch whose answer was lost can write it twice.

Idempotence (``idempotent=True``): the sender first obtains a producer id (``init_producer_id``,
retried while retriable). A batch is encoded once, at its first send, with that producer id and the
partition's next ``base_sequence`` (a counter per partition, advanced by the batch's record count),
and every retry resends those identical bytes: the partition's state machine appends a sequence
once and answers a retry of one already in the log with its first base offset. At most ONE batch
per partition is in flight (other partitions go on in parallel), so a partition's sequences reach
the node in order and a retried batch is never overtaken. So that one batch per round trip does
not cap throughput, a first send takes the partition's next unsent batches along (up to
``max_record_bytes`` encoded): one wire batch, one sequence range, each batch's records completed
with their own offsets. (A node answering RECORD_TOO_LARGE to such a merged batch makes the
sender split it again and stop merging.) A batch that got a sequence and then
fails for good (delivery timeout, non-retriable error) leaves a gap the node would refuse: the
sender then drops its producer id, obtains a new one and numbers every partition from 0 again.
Batches already encoded under the old id keep it for their retries (the node still knows it).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import struct
import time
from collections import Counter, defaultdict, deque
from typing import Any

from kraft.errors import KraftError, RecordTooLarge, RequestTimedOut, UnsupportedRequest
from kraft.protocol.batch import encode_relative

from ..client_core import ClientCore, error_from_result
from .accumulator import ProducerBatch, RecordAccumulator

log = logging.getLogger(__name__)


# base_sequence is an i32 in the batch header: past this, a partition's numbering restarts at 0
# under a new producer id.
_MAX_SEQUENCE = 2**31 - 1


def _seq(batch: ProducerBatch) -> int:
    return batch.seq


class Sender:
    def __init__(
        self,
        core: ClientCore,
        accumulator: RecordAccumulator,
        *,
        acks: int,
        request_timeout_ms: int,
        max_in_flight: int,
        max_request_bytes: int,
        idempotent: bool = False,
        max_batch_bytes: int = 0,
    ) -> None:
        self._core = core
        self._acc = accumulator
        self._acks = acks
        self._request_timeout_ms = request_timeout_ms
        self._max_in_flight = max_in_flight
        self._max_request_bytes = max_request_bytes
        self._queue: list[ProducerBatch] = []  # encoded, waiting for a leader slot; ordered by seq
        self._in_flight: Counter[int] = Counter()
        self._requests: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._closing = False
        self.crashed: KraftError | None = None
        # Idempotence state (loop thread only).
        self._idempotent = idempotent
        self.producer_id = -1  # -1: none yet (or dropped after a definitive failure)
        self._pid_task: asyncio.Task[None] | None = None
        self._pid_error: KraftError | None = None  # why the last init_producer_id failed
        self._next_sequence: dict[tuple[str, int], int] = {}  # under the current producer_id
        self._busy: set[tuple[str, int]] = set()  # partitions with a batch in flight
        # A first send merges the partition's next unsent batches up to this many encoded bytes
        # (0: never); the node refuses batches over its max_record_bytes.
        self._merge_limit = min(max_batch_bytes, max_request_bytes - 1024) if idempotent else 0

    # --- any thread -------------------------------------------------------------------------------

    def wakeup(self) -> None:
        """Make the sender look at the accumulator now (called by send/flush from any thread)."""
        self._core.call_soon(self._set_wake)

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # --- loop thread ------------------------------------------------------------------------------

    async def run(self) -> None:
        """The send loop; returns once closing and nothing is left to send. If it crashes (a bug),
        every queued record fails instead of waiting forever, and ``send`` refuses new ones."""
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("producer sender crashed")
            self.crashed = KraftError(f"producer sender crashed: {exc!r}")
            self.abort(self.crashed)
            raise

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        try:
            await self._loop()
        finally:
            if self._pid_task is not None:
                self._pid_task.cancel()

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            now = time.monotonic()
            for batch in self._acc.drain(now, force=self._closing):
                self._enqueue_new(batch)
            self._expire(now)
            self._send_ready(now)
            # _in_flight (not _requests) decides: a request's task leaves _requests only in a done
            # callback that runs after the wakeup it sent.
            idle = not self._queue and not any(self._in_flight.values()) and not self._acc.has_open_batches
            if self._closing and idle:
                return
            timeout = self._next_wakeup(now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def begin_close(self) -> None:
        """Send what is left, then let :meth:`run` return (loop thread)."""
        self._closing = True
        self._set_wake()

    def abort(self, exc: KraftError) -> None:
        """Fail everything not yet acknowledged (loop thread); used when close runs out of time."""
        for batch in [*self._queue, *self._acc.abort_open()]:
            self._fail(batch, exc)
        self._queue.clear()
        for task in self._requests:
            task.cancel()
        if self._pid_task is not None:
            self._pid_task.cancel()

    def _enqueue_new(self, batch: ProducerBatch) -> None:
        if self._idempotent:  # encoded at its first send, when it gets its sequence
            bisect.insort(self._queue, batch, key=_seq)
            return
        try:
            batch.encoded = encode_relative(batch.records, batch.first_timestamp, batch.max_timestamp,
                                            columns=self._core.metadata.columns)
        except (TypeError, ValueError, OverflowError, struct.error) as exc:  # a field msgpack cannot encode
            self._fail(batch, exc)
            return
        batch.records = []  # the encoded bytes are all a retry needs
        bisect.insort(self._queue, batch, key=_seq)

    def _expire(self, now: float) -> None:
        if not self._queue or min(b.deadline for b in self._queue) > now:
            return
        keep = []
        for batch in self._queue:
            if batch.deadline <= now:
                waiting_for_id = self._pid_error if batch.encoded is None and self._idempotent else None
                self._fail(batch, batch.last_error or waiting_for_id or RequestTimedOut(
                    f"{batch.topic}/{batch.partition}: not sent within delivery_timeout_ms"))
            else:
                keep.append(batch)
        self._queue = keep

    def _send_ready(self, now: float) -> None:
        metadata = self._core.metadata
        requests: dict[int, list[list[ProducerBatch]]] = defaultdict(list)
        request_bytes: dict[int, int] = {}
        blocked: set[tuple[str, int]] = set()  # a partition waiting keeps its later batches waiting too
        keep: list[ProducerBatch] = []
        need_metadata = False
        unsent: dict[tuple[str, int], list[ProducerBatch]] | None = None  # built at the first first-send
        merged: set[int] = set()  # ids of batches that went into an earlier one of this pass
        for batch in self._queue:
            if merged and id(batch) in merged:
                continue
            tp = (batch.topic, batch.partition)
            leader = metadata.leader_for(batch.topic, batch.partition)
            if tp in blocked or batch.retry_at > now or leader is None or leader not in metadata.nodes:
                need_metadata = need_metadata or (leader is None or leader not in metadata.nodes)
                blocked.add(tp)
                keep.append(batch)
                continue
            if self._idempotent:
                if tp in self._busy:  # one batch in flight per partition
                    blocked.add(tp)
                    keep.append(batch)
                    continue
                if batch.encoded is None:
                    if unsent is None:
                        unsent = self._unsent_by_partition()
                    sent = self._sequence(batch, unsent.get(tp, ()), merged)
                else:
                    sent = True
                if not sent:
                    if not batch.result.done:  # waiting for a producer id (else: failed to encode)
                        blocked.add(tp)
                        keep.append(batch)
                    continue
            size = len(batch.encoded or b"")
            node_requests = requests[leader]
            if not node_requests or request_bytes[leader] + size > self._max_request_bytes:
                if self._in_flight[leader] + len(node_requests) >= self._max_in_flight:
                    blocked.add(tp)
                    keep.append(batch)
                    continue
                node_requests.append([])
                request_bytes[leader] = 0
            node_requests[-1].append(batch)
            request_bytes[leader] += size
            if self._idempotent:
                self._busy.add(tp)
        self._queue = keep
        for node_id, node_requests in requests.items():
            for batches in node_requests:
                self._in_flight[node_id] += 1
                task = asyncio.ensure_future(self._produce(node_id, batches))
                self._requests.add(task)
                task.add_done_callback(self._requests.discard)
        # A producer that sends keeps its metadata under metadata_max_age_ms old (Kafka's rule): the
        # partitioner learns of added partitions from it.
        if need_metadata or ((self._queue or requests) and self._core.metadata_is_stale()):
            self._core.request_refresh()

    def _next_wakeup(self, now: float) -> float | None:
        times = [t for t in (self._acc.next_linger_deadline(),) if t is not None]
        for batch in self._queue:
            times.append(batch.deadline)
            if batch.retry_at > now:
                times.append(batch.retry_at)
        if self._queue:
            # Batches waiting for a leader or a free slot: look again after a short backoff even if
            # no answer or refresh wakes us.
            times.append(now + self._core.backoff_s(1))
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    async def _produce(self, node_id: int, batches: list[ProducerBatch]) -> None:
        body = {
            "acks": self._acks,
            "timeout_ms": self._request_timeout_ms,
            "entries": [{"topic": b.topic, "partition": b.partition, "batch": b.encoded} for b in batches],
        }
        try:
            answer = await self._core.request_node(node_id, "produce", body, self._request_timeout_ms)
            results = _match_results(batches, answer.get("results"))
        except KraftError as exc:
            for batch in batches:
                self._retry_or_fail(batch, exc)
        except asyncio.CancelledError:  # abort(): these records will never be acknowledged now
            err = KraftError("producer closed before the answer came")
            for batch in batches:
                self._fail(batch, err)
            raise
        except Exception as exc:  # a malformed answer: a node bug, fail these batches loudly
            err = KraftError(f"bad produce answer from node {node_id}: {exc!r}")
            for batch in batches:
                self._fail(batch, err)
        else:
            for batch, result in zip(batches, results, strict=True):
                if result is None:
                    self._retry_or_fail(batch, KraftError(
                        f"node {node_id} sent no result for {batch.topic}/{batch.partition}"))
                    continue
                error = error_from_result(result)
                if error is None:
                    self._complete(batch, result["base_offset"], result.get("log_append_time", -1))
                else:
                    self._retry_or_fail(batch, error)
        finally:
            self._in_flight[node_id] -= 1
            if self._idempotent:
                for batch in batches:
                    self._busy.discard((batch.topic, batch.partition))
            self._set_wake()

    def _retry_or_fail(self, batch: ProducerBatch, exc: KraftError) -> None:
        batch.last_error = exc
        if batch.followers and isinstance(exc, RecordTooLarge):
            self._split(batch)
            return
        if exc.retriable:
            batch.attempts += 1
            now = time.monotonic()
            retry_at = now + self._core.backoff_s(batch.attempts)
            if retry_at < batch.deadline:
                batch.retry_at = retry_at
                bisect.insort(self._queue, batch, key=_seq)
                self._core.request_refresh()
                return
        self._fail(batch, exc)

    def _complete(self, batch: ProducerBatch, base_offset: int, log_append_time: int = -1) -> None:
        # One write completes every record: each future builds its RecordMetadata when asked.
        batch.result.complete(base_offset if base_offset >= 0 else -1,  # acks=0: no offset yet
                              log_append_time=log_append_time)
        batch.encoded = None
        self._acc.completed(batch)
        if batch.followers:
            for index, follower in batch.followers:
                follower.records = []
                self._complete(follower, base_offset + index if base_offset >= 0 else -1, log_append_time)
            batch.followers = None
        batch.records = []

    def _fail(self, batch: ProducerBatch, exc: BaseException) -> None:
        batch.result.complete(exc=exc)
        batch.encoded = None
        batch.records = []
        self._acc.completed(batch)
        if batch.followers:
            for _, follower in batch.followers:
                self._fail(follower, exc)
            batch.followers = None
        if batch.base_sequence >= 0 and batch.producer_id == self.producer_id:
            # The batch may or may not be in the log: the partition's next sequence would gap (or
            # repeat). Start over under a new producer id (Kafka bumps the epoch, same effect).
            log.info("%s/%s: batch at sequence %d failed (%r); obtaining a new producer id",
                     batch.topic, batch.partition, batch.base_sequence, exc)
            self._reset_producer_id()

    # --- idempotence ------------------------------------------------------------------------------

    def _unsent_by_partition(self) -> dict[tuple[str, int], list[ProducerBatch]]:
        unsent: dict[tuple[str, int], list[ProducerBatch]] = {}
        for batch in self._queue:
            if batch.encoded is None:
                unsent.setdefault((batch.topic, batch.partition), []).append(batch)
        return unsent

    def _sequence(self, batch: ProducerBatch, unsent: list[ProducerBatch] | tuple[()],
                  merged: set[int]) -> bool:
        """Encode a batch for its first send with the producer id and the partition's next
        sequence, merging the partition's next unsent batches (``unsent``, in order, starting
        with ``batch``) into it while they fit; their ids go into ``merged``. False if it cannot
        go yet (no producer id) or failed to encode (then it is completed with the error, and
        takes no sequence)."""
        if self.producer_id < 0:
            self._start_init_producer_id()
            return False
        tp = (batch.topic, batch.partition)
        sequence = self._next_sequence.get(tp, 0)
        if sequence > _MAX_SEQUENCE:
            self._reset_producer_id()
            self._start_init_producer_id()
            return False
        count = len(batch.records)
        encoded = None
        followers = self._followers(batch, unsent)
        if followers:
            encoded = self._encode_merged(batch, followers, sequence)
        if encoded is None:
            followers = []
            try:
                encoded = encode_relative(batch.records, batch.first_timestamp, batch.max_timestamp,
                                          self.producer_id, sequence, columns=self._core.metadata.columns)
            except (TypeError, ValueError, OverflowError, struct.error) as exc:  # msgpack cannot encode
                self._fail(batch, exc)
                return False
        else:
            batch.followers = []
            for follower in followers:
                batch.followers.append((count, follower))
                merged.add(id(follower))
                count += len(follower.records)
        # The records stay until the batch completes: a split (RECORD_TOO_LARGE) re-encodes them.
        batch.encoded = encoded
        batch.producer_id = self.producer_id
        batch.base_sequence = sequence
        self._next_sequence[tp] = sequence + count
        return True

    def _followers(self, batch: ProducerBatch, unsent: list[ProducerBatch] | tuple[()]) -> list[ProducerBatch]:
        """The unsent batches after ``batch`` of its partition whose estimated sizes fit in one
        merged batch with it."""
        if len(unsent) < 2 or unsent[0] is not batch:
            return []
        room = self._merge_limit - batch.size
        followers = []
        for follower in unsent[1:]:
            room -= follower.size
            if room < 0:
                break
            followers.append(follower)
        return followers

    def _encode_merged(self, batch: ProducerBatch, followers: list[ProducerBatch], sequence: int) -> bytes | None:
        """One batch of ``batch``'s records and its followers', or None if that does not encode or
        comes out over the merge limit (then ``batch`` goes alone)."""
        first = batch.first_timestamp
        max_ts = batch.max_timestamp
        records = list(batch.records)
        for follower in followers:
            shift = follower.first_timestamp - first  # the follower's deltas are to its own first
            if shift:
                records.extend([(delta + shift, k, v, h) for delta, k, v, h in follower.records])
            else:
                records.extend(follower.records)
            if follower.max_timestamp > max_ts:
                max_ts = follower.max_timestamp
        try:
            encoded = encode_relative(records, first, max_ts, self.producer_id, sequence,
                                      columns=self._core.metadata.columns)
        except (TypeError, ValueError, OverflowError, struct.error):
            return None
        return encoded if len(encoded) <= self._merge_limit else None

    def _split(self, batch: ProducerBatch) -> None:
        """The node refused a merged batch as too large (its max_record_bytes is below ours): send
        the batches one by one from now on. Nothing of it was appended, so ``batch`` keeps its
        sequence and the followers get theirs when they go."""
        log.warning("%s/%s: merged batch of %d bytes refused as too large; no longer merging batches",
                    batch.topic, batch.partition, len(batch.encoded or b""))
        self._merge_limit = 0
        assert batch.followers is not None
        followers = [f for _, f in batch.followers]
        batch.followers = None
        try:
            batch.encoded = encode_relative(batch.records, batch.first_timestamp, batch.max_timestamp,
                                            batch.producer_id, batch.base_sequence,
                                            columns=self._core.metadata.columns)
        except (TypeError, ValueError, OverflowError, struct.error) as exc:  # encoded fine before
            batch.followers = [(0, f) for f in followers]
            self._fail(batch, exc)
            return
        if batch.producer_id == self.producer_id:
            self._next_sequence[(batch.topic, batch.partition)] = batch.base_sequence + len(batch.records)
        for b in (batch, *followers):
            bisect.insort(self._queue, b, key=_seq)

    def _reset_producer_id(self) -> None:
        self.producer_id = -1
        self._next_sequence.clear()

    def _start_init_producer_id(self) -> None:
        if self._pid_task is None:
            self._pid_task = asyncio.ensure_future(self._init_producer_id())

    async def _init_producer_id(self) -> None:
        """Obtain a producer id, retrying retriable errors (with backoff) until one comes (batches
        waiting for it expire at their delivery timeout with the last error); a non-retriable
        error fails the batches waiting for it, and the next batch asks again."""
        attempt = 0
        try:
            while True:
                try:
                    answer = await self._core.request_any("init_producer_id", {})
                    producer_id = answer.get("producer_id") if isinstance(answer, dict) else None
                    if type(producer_id) is not int or producer_id < 0:
                        raise KraftError(f"bad init_producer_id answer: {answer!r}")
                except Exception as error:
                    exc = error if isinstance(error, KraftError) else KraftError(
                        f"bad init_producer_id answer: {error!r}")
                    attempt += 1
                    self._pid_error = exc
                    log.warning("init_producer_id failed (attempt %d): %r", attempt, exc)
                    if not exc.retriable:
                        self._fail_waiting_for_producer_id(exc)
                        return
                    self._core.request_refresh()
                    await asyncio.sleep(self._core.backoff_s(attempt))
                    continue
                self.producer_id = producer_id
                self._next_sequence.clear()
                self._pid_error = None
                return
        finally:
            self._pid_task = None
            self._set_wake()

    def _fail_waiting_for_producer_id(self, exc: KraftError) -> None:
        if isinstance(exc, UnsupportedRequest):
            exc = UnsupportedRequest(f"the cluster does not support idempotence ({exc.message}); "
                                     "use enable_idempotence=False")
        keep = []
        for batch in self._queue:
            if batch.encoded is None:
                self._fail(batch, exc)
            else:
                keep.append(batch)
        self._queue = keep


def _match_results(batches: list[ProducerBatch], results: Any) -> list[dict[str, Any] | None]:
    """The result of each batch: by position when the answer lists one per entry in order (the
    protocol's intent), else by (topic, partition) in order of appearance."""
    if not isinstance(results, list):
        raise TypeError("produce answer has no results list")
    if len(results) == len(batches) and all(
        r.get("topic") == b.topic and r.get("partition") == b.partition for r, b in zip(results, batches, strict=True)
    ):
        return results
    by_tp: dict[tuple[str, int], deque[dict[str, Any]]] = defaultdict(deque)
    for r in results:
        by_tp[(r.get("topic"), r.get("partition"))].append(r)
    return [by_tp[(b.topic, b.partition)].popleft() if by_tp[(b.topic, b.partition)] else None for b in batches]


__all__ = ["Sender"]
