"""The consumer's fetcher: positions, buffers and fetch/list_offsets requests per leader.

Owned by the client core's loop thread: every method runs there (the ``Consumer`` facade crosses
over with ``ClientCore.run``) except :meth:`Fetcher.take_buffered`, ``poll``'s fast path on the
caller's thread. For each assigned partition it keeps the offset to fetch next, a buffer of fetched
records not yet returned by ``poll`` (decoded batches, as columns: ``ConsumerRecord``s are built only
for what ``poll`` returns, see ``records.py``), and an ``epoch`` bumped by every seek so that
answers to requests sent before the seek are dropped.

The buffers are the one state both threads touch, under ``Fetcher._lock``: the loop thread fills
them (and clears them on a seek, an assignment, a pause), a ``poll`` whose records are already
buffered drains them on its own thread and only asks the loop thread (``call_soon``) to fetch
again when a partition runs low. Crossing to the loop thread and back for every ``poll`` cost about
as much as building its records (BENCHMARKS.md); Kafka's own consumer, since its threading
refactor, likewise drains a locked fetch buffer on the application's thread and fetches on a
background one. Everything else (positions to fetch, requests in flight, resets) is written by
the loop thread alone; ``take_buffered`` only reads some of it (single attribute reads, atomic
under the GIL: a stale value sends the caller to the slow path or delays a refill to the next poll).

Fetching runs ahead of ``poll``: a partition is fetched again as soon as fewer records are buffered
than its last answer brought (so the next answer is on its way while ``poll`` drains this one, and
at most about two answers' worth is buffered per partition). One ``fetch`` request to a leader
covers every partition of that node that is due at that moment; a partition is in at most one
request at a time, but a node may have several: a request long-polling for a partition that has
caught up must not hold back the node's other partitions (a 500 ms stall per caught-up partition),
and a seek does not wait for the answer of a request sent before it.

A group member's fetcher is *paused* from the moment it must rejoin (its partitions may already be
on their way to another member) until the new assignment's positions are set: no fetch leaves and
``poll`` returns nothing, at once, so that the user's thread gets to run the rebalance.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from bisect import bisect_left
from collections import defaultdict, deque
from typing import Any

from kraft.errors import KraftError, LeaderNotAvailable, OffsetOutOfRange
from kraft.protocol.batch import RecordColumns

from ..client_core import ClientCore, error_from_result
from ..types import ConsumerRecord, TopicPartition
from .gc_pause import collect_young_if_due, gc_paused
from .records import consumer_records, decode_fetched

EARLIEST = -2
LATEST = -1
_RESET_TIMESTAMPS = {"earliest": EARLIEST, "latest": LATEST}


class _PartitionState:
    __slots__ = ("backoff_until", "batches", "batches_pos", "buffered", "epoch", "fetch_offset",
                 "fetching_epoch", "last_fetched", "reset", "resetting")

    def __init__(self, reset: str | None, epoch: int) -> None:
        self.fetch_offset: int | None = None  # next offset to fetch; None until reset resolves it
        self.reset = reset  # "earliest"/"latest" while the position must come from list_offsets
        self.resetting = False  # a list_offsets for this partition is in flight
        # Fetched records not yet returned by poll, as decoded batches: a ConsumerRecord is built only
        # when poll hands it out. Buffered records held as objects made the garbage collector's full
        # passes (which walk every live container) the largest cost of consuming.
        self.batches: deque[RecordColumns] = deque()
        self.batches_pos = 0  # records of batches[0] already returned
        self.buffered = 0  # records in batches not yet returned
        self.epoch = epoch  # unique per fetcher, so an answer for a dropped state never matches a new one
        self.backoff_until = 0.0
        self.fetching_epoch = 0  # the epoch a fetch in flight was sent with (0: none in flight)
        self.last_fetched = 0  # records the last answer brought: fetch again below this many buffered

    def fetch_due(self, now: float) -> bool:
        """A fetch for this partition may leave: it has a position, none is in flight for its
        current epoch (one sent before a seek does not count), and its buffer runs low."""
        return (self.fetch_offset is not None and self.fetching_epoch != self.epoch
                and self.backoff_until <= now and (self.buffered == 0 or self.buffered < self.last_fetched))

    def position(self) -> int | None:
        if self.buffered:
            return self.batches[0].offsets[self.batches_pos]
        return self.fetch_offset

    def append(self, columns: RecordColumns) -> None:
        self.batches.append(columns)
        self.buffered += len(columns.offsets)
        self.fetch_offset = columns.offsets[-1] + 1

    def take(self, tp: TopicPartition, limit: int, out: list[ConsumerRecord]) -> None:
        """Move up to ``limit`` buffered records, in offset order, to ``out``."""
        batches = self.batches
        while limit > 0 and batches:
            first = batches[0]
            start = self.batches_pos
            stop = min(len(first.offsets), start + limit)
            out.extend(consumer_records(tp, first, start, stop))
            limit -= stop - start
            self.buffered -= stop - start
            if stop == len(first.offsets):
                batches.popleft()
                self.batches_pos = 0
            else:
                self.batches_pos = stop

    def clear(self, epoch: int) -> None:
        self.batches, self.batches_pos, self.buffered = deque(), 0, 0
        self.epoch = epoch
        self.last_fetched = 0


class Fetcher:
    def __init__(
        self,
        core: ClientCore,
        *,
        auto_offset_reset: str,
        fetch_max_wait_ms: int,
        fetch_min_bytes: int,
        fetch_max_bytes: int,
        max_partition_fetch_bytes: int,
    ) -> None:
        self._core = core
        self._auto_offset_reset = auto_offset_reset
        self._max_wait_ms = fetch_max_wait_ms
        self._min_bytes = fetch_min_bytes
        self._max_bytes = fetch_max_bytes
        self._partition_max_bytes = max_partition_fetch_bytes
        self._parts: dict[TopicPartition, _PartitionState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None  # raised by the next poll/position
        self._changed: asyncio.Event | None = None
        self._next_drain = 0  # round-robin start among partitions
        self._epochs = 0  # last epoch handed out
        self._paused = False
        self._lock = threading.Lock()  # the partitions' buffers and ``_paused``: see the module doc
        self._refill_asked = False  # take_buffered asked the loop thread to fetch; it has not yet run

    # --- subscription state -----------------------------------------------------------------------

    async def assign(self, partitions: list[TopicPartition]) -> None:
        wanted = dict.fromkeys(partitions)
        parts = {tp: self._parts.get(tp) or self._new_state() for tp in wanted}
        with self._lock:
            self._parts = parts
        await self._core.fresh_metadata()

    def assignment(self) -> set[TopicPartition]:
        return set(self._parts)

    def positions(self) -> dict[TopicPartition, int | None]:
        """Offset of the next record ``poll`` returns, per assigned partition (None: unresolved)."""
        with self._lock:
            return {tp: state.position() for tp, state in self._parts.items()}

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop fetching and make ``poll`` return at once (loop thread; a group must rejoin)."""
        with self._lock:
            self._paused = True
        self._notify()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
        self._notify()

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        state = self._state(tp)
        with self._lock:
            state.clear(self._next_epoch())
        state.fetch_offset, state.reset = offset, None

    async def seek_to(self, partitions: list[TopicPartition] | None, where: str) -> None:
        for tp in self._parts if partitions is None else partitions:
            state = self._state(tp)
            with self._lock:
                state.clear(self._next_epoch())
            state.fetch_offset, state.reset = None, where
        self._start_resets()

    async def position(self, tp: TopicPartition, timeout_ms: float) -> int:
        state = self._state(tp)
        deadline = time.monotonic() + timeout_ms / 1000
        while (offset := self._position_of(state)) is None:
            self._raise_pending_error()
            self._start_resets()
            if not await self._wait_changed(deadline):
                raise KraftError(f"could not resolve the position of {tp.topic}/{tp.partition} in time")
            state = self._state(tp)
        return offset

    async def list_offsets(self, partitions: list[TopicPartition], timestamp: int) -> dict[TopicPartition, int]:
        """Earliest (-2) or latest (-1) offset of each partition, retrying retriable errors."""
        async def op() -> dict[TopicPartition, int]:
            metadata = await self._core.fresh_metadata()
            by_leader: dict[int | None, list[TopicPartition]] = defaultdict(list)
            for tp in partitions:
                by_leader[metadata.leader_for(tp.topic, tp.partition)].append(tp)
            out: dict[TopicPartition, int] = {}
            for leader, tps in by_leader.items():
                if leader is None:
                    raise LeaderNotAvailable(f"no leader known for {tps[0].topic}/{tps[0].partition}")
                out.update(await self._list_offsets(leader, tps, timestamp))
            return out
        return await self._core.retrying(op)

    def _position_of(self, state: _PartitionState) -> int | None:
        with self._lock:
            return state.position()

    # --- poll -------------------------------------------------------------------------------------

    def take_buffered(self, max_records: int) -> list[ConsumerRecord] | None:
        """``poll`` on the caller's thread: up to ``max_records`` buffered records, and a refill
        asked of the loop thread if a partition runs low. None when ``poll`` must run on the loop
        thread instead: nothing is buffered, the fetcher is paused, or an error is to be raised."""
        with self._lock:
            if self._paused or self._error is not None:
                return None
            if any(state.fetch_offset is None and state.reset is None and not state.buffered
                   for state in self._parts.values()):
                return None  # a partition without a position (auto_offset_reset "none"): poll raises
            records = self._drain(max_records)
            if not records:
                return None
            if not self._refill_asked:
                now = time.monotonic()
                self._refill_asked = (any(state.fetch_due(now) for state in self._parts.values())
                                      or self._core.metadata_is_stale())
                if self._refill_asked:
                    # Once until it runs: polls that follow before the loop thread gets the GIL
                    # would otherwise each wake it again.
                    self._core.call_soon(self._refill)
        return records

    def _refill(self) -> None:
        with self._lock:
            self._refill_asked = False
        if self._core.metadata_is_stale():
            self._core.request_refresh()
        self._start_resets()
        self._start_fetches()

    async def poll(self, timeout_ms: float, max_records: int) -> list[ConsumerRecord]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self._paused:
                return []
            self._raise_pending_error()
            if self._core.metadata_is_stale():
                self._core.request_refresh()
            with self._lock:
                records = self._drain(max_records)
            self._start_resets()
            self._start_fetches()
            if records:
                return records
            if not await self._wait_changed(deadline):
                return []

    def _drain(self, max_records: int) -> list[ConsumerRecord]:
        """Up to ``max_records`` buffered records, round robin over the partitions (``_lock`` held)."""
        out: list[ConsumerRecord] = []
        if not self._parts:
            return out
        start = self._next_drain % len(self._parts)
        self._next_drain += 1  # rotate so one busy partition cannot starve the others
        tps = list(self._parts)
        collect_young_if_due()
        with gc_paused():
            for tp in tps[start:] + tps[:start]:
                state = self._parts[tp]
                if state.buffered:
                    state.take(tp, max_records - len(out), out)
                    if len(out) >= max_records:
                        break
        return out

    async def _wait_changed(self, deadline: float) -> bool:
        """Wait until a fetch/reset answer arrives or ``deadline``; False when the deadline passed.
        Wakes at least every retry backoff to retry partitions that wait for a leader."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(remaining, self._core.retry_backoff_max_ms / 1000)):
                await self._changed.wait()
        return True

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        for tp, state in self._parts.items():
            if state.fetch_offset is None and state.reset is None and not state.buffered:
                raise OffsetOutOfRange(
                    f"{tp.topic}/{tp.partition} has no position and auto_offset_reset is 'none': seek first")

    # --- fetch requests ---------------------------------------------------------------------------

    def _start_fetches(self) -> None:
        if self._paused:
            return
        metadata = self._core.metadata
        now = time.monotonic()
        by_node: dict[int, list[tuple[TopicPartition, int, int]]] = defaultdict(list)
        need_metadata = False
        for tp, state in self._parts.items():
            if not state.fetch_due(now):
                continue
            leader = metadata.leader_for(tp.topic, tp.partition)
            if leader is None or leader not in metadata.nodes:
                need_metadata = True
                continue
            assert state.fetch_offset is not None  # fetch_due
            state.fetching_epoch = state.epoch
            by_node[leader].append((tp, state.fetch_offset, state.epoch))
        for node_id, requested in by_node.items():
            self._spawn(self._fetch(node_id, requested))
        if need_metadata:
            self._core.request_refresh()

    async def _fetch(self, node_id: int, requested: list[tuple[TopicPartition, int, int]]) -> None:
        body = {
            "max_wait_ms": self._max_wait_ms,
            "min_bytes": self._min_bytes,
            "max_bytes": self._max_bytes,
            "columns": True,  # record batches in columns as stored (else the node converts them to rows)
            "partitions": [{"topic": tp.topic, "partition": tp.partition, "offset": offset,
                            "max_bytes": self._partition_max_bytes} for tp, offset, _ in requested],
        }
        sent = {tp: (offset, epoch) for tp, offset, epoch in requested}
        answered = False
        try:
            answer = await self._core.request_node(
                node_id, "fetch", body, self._core.request_timeout_ms + self._max_wait_ms)
            for result in answer["partitions"]:
                tp = TopicPartition(result["topic"], result["partition"])
                state = self._parts.get(tp)
                if state is None or tp not in sent or sent[tp] != (state.fetch_offset, state.epoch):
                    continue  # unassigned or sought since the request left
                self._apply_fetch(tp, state, result)
            answered = True
        except KraftError as exc:
            if not exc.retriable:
                self._error = exc
            for tp in sent:
                self._back_off(tp)
        except (KeyError, TypeError) as exc:
            self._error = KraftError(f"malformed fetch answer from node {node_id}: {exc!r}")
            for tp in sent:
                self._back_off(tp)
        finally:
            for tp, (_offset, epoch) in sent.items():
                state = self._parts.get(tp)
                if state is not None and state.fetching_epoch == epoch:
                    state.fetching_epoch = 0
            self._notify()
        if answered:  # (after a failure the next poll retries, once the partitions' backoff passed)
            self._start_fetches()  # the next round leaves now, not at the next poll

    def _apply_fetch(self, tp: TopicPartition, state: _PartitionState, result: dict[str, Any]) -> None:
        err = error_from_result(result)
        if isinstance(err, OffsetOutOfRange) and self._auto_offset_reset != "none":
            with self._lock:
                state.clear(self._next_epoch())
            state.fetch_offset, state.reset = None, self._auto_offset_reset
            return
        if err is not None:
            if not err.retriable:
                self._error = err
            self._back_off(tp)
            return
        fetch_offset = state.fetch_offset
        assert fetch_offset is not None  # a fetch was sent from it
        with gc_paused():
            decoded = _decode_from(fetch_offset, result["batches"])
        with self._lock:
            for columns in decoded:
                state.append(columns)
        state.last_fetched = sum(len(columns.offsets) for columns in decoded)

    def _back_off(self, tp: TopicPartition) -> None:
        state = self._parts.get(tp)
        if state is not None:
            state.backoff_until = time.monotonic() + self._core.backoff_s(1)
        self._core.request_refresh()

    # --- offset resets (list_offsets) -------------------------------------------------------------

    def _start_resets(self) -> None:
        metadata = self._core.metadata
        now = time.monotonic()
        groups: dict[tuple[int, str], list[TopicPartition]] = defaultdict(list)
        for tp, state in self._parts.items():
            if state.reset is None or state.resetting or state.backoff_until > now:
                continue
            leader = metadata.leader_for(tp.topic, tp.partition)
            if leader is None or leader not in metadata.nodes:
                self._core.request_refresh()
                continue
            groups[(leader, state.reset)].append(tp)
        for (leader, where), tps in groups.items():
            for tp in tps:
                self._parts[tp].resetting = True
            self._spawn(self._reset(leader, tps, where))

    async def _reset(self, leader: int, tps: list[TopicPartition], where: str) -> None:
        epochs = {tp: self._parts[tp].epoch for tp in tps}
        try:
            offsets = await self._list_offsets(leader, tps, _RESET_TIMESTAMPS[where])
        except KraftError as exc:
            if not exc.retriable:
                self._error = exc
            for tp in tps:
                self._back_off(tp)
            offsets = {}
        finally:
            for tp in tps:
                if tp in self._parts:
                    self._parts[tp].resetting = False
            self._notify()
        for tp, offset in offsets.items():
            state = self._parts.get(tp)
            if state is not None and state.epoch == epochs.get(tp) and state.reset == where:
                state.fetch_offset, state.reset = offset, None

    async def _list_offsets(self, leader: int, tps: list[TopicPartition], timestamp: int) -> dict[TopicPartition, int]:
        body = {"partitions": [{"topic": tp.topic, "partition": tp.partition, "timestamp": timestamp}
                               for tp in tps]}
        answer = await self._core.request_node(leader, "list_offsets", body)
        out = {}
        for result in answer["partitions"]:
            err = error_from_result(result)
            if err is not None:
                raise err
            out[TopicPartition(result["topic"], result["partition"])] = result["offset"]
        return out

    # --- internals --------------------------------------------------------------------------------

    def _new_state(self) -> _PartitionState:
        reset = self._auto_offset_reset if self._auto_offset_reset != "none" else None
        return _PartitionState(reset, self._next_epoch())

    def _next_epoch(self) -> int:
        self._epochs += 1
        return self._epochs

    def _state(self, tp: TopicPartition) -> _PartitionState:
        state = self._parts.get(tp)
        if state is None:
            raise KraftError(f"{tp.topic}/{tp.partition} is not assigned to this consumer")
        return state

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _decode_from(fetch_offset: int, batches: list[tuple[int, bytes]]) -> list[RecordColumns]:
    """The fetched batches' records from ``fetch_offset`` on, decoded."""
    out: list[RecordColumns] = []
    for base_offset, batch in batches:
        columns = decode_fetched(batch, base_offset)
        if columns is None:
            continue
        # A fetch starts with the whole batch holding fetch_offset: skip what is below it.
        skip = bisect_left(columns.offsets, fetch_offset)
        if skip < len(columns.offsets):
            out.append(columns.sliced(skip, len(columns.offsets)) if skip else columns)
            fetch_offset = columns.offsets[-1] + 1
    return out
