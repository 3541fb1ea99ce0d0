"""A task: one partition of one sub-topology, with its stores. It turns consumed records into
calls of the topology's nodes and offers them the :class:`TaskContext`.

No I/O here: records come in as ``ConsumerRecord``; what the nodes produce goes to the ``send``
function the runtime (or the test driver) passes in; the stores are a :class:`~.stores.TaskStores`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

from kraft.apis import ConsumerRecord

from .cache import CacheBudget, TaskCaches
from .processors import Node, SourceNode

log = logging.getLogger(__name__)

# send(topic, key bytes, value bytes, timestamp ms, partition or None, headers); what it returns is ignored
SendFn = Callable[[str, bytes | None, bytes | None, int, int | None, list[tuple[str, bytes]] | None], object]


class TaskId(NamedTuple):
    subtopology: int
    partition: int

    def __str__(self) -> str:
        return f"{self.subtopology}_{self.partition}"


class TaskContext:
    """What a node may see and do while it processes one record."""

    def __init__(self, task_id: TaskId, stores: Any, send: SendFn, clock: Callable[[], int],
                 cache_budget: CacheBudget | None = None) -> None:
        self.task_id = task_id
        self.caches = TaskCaches(cache_budget)  # the record cache's part of this task (.cache)
        self.headers: tuple[tuple[str, bytes], ...] = ()  # the current record's
        self.wall_clock_ms = clock
        self.partition = task_id.partition
        self.stores = stores
        self._send = send
        self.timestamp = 0
        self.stream_time = -1
        self.topic = ""
        self.offset = -1
        self._unique = 0
        self.dropped_late = 0
        self.punctuations: list[Any] = []

    def schedule(self, punctuation: Any) -> None:
        self.punctuations.append(punctuation)

    def punctuate(self, kind: str, now_ms: int) -> None:
        for punctuation in self.punctuations:
            if punctuation.kind == kind:
                saved, self.timestamp = self.timestamp, now_ms
                try:
                    punctuation.maybe_fire(now_ms)
                finally:
                    self.timestamp = saved

    def forward(self, node: Node, key: Any, value: Any, timestamp: int | None = None) -> None:
        if timestamp is None:
            for child in node.children:
                child.process(self, key, value)
            return
        saved, self.timestamp = self.timestamp, timestamp
        try:
            for child in node.children:
                child.process(self, key, value)
        finally:
            self.timestamp = saved

    def forward_to(self, child: Node, key: Any, value: Any) -> None:
        child.process(self, key, value)

    def get(self, store: str, key: bytes) -> bytes | None:
        return self.stores.get(store, key)

    def put(self, store: str, key: bytes, value: bytes | None) -> None:
        self.stores.put(store, key, value)

    def range(self, store: str, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        return self.stores.range(store, lo, hi)

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        self._send(topic, key, value, timestamp, None, headers)

    def unique_id(self) -> tuple[int, int]:
        """(source tag, offset) naming the current record uniquely within the task, for stores
        that keep several records per key and time (a flat_map may emit many per input)."""
        self._unique += 1
        return (zlib.crc32(self.topic.encode()) + self._unique) & 0xFFFFFFFF, self.offset

    def record_late(self, what: str) -> None:
        self.dropped_late += 1
        log.debug("dropped a late record (%s, offset %s): %s", self.topic, self.offset, what)


class Task:
    """Runs records of its partition through the sub-topology's source nodes."""

    def __init__(self, task_id: TaskId, sources: dict[str, SourceNode], stores: Any, send: SendFn,
                 clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 cache_budget: CacheBudget | None = None) -> None:
        self.id = task_id
        self.sources = sources
        self.stores = stores
        self.ctx = TaskContext(task_id, stores, send, clock, cache_budget)

    def deserialize(self, record: ConsumerRecord) -> tuple[SourceNode, Any, Any, int]:
        source = self.sources[record.topic]
        key = source.key_serde.deserialize(record.key)
        value = source.value_serde.deserialize(record.value)
        ts = record.timestamp_ms
        if source.timestamp_extractor is not None:
            ts = int(source.timestamp_extractor(record))
        return source, key, value, ts

    def flush_caches(self) -> int:
        """Forward (and send) what the record cache holds for this task; returns entries emitted."""
        return self.ctx.caches.flush(self.ctx)

    def close(self, nodes: list[Node]) -> None:
        self.ctx.caches.drop()  # a commit flushed them; otherwise their input is not committed either
        for node in nodes:
            forget = getattr(node, "forget", None)
            if forget is not None:
                forget(self.ctx)
        self.stores.close()

    def purge(self, nodes: list[Node]) -> int:
        """Drop expired entries of windowed and join stores (nodes with a ``purge`` method)."""
        return sum(node.purge(self.ctx) for node in nodes if hasattr(node, "purge"))

    def process(self, source: SourceNode, record: ConsumerRecord, key: Any, value: Any, ts: int) -> None:
        ctx = self.ctx
        if ts < 0:
            log.warning("skipped a record with negative timestamp %d (%s partition %d offset %d)",
                        ts, record.topic, record.partition, record.offset)
            return
        ctx.topic, ctx.offset, ctx.timestamp, ctx.headers = record.topic, record.offset, ts, record.headers
        ctx._unique = 0
        if ts > ctx.stream_time:
            ctx.stream_time = ts
        source.process(ctx, key, value)
        if ctx.punctuations:
            ctx.punctuate("stream_time", ctx.stream_time)

    def punctuate_wall_clock(self, now_ms: int) -> None:
        if self.ctx.punctuations:
            self.ctx.punctuate("wall_clock", now_ms)
