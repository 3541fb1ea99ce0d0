"""``TopologyTestDriver``: runs a topology in memory, without a cluster, as Kafka's test driver
does — for unit tests of a program's semantics (yours and kraft's).

Every topic has one partition (so every sub-topology has one task, partition 0). Records written
to a topic the topology also reads (repartition topics, ``through``) are fed back after the
current input record is done, in order; everything written is kept per topic for
``read_output``. ``commit()`` runs a task commit: each changed store key becomes a changelog
record (kept under the changelog topic's name), as the runtime would send it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from kraft.apis import ConsumerRecord

from .builder import StreamsBuilder
from .cache import CacheBudget
from .serdes import INFERRED, Serde
from .store_view import StoreView
from .stores import LmdbTaskStores, MemoryTaskStores, TaskStores
from .task import Task, TaskId


class OutputRecord(NamedTuple):
    key: Any
    value: Any
    timestamp_ms: int


class TopologyTestDriver:
    def __init__(self, builder: StreamsBuilder, state_dir: str | Path | None = None,
                 cache_max_bytes: int = 0) -> None:
        """``state_dir``: keep the stores in LMDB there, as the runtime does, committing after
        every input record (default: in memory). ``cache_max_bytes``: the record cache, as the
        app's (default 0 here: every update is forwarded at once; with a cache, ``commit()``
        flushes it)."""
        self._topology = builder.topology
        self._state_dir = None if state_dir is None else Path(state_dir)
        self._subs = self._topology.subtopologies()
        self._tasks: dict[str, Task] = {}  # source topic -> its task
        self._stores: dict[str, TaskStores] = {}  # store -> the task's stores holding it
        self._offsets: dict[str, int] = {}
        self.wall_clock_ms = 0
        self.outputs: dict[str, list[tuple[bytes | None, bytes | None, int]]] = {}
        self._feedback: deque[ConsumerRecord] = deque()
        budget = CacheBudget(cache_max_bytes)
        for sub in self._subs:
            stores: TaskStores = MemoryTaskStores()
            if self._state_dir is not None and sub.stores:
                stores = LmdbTaskStores(self._state_dir / f"{sub.id}_0", sub.stores)
            task = Task(TaskId(sub.id, 0), sub.sources, stores, self._send, lambda: self.wall_clock_ms, budget)
            for topic in sub.sources:
                self._tasks[topic] = task
            for store in sub.stores:
                self._stores[store] = stores

    def _send(self, topic: str, key: bytes | None, value: bytes | None, ts: int, _partition: int | None,
              headers: list[tuple[str, bytes]] | None) -> None:
        self.outputs.setdefault(topic, []).append((key, value, ts))
        if topic in self._tasks:
            self._feedback.append(self._record(topic, key, value, ts, headers))

    def _record(self, topic: str, key: bytes | None, value: bytes | None, ts: int,
                headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        return ConsumerRecord(topic, 0, offset, key, value, ts, tuple(headers or ()))

    def pipe_input(self, topic: str, key: Any, value: Any, timestamp_ms: int = 0,
                   key_serde: Serde | None = None, value_serde: Serde | None = None) -> None:
        """Write one record to ``topic`` (objects serialized with the serdes given, else by
        type: bytes, str, int as 8 bytes, else JSON) and process it and all it causes."""
        kb = (key_serde or INFERRED).serialize(key)
        vb = (value_serde or INFERRED).serialize(value)
        if topic not in self._tasks:
            raise KeyError(f"{topic!r} is not a source topic of this topology")
        self._process(self._record(topic, kb, vb, timestamp_ms))
        while self._feedback:
            self._process(self._feedback.popleft())
        if self._state_dir is not None:
            self.commit()

    def pipe_inputs(self, topic: str, records: Iterable[tuple[Any, Any, int]], **serdes: Serde) -> None:
        for key, value, ts in records:
            self.pipe_input(topic, key, value, ts, **serdes)

    def _process(self, record: ConsumerRecord) -> None:
        task = self._tasks[record.topic]
        source, key, value, ts = task.deserialize(record)
        task.process(source, record, key, value, ts)

    def advance_wall_clock(self, ms: int) -> None:
        """Move the driver's wall clock (starting at 0) and run wall-clock punctuators that are due."""
        self.wall_clock_ms += ms
        for task in {id(t): t for t in self._tasks.values()}.values():
            task.punctuate_wall_clock(self.wall_clock_ms)
        while self._feedback:
            self._process(self._feedback.popleft())
        if self._state_dir is not None:
            self.commit()

    def read_output(self, topic: str, key_serde: Serde = Serde.bytes, value_serde: Serde = Serde.bytes,
                    windowed_key_serde: Serde | None = None) -> list[OutputRecord]:
        """Everything written to ``topic`` so far, deserialized, and forget it."""
        records = self.outputs.pop(topic, [])
        ks = windowed_key_serde or key_serde
        return [OutputRecord(ks.deserialize(k), value_serde.deserialize(v), ts) for k, v, ts in records]

    def commit(self) -> None:
        """As the runtime's commit: flush the record cache (and process what it fed back), then
        one changelog record per changed store key."""
        tasks = {id(t): t for t in self._tasks.values()}.values()
        while True:
            for task in tasks:
                task.flush_caches()
            if not self._feedback:
                break
            while self._feedback:
                self._process(self._feedback.popleft())
        for stores in {id(s): s for s in self._stores.values()}.values():
            for store, changes in stores.take_dirty().items():
                topic = self._topology.changelog_topic(store)
                self.outputs.setdefault(topic, []).extend((k, v, 0) for k, v in changes.items())
            stores.commit({})

    def purge(self) -> int:
        """Drop expired window and join-buffer entries (the runtime does this periodically)."""
        n = sum(task.purge(sub.nodes) for sub in self._subs
                for task in {id(t): t for t in self._tasks.values() if t.id.subtopology == sub.id}.values())
        if self._state_dir is not None:
            self.commit()
        return n

    def store(self, name: str) -> StoreView:
        if name not in self._stores:
            raise KeyError(f"no state store {name!r}")
        return StoreView(name, lambda: [self._stores[name]], self._topology.window_sizes.get(name))

    def close(self) -> None:
        for stores in {id(s): s for s in self._stores.values()}.values():
            stores.close()

    def __enter__(self) -> TopologyTestDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dropped_late(self) -> int:
        return sum({id(t): t.ctx.dropped_late for t in self._tasks.values()}.values())
