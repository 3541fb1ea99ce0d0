"""The producer's sender: closed batches -> one ``produce`` request per leader node.

Runs on the client core's loop thread. Each cycle it drains ready batches from the accumulator,
encodes them (kraft.protocol.batch), groups them by the partition leader in the cached metadata,
and sends one request per node with all that node's ready batches (a node with ``max_in_flight``
requests outstanding waits). Answers complete the records' futures; retriable errors put the batch
back in creation order after a backoff and refresh metadata, until the batch's delivery deadline;
then (or on a non-retriable error) the futures fail with the typed error.

Ordering: batches of a partition leave in order and a retried batch goes back in front of later
ones still queued, but a later batch already in flight may land first (no idempotence yet).
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

from kraft.errors import KraftError, RequestTimedOut
from kraft.protocol.batch import encode_relative

from ..client_core import ClientCore, error_from_result
from .accumulator import ProducerBatch, RecordAccumulator

log = logging.getLogger(__name__)


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

    def _enqueue_new(self, batch: ProducerBatch) -> None:
        try:
            batch.encoded = encode_relative(batch.records, batch.first_timestamp, batch.max_timestamp)
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
                self._fail(batch, batch.last_error or RequestTimedOut(
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
        for batch in self._queue:
            tp = (batch.topic, batch.partition)
            leader = metadata.leader_for(batch.topic, batch.partition)
            if tp in blocked or batch.retry_at > now or leader is None or leader not in metadata.nodes:
                need_metadata = need_metadata or (leader is None or leader not in metadata.nodes)
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
        self._queue = keep
        for node_id, node_requests in requests.items():
            for batches in node_requests:
                self._in_flight[node_id] += 1
                task = asyncio.ensure_future(self._produce(node_id, batches))
                self._requests.add(task)
                task.add_done_callback(self._requests.discard)
        if need_metadata or (self._queue and self._core.metadata_is_stale()):
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
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a malformed answer: a node bug, fail these batches loudly
            err = KraftError(f"bad produce answer from node {node_id}: {exc!r}")
            for batch in batches:
                self._fail(batch, err)
        else:
            for batch, result in zip(batches, results, strict=True):
                err = error_from_result(result) if result is not None else KraftError(
                    f"node {node_id} sent no result for {batch.topic}/{batch.partition}")
                if err is None:
                    self._complete(batch, result["base_offset"])  # type: ignore[index]
                else:
                    self._retry_or_fail(batch, err)
        finally:
            self._in_flight[node_id] -= 1
            self._set_wake()

    def _retry_or_fail(self, batch: ProducerBatch, exc: KraftError) -> None:
        batch.last_error = exc
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

    def _complete(self, batch: ProducerBatch, base_offset: int) -> None:
        # One write completes every record: each future builds its RecordMetadata when asked.
        batch.result.complete(base_offset if base_offset >= 0 else -1)  # acks=0: no offset yet
        batch.encoded = None
        self._acc.completed(batch)

    def _fail(self, batch: ProducerBatch, exc: BaseException) -> None:
        batch.result.complete(exc=exc)
        batch.encoded = None
        self._acc.completed(batch)


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
