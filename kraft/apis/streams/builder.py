"""``StreamsBuilder``: where a program starts its streams and tables; owns the topology.
:class:`~.app.StreamsApp` is a builder plus the runtime."""

from __future__ import annotations

from collections.abc import Callable

from kraft.apis import ConsumerRecord

from . import aggregates as agg
from . import processors as p
from .dsl import KStream, KTable
from .serdes import Serde
from .topology import Topology

TimestampExtractor = Callable[[ConsumerRecord], int]


class StreamsBuilder:
    def __init__(self, app_id: str, default_key_serde: Serde = Serde.bytes,
                 default_value_serde: Serde = Serde.bytes) -> None:
        if not app_id or any(c in app_id for c in "/\\ "):
            raise ValueError(f"app id must be a non-empty name without slashes or spaces, got {app_id!r}")
        self.app_id = app_id
        self.topology = Topology(app_id)
        self.default_key_serde = default_key_serde
        self.default_value_serde = default_value_serde

    def stream(self, topics: str | list[str], key_serde: Serde | None = None, value_serde: Serde | None = None,
               timestamp_extractor: TimestampExtractor | None = None) -> KStream:
        """Records of ``topics`` (read from the earliest offset by a new app). Event time is the
        record timestamp, or ``timestamp_extractor(record)``."""
        names = [topics] if isinstance(topics, str) else list(topics)
        ks, vs = key_serde or self.default_key_serde, value_serde or self.default_value_serde
        node = self.topology.add(p.SourceNode(names, ks, vs, timestamp_extractor))
        return KStream(self.topology, node, ks, vs)

    def table(self, topic: str, key_serde: Serde | None = None, value_serde: Serde | None = None,
              store: str | None = None, timestamp_extractor: TimestampExtractor | None = None) -> KTable:
        """The latest value per key of ``topic`` (a None value deletes the key), in a store."""
        ks, vs = key_serde or self.default_key_serde, value_serde or self.default_value_serde
        t = self.topology
        source = t.add(p.SourceNode([topic], ks, vs, timestamp_extractor))
        name = t.add_store(store or t.new_store_name("KTABLE-SOURCE"))
        node = t.add(agg.TableSourceNode(name))
        source.add_child(node)
        return KTable(t, node, ks, vs, store=name)

    def add_state_store(self, name: str) -> str:
        """A key-value store for ``KStream.process`` processors (LMDB, changelogged)."""
        return self.topology.add_store(name)

    def describe(self) -> str:
        return self.topology.describe()

