"""Source offsets stored in a kraft topic (``_connect-offsets`` by default, one partition).

Each stored record: key = JSON ``[connector name, source partition]`` (the partition's keys
sorted, so one partition always has the same key bytes), value = JSON source offset; the latest
record of a key wins. The topic is compacted (``topics.ensure_internal_topic``), so it holds about
one record per source partition plus the recent ones, and every record has a key (a compacted
topic refuses one without). A worker reads the whole topic once at start and appends as tasks
commit. Nothing here runs tasks; the worker decides when an offset may be stored (after its
records are acknowledged).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from kraft.apis import Producer

from .api import SourceOffset, SourcePartition
from .topics import read_to_end

DEFAULT_TOPIC = "_connect-offsets"


def partition_key(partition: SourcePartition) -> str:
    """Canonical JSON of a source partition (sorted keys), so equal partitions compare equal."""
    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


def record_key(connector: str, partition: SourcePartition) -> bytes:
    """The key of the offsets record of ``connector``'s source ``partition``: equal partitions get
    equal bytes, so compaction keeps only the latest offset of each."""
    return json.dumps([connector, partition], sort_keys=True, separators=(",", ":")).encode()


class OffsetStore:
    def __init__(self, bootstrap: str, producer: Producer, topic: str = DEFAULT_TOPIC) -> None:
        self._bootstrap = bootstrap
        self._producer = producer
        self._topic = topic
        self._offsets: dict[tuple[str, str], SourceOffset] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        loaded: dict[tuple[str, str], SourceOffset] = {}
        for rec in read_to_end(self._bootstrap, self._topic):
            if rec.key is None:
                continue
            name, partition = json.loads(rec.key)
            key = (name, partition_key(partition))
            if rec.value is None:
                loaded.pop(key, None)
            else:
                loaded[key] = json.loads(rec.value)
        with self._lock:
            self._offsets = loaded

    def get(self, connector: str, partition: SourcePartition) -> SourceOffset | None:
        with self._lock:
            return self._offsets.get((connector, partition_key(partition)))

    def commit(self, connector: str, offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        """Store ``offsets`` ({partition key: (partition, offset)}) and wait for the acknowledgement."""
        futures = []
        for partition, offset in offsets.values():
            key = record_key(connector, partition)
            value = json.dumps(offset, separators=(",", ":")).encode()
            futures.append(self._producer.send(self._topic, value=value, key=key, partition=0))
        self._producer.flush()
        for f in futures:
            f.result()
        with self._lock:
            for pkey, (_, offset) in offsets.items():
                self._offsets[(connector, pkey)] = offset

    def all_for(self, connector: str) -> dict[str, Any]:
        with self._lock:
            return {p: o for (n, p), o in self._offsets.items() if n == connector}
