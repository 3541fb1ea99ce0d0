"""The topology a DSL program builds: its nodes, state stores, and the analysis that splits it
into *sub-topologies* (parts connected by node edges or shared stores, separated by repartition
topics). A sub-topology runs as one task per partition of its source topics.

Names are deterministic (a counter in build order), so every instance running the same program
agrees on store, changelog and repartition topic names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import TopologyError
from .processors import Node, SinkNode, SourceNode


@dataclass
class SubTopology:
    id: int
    nodes: list[Node]
    sources: dict[str, SourceNode]  # topic -> node
    stores: list[str]
    requires_copartition: bool

    @property
    def external_topics(self) -> list[str]:
        return sorted(t for t, s in self.sources.items() if not s.internal)

    @property
    def internal_topics(self) -> list[str]:
        return sorted(t for t, s in self.sources.items() if s.internal)


@dataclass
class Topology:
    app_id: str
    nodes: list[Node] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    repartition_topics: list[str] = field(default_factory=list)
    window_sizes: dict[str, int] = field(default_factory=dict)  # windowed store -> window size (ms)
    # Stores of windows, sessions and join buffers -> how long (ms of stream time) they keep an
    # entry: their changelogs also delete by time (topics.changelog_configs).
    windowed_retention_ms: dict[str, int] = field(default_factory=dict)
    _counter: int = 0

    def add(self, node: Node, kind: str | None = None) -> Node:
        node.name = f"{kind or node.kind}-{self._counter:010d}"
        self._counter += 1
        self.nodes.append(node)
        return node

    def new_store_name(self, kind: str) -> str:
        name = f"{kind}-STATE-STORE-{self._counter:010d}"
        self._counter += 1
        return name

    def add_store(self, name: str) -> str:
        if not name or "\x00" in name:
            raise TopologyError(f"a state store name must be non-empty without NUL, got {name!r}")
        if name in self.stores:
            raise TopologyError(f"state store {name!r} is defined twice")
        self.stores.append(name)
        return name

    def new_repartition_topic(self, name: str | None) -> str:
        base = name or f"KSTREAM-REPARTITION-{self._counter:010d}"
        self._counter += 1
        topic = f"{self.app_id}-{base}-repartition"
        if topic in self.repartition_topics:
            raise TopologyError(f"repartition topic {topic!r} is defined twice")
        self.repartition_topics.append(topic)
        return topic

    def changelog_topic(self, store: str) -> str:
        return f"{self.app_id}-{store}-changelog"

    # --- analysis ---------------------------------------------------------------------------------

    def subtopologies(self) -> list[SubTopology]:
        parent: dict[int, int] = {id(n): id(n) for n in self.nodes}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a: int, b: int) -> None:
            parent[find(a)] = find(b)

        by_store: dict[str, Node] = {}
        for node in self.nodes:
            for child in node.children:
                union(id(node), id(child))
            for store in node.stores:
                if store in by_store:
                    union(id(node), id(by_store[store]))
                else:
                    by_store[store] = node
        groups: dict[int, list[Node]] = {}
        for node in self.nodes:
            groups.setdefault(find(id(node)), []).append(node)
        subs: list[SubTopology] = []
        for nodes in groups.values():
            sources: dict[str, SourceNode] = {}
            for node in nodes:
                if isinstance(node, SourceNode):
                    for topic in node.topics:
                        if topic in sources:
                            raise TopologyError(f"topic {topic!r} is a source twice in one sub-topology")
                        sources[topic] = node
            if not sources:
                continue  # cannot happen through the DSL: every node descends from a source
            stores = sorted({s for n in nodes for s in n.stores})
            copart = any(getattr(n, "requires_copartition", False) for n in nodes)
            subs.append(SubTopology(len(subs), nodes, sources, stores, copart))
        seen: dict[str, int] = {}
        for sub in subs:
            for topic in sub.sources:
                if topic in seen:
                    raise TopologyError(f"topic {topic!r} is read by two sub-topologies; read it once and "
                                        "reuse the stream")
                seen[topic] = sub.id
        return subs

    def sink_topics(self) -> list[str]:
        return sorted({n.topic for n in self.nodes if isinstance(n, SinkNode)})

    def describe(self) -> str:
        """A readable listing of sub-topologies, nodes, their children and stores."""
        lines = []
        for sub in self.subtopologies():
            lines.append(f"Sub-topology {sub.id} (sources: {', '.join(sorted(sub.sources))})")
            for node in sub.nodes:
                extra = f" topic {node.topic}" if isinstance(node, SinkNode) else ""
                stores = f" stores {list(node.stores)}" if node.stores else ""
                kids = ", ".join(c.name for c in node.children)
                lines.append(f"  {node.name}{extra}{stores} -> [{kids}]")
        return "\n".join(lines)
