"""The DSL: ``KStream``, ``KTable``, grouped and windowed streams. Each method adds nodes to the
:class:`~.topology.Topology` and returns the next handle; nothing runs until the app starts.

Serdes travel with the handles: a source's serdes stay known until an operation may change the
key (``map``, ``select_key``, ``flat_map``, ``group_by``) or the value (``map_values``, …); a
``to`` without serdes uses the known ones, else infers from each object's type (bytes, str, int,
else JSON). Internal topics and stores use msgpack.

A key change marks the stream *repartition required*: the next aggregation or join first writes it
to an internal repartition topic (keyed by the new key) and reads it back, so each key is
aggregated by the one task that owns its partition, as Kafka Streams does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import aggregates as agg
from . import custom, joins
from . import processors as p
from .errors import TopologyError
from .serdes import INTERNAL, Serde
from .topology import Topology
from .windows import JoinWindows, SessionWindows, SlidingWindows, Suppressed, TimeWindows

DEFAULT_RETENTION_MS = 24 * 3600 * 1000  # closed windows stay queryable this long (Kafka's old default)


class KStream:
    def __init__(self, topology: Topology, node: p.Node, key_serde: Serde | None, value_serde: Serde | None,
                 repartition_required: bool = False, windowed: str | None = None) -> None:
        self._t = topology
        self._node = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._repartition_required = repartition_required
        self._windowed = windowed

    def _then(self, node: p.Node, *, key_changed: bool = False, value_changed: bool = False) -> KStream:
        self._t.add(node)
        self._node.add_child(node)
        return KStream(self._t, node, None if key_changed else self.key_serde,
                       None if value_changed else self.value_serde,
                       self._repartition_required or key_changed, None if key_changed else self._windowed)

    # --- stateless --------------------------------------------------------------------------------

    def map(self, fn: Callable[[Any, Any], tuple[Any, Any]]) -> KStream:
        """``fn(key, value) -> (new_key, new_value)``."""
        return self._then(p.MapNode(fn), key_changed=True, value_changed=True)

    def map_values(self, fn: Callable[[Any], Any]) -> KStream:
        return self._then(p.MapValuesNode(fn), value_changed=True)

    def select_key(self, fn: Callable[[Any, Any], Any]) -> KStream:
        """``fn(key, value) -> new_key``."""
        return self._then(p.SelectKeyNode(fn), key_changed=True)

    def filter(self, predicate: Callable[[Any, Any], bool]) -> KStream:
        return self._then(p.FilterNode(predicate))

    def filter_not(self, predicate: Callable[[Any, Any], bool]) -> KStream:
        return self._then(p.FilterNode(predicate, negate=True))

    def flat_map(self, fn: Callable[[Any, Any], Iterable[tuple[Any, Any]]]) -> KStream:
        return self._then(p.FlatMapNode(fn), key_changed=True, value_changed=True)

    def flat_map_values(self, fn: Callable[[Any], Iterable[Any]]) -> KStream:
        return self._then(p.FlatMapValuesNode(fn), value_changed=True)

    def peek(self, fn: Callable[[Any, Any], object]) -> KStream:
        return self._then(p.PeekNode(fn))

    def foreach(self, fn: Callable[[Any, Any], object]) -> None:
        self._then(p.PeekNode(fn, terminal=True))

    def process(self, supplier: Callable[[], Any], stores: Iterable[str] = ()) -> KStream:
        """Run ``supplier()``'s ``process(ctx, key, value)`` on every record (one processor per
        task), with the named stores (from ``add_state_store``); it forwards with ``ctx.forward``.
        Keys may change, so a later aggregation or join repartitions."""
        names = tuple(stores)
        for name in names:
            if name not in self._t.stores:
                raise TopologyError(f"unknown state store {name!r}: add it with add_state_store() first")
        return self._then(custom.CustomProcessorNode(supplier, names), key_changed=True, value_changed=True)

    def branch(self, *predicates: Callable[[Any, Any], bool]) -> list[KStream]:
        """One stream per predicate; a record goes to the first that matches, else is dropped."""
        if not predicates:
            raise ValueError("branch() needs at least one predicate")
        node = self._then(p.BranchNode(list(predicates)))._node
        out = []
        for _ in predicates:
            child = self._t.add(p.PassNode(), "KSTREAM-BRANCHCHILD")
            node.add_child(child)
            out.append(KStream(self._t, child, self.key_serde, self.value_serde, self._repartition_required,
                               self._windowed))
        return out

    def split(self, prefix: str = "") -> BranchedStream:
        """Kafka's split(): ``.branch(predicate, name)`` ... ``.default_branch(name)`` -> dict."""
        return BranchedStream(self, prefix)

    def merge(self, other: KStream) -> KStream:
        node = self._t.add(p.PassNode(), "KSTREAM-MERGE")
        self._node.add_child(node)
        other._node.add_child(node)
        same_key = self.key_serde is other.key_serde
        same_value = self.value_serde is other.value_serde
        return KStream(self._t, node, self.key_serde if same_key else None, self.value_serde if same_value else None,
                       self._repartition_required or other._repartition_required)

    def to(self, topic: str, key_serde: Serde | None = None, value_serde: Serde | None = None) -> None:
        """Write to ``topic`` (created when missing), partitioned by the key bytes."""
        sink = p.SinkNode(topic, key_serde or self.key_serde, value_serde or self.value_serde,
                          session_windowed=self._windowed == "session")
        self._t.add(sink)
        self._node.add_child(sink)

    def through(self, topic: str, key_serde: Serde | None = None, value_serde: Serde | None = None) -> KStream:
        """Write to the user topic ``topic`` and continue from what is read back from it."""
        ks, vs = key_serde or self.key_serde or INTERNAL, value_serde or self.value_serde or INTERNAL
        self.to(topic, ks, vs)
        source = self._t.add(p.SourceNode([topic], ks, vs))
        return KStream(self._t, source, ks, vs)

    def repartition(self, name: str | None = None, key_serde: Serde | None = None,
                    value_serde: Serde | None = None) -> KStream:
        """Through an internal topic ``<app>-<name>-repartition``, partitioned by the current key."""
        return self._repartition(name, key_serde, value_serde)

    def _repartition(self, name: str | None, key_serde: Serde | None, value_serde: Serde | None,
                     combine_counts: bool = False) -> KStream:
        ks, vs = key_serde or self.key_serde or INTERNAL, value_serde or self.value_serde or INTERNAL
        topic = self._t.new_repartition_topic(name)
        sink_type = p.CombiningSinkNode if combine_counts else p.SinkNode
        sink = self._t.add(sink_type(topic, ks, vs, internal=True))
        self._node.add_child(sink)
        source = self._t.add(p.SourceNode([topic], ks, vs, internal=True))
        # Downstream sinks keep inferring what msgpack stood in for internally.
        return KStream(self._t, source, key_serde or self.key_serde, value_serde or self.value_serde)

    def _repartitioned(self, name: str | None = None, key_serde: Serde | None = None) -> KStream:
        return self.repartition(name, key_serde=key_serde) if self._repartition_required else self

    def _repartitioned_like(self, other_key_serde: Serde | None) -> KStream:
        """Repartitioned (when required) to match an input of a join that is not: its key bytes
        must be the other side's, or the producer's partitioner sends a key elsewhere than the
        other side's records of that key (co-partitioning is of serialized keys)."""
        if not self._repartition_required:
            return self
        serde = self.key_serde or other_key_serde
        if serde is None:
            raise TopologyError("a join after a key change needs the key serde of the other side: "
                                "pass key_serde to repartition() first")
        return self.repartition(key_serde=serde)

    # --- grouping and joins ------------------------------------------------------------------------

    def group_by(self, fn: Callable[[Any, Any], Any], key_serde: Serde | None = None,
                 value_serde: Serde | None = None) -> KGroupedStream:
        """Group by ``fn(key, value)`` (a new key: the aggregation reads a repartition topic)."""
        stream = self.select_key(fn)
        stream.key_serde, stream.value_serde = key_serde, value_serde or stream.value_serde
        return KGroupedStream(stream)

    def group_by_key(self, key_serde: Serde | None = None, value_serde: Serde | None = None) -> KGroupedStream:
        stream = KStream(self._t, self._node, key_serde or self.key_serde, value_serde or self.value_serde,
                         self._repartition_required)
        return KGroupedStream(stream)

    def join(self, other: KStream | KTable, joiner: Callable[[Any, Any], Any],
             windows: JoinWindows | None = None) -> KStream:
        """Inner join with a table (lookup per record) or with a stream (needs ``windows``)."""
        return self._join(other, joiner, windows, joins.INNER)

    def left_join(self, other: KStream | KTable, joiner: Callable[[Any, Any], Any],
                  windows: JoinWindows | None = None) -> KStream:
        return self._join(other, joiner, windows, joins.LEFT)

    def outer_join(self, other: KStream, joiner: Callable[[Any, Any], Any], windows: JoinWindows) -> KStream:
        return self._join(other, joiner, windows, joins.OUTER)

    def _join(self, other: KStream | KTable, joiner: Callable[[Any, Any], Any], windows: JoinWindows | None,
              how: str) -> KStream:
        if isinstance(other, KTable):
            this = self._repartitioned_like(other.key_serde)
            if windows is not None:
                raise TopologyError("a stream-table join has no window")
            if how == joins.OUTER:
                raise TopologyError("a stream-table join is inner or left, not outer")
            store = other._materialized()
            return this._then(joins.StreamTableJoinNode(store, joiner, how), value_changed=True)
        if windows is None:
            raise TopologyError("a stream-stream join needs windows=JoinWindows.of(...)")
        if self._repartition_required and other._repartition_required:
            serde = self.key_serde or other.key_serde  # one serde for both (None: msgpack for both)
            this, that = self._repartitioned(key_serde=serde), other._repartitioned(key_serde=serde)
        else:
            this, that = self._repartitioned_like(other.key_serde), other._repartitioned_like(self.key_serde)
        t = self._t
        left_store = t.add_store(t.new_store_name("KSTREAM-JOINTHIS"))
        right_store = t.add_store(t.new_store_name("KSTREAM-JOINOTHER"))
        for buffer in (left_store, right_store):  # window stores, as in Kafka (the pending one is not)
            t.windowed_retention_ms[buffer] = windows.retention_ms
        pending = t.add_store(t.new_store_name("KSTREAM-OUTERSHARED"))
        left = t.add(joins.StreamStreamJoinNode("left", left_store, right_store, pending, windows, joiner, how))
        right = t.add(joins.StreamStreamJoinNode("right", right_store, left_store, pending, windows, joiner, how))
        this._node.add_child(left)
        that._node.add_child(right)
        merged = t.add(p.PassNode(), "KSTREAM-JOINMERGE")
        left.add_child(merged)
        right.add_child(merged)
        return KStream(t, merged, this.key_serde, None)


class BranchedStream:
    def __init__(self, stream: KStream, prefix: str) -> None:
        self._stream = stream
        self._prefix = prefix
        self._branches: list[tuple[Callable[[Any, Any], bool], str]] = []

    def branch(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> BranchedStream:
        self._branches.append((predicate, self._prefix + (name or str(len(self._branches) + 1))))
        return self

    def default_branch(self, name: str | None = None) -> dict[str, KStream]:
        self._branches.append((lambda _k, _v: True, self._prefix + (name or "0")))
        return self._build()

    def no_default_branch(self) -> dict[str, KStream]:
        return self._build()

    def _build(self) -> dict[str, KStream]:
        streams = self._stream.branch(*(pred for pred, _ in self._branches))
        return {name: s for (_, name), s in zip(self._branches, streams, strict=True)}


class KGroupedStream:
    def __init__(self, stream: KStream) -> None:
        self._stream = stream

    def _source(self, name: str | None, combine_counts: bool = False) -> KStream:
        stream = self._stream
        if not stream._repartition_required:
            return stream
        return stream._repartition(f"{name}" if name else None, None, None, combine_counts)

    def _aggregate(self, adder: agg.Adder, store: str | None, value_serde: Serde | None) -> KTable:
        stream = self._source(store)
        t = stream._t
        name = t.add_store(store or t.new_store_name("KSTREAM-AGGREGATE"))
        node = t.add(agg.AggregateNode(name, adder))
        stream._node.add_child(node)
        return KTable(t, node, self._stream.key_serde, value_serde, store=name)

    def count(self, store: str | None = None) -> KTable:
        """Records per key. After a key change the records of a key are combined before the
        repartition topic while the record cache is on (one record per key and flush)."""
        stream = self._source(store, combine_counts=True)
        t = stream._t
        name = t.add_store(store or t.new_store_name("KSTREAM-AGGREGATE"))
        combined = stream._node.topics[0] if stream is not self._stream and isinstance(stream._node, p.SourceNode) \
            else None
        node = t.add(agg.CountNode(name, combined))
        stream._node.add_child(node)
        return KTable(t, node, self._stream.key_serde, Serde.int, store=name)

    def reduce(self, reducer: Callable[[Any, Any], Any], store: str | None = None) -> KTable:
        """``reducer(aggregate, value) -> aggregate``; the first value of a key is its aggregate."""
        return self._aggregate(_reduce_adder(reducer), store, self._stream.value_serde)

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any],
                  store: str | None = None, value_serde: Serde | None = None) -> KTable:
        """``aggregator(key, value, aggregate) -> aggregate``, starting from ``initializer()``."""
        return self._aggregate(_aggregate_adder(initializer, aggregator), store, value_serde)

    def windowed_by(self, windows: TimeWindows | SlidingWindows | SessionWindows) -> WindowedStream:
        return WindowedStream(self, windows)


class WindowedStream:
    """A grouped stream with windows: its aggregations make tables keyed by ``Windowed``."""

    def __init__(self, grouped: KGroupedStream, windows: TimeWindows | SlidingWindows | SessionWindows) -> None:
        self._grouped = grouped
        self._windows = windows

    def _aggregate(self, adder: agg.Adder, merger: agg.Merger | None, store: str | None,
                   value_serde: Serde | None, retention_ms: int | None) -> KTable:
        stream = self._grouped._source(store)
        t = stream._t
        w = self._windows
        name = t.add_store(store or t.new_store_name("KSTREAM-AGGREGATE"))
        span = w.size_ms if isinstance(w, TimeWindows | SlidingWindows) else w.gap_ms
        retention = retention_ms if retention_ms is not None else max(span + w.grace_ms, DEFAULT_RETENTION_MS)
        if retention < span + w.grace_ms:
            raise TopologyError(f"retention_ms must cover the window and its grace ({span + w.grace_ms} ms)")
        node: p.Node
        t.windowed_retention_ms[name] = retention
        if isinstance(w, TimeWindows | SlidingWindows):
            t.window_sizes[name] = w.size_ms
        if isinstance(w, TimeWindows):
            node = agg.WindowedAggregateNode(name, w, adder, retention)
        elif isinstance(w, SlidingWindows):
            records = t.add_store(f"{name}-records")
            t.windowed_retention_ms[records] = retention  # raw records go before their windows do
            node = agg.SlidingAggregateNode(name, records, w, adder, retention)
        else:
            if merger is None:
                raise TopologyError("aggregate() over session windows needs merger=")
            node = agg.SessionAggregateNode(name, w, adder, merger, retention)
        t.add(node)
        stream._node.add_child(node)
        kind = "session" if isinstance(w, SessionWindows) else "time"
        return KTable(t, node, self._grouped._stream.key_serde, value_serde, store=name, windowed=kind,
                      grace_ms=w.grace_ms)

    def count(self, store: str | None = None, retention_ms: int | None = None) -> KTable:
        """Records per key and window. ``retention_ms``: how long (in stream time after a window
        ends) its result stays in the store for queries; default max(size + grace, 1 day)."""
        return self._aggregate(_count_adder, lambda _k, a, b: a + b, store, Serde.int, retention_ms)

    def reduce(self, reducer: Callable[[Any, Any], Any], store: str | None = None,
               retention_ms: int | None = None) -> KTable:
        return self._aggregate(_reduce_adder(reducer), lambda _k, a, b: reducer(a, b), store,
                               self._grouped._stream.value_serde, retention_ms)

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any],
                  store: str | None = None, value_serde: Serde | None = None,
                  merger: Callable[[Any, Any, Any], Any] | None = None, retention_ms: int | None = None) -> KTable:
        """As ``KGroupedStream.aggregate``; session windows also need ``merger(key, agg1, agg2)``."""
        return self._aggregate(_aggregate_adder(initializer, aggregator), merger, store, value_serde, retention_ms)


class KGroupedTable:
    """A re-grouped table: aggregations with an adder and a subtractor (a row's old value leaves
    its group's aggregate when the row changes or is deleted)."""

    def __init__(self, stream: KStream) -> None:
        self._stream = stream

    def _aggregate(self, adder: agg.Adder, subtractor: agg.Adder, store: str | None,
                   value_serde: Serde | None) -> KTable:
        stream = self._stream._repartitioned(store)
        t = stream._t
        name = t.add_store(store or t.new_store_name("KTABLE-AGGREGATE"))
        node = t.add(agg.TableAggregateNode(name, adder, subtractor))
        stream._node.add_child(node)
        return KTable(t, node, self._stream.key_serde, value_serde, store=name)

    def count(self, store: str | None = None) -> KTable:
        return self._aggregate(_count_adder, lambda _k, _v, a: a - 1, store, Serde.int)

    def reduce(self, adder: Callable[[Any, Any], Any], subtractor: Callable[[Any, Any], Any],
               store: str | None = None) -> KTable:
        """``adder(aggregate, value)`` / ``subtractor(aggregate, value)``; a group's first value
        is its aggregate."""
        return self._aggregate(_reduce_adder(adder), lambda _k, v, a: subtractor(a, v), store,
                               self._stream.value_serde)

    def aggregate(self, initializer: Callable[[], Any], adder: Callable[[Any, Any, Any], Any],
                  subtractor: Callable[[Any, Any, Any], Any], store: str | None = None,
                  value_serde: Serde | None = None) -> KTable:
        """``adder(key, value, aggregate)`` / ``subtractor(key, value, aggregate)``."""
        return self._aggregate(_aggregate_adder(initializer, adder), subtractor, store, value_serde)


class KTable:
    """A changelog stream viewed as a table: the latest value per key. ``store`` is set when the
    table is materialized (queryable with ``app.store(name)``)."""

    def __init__(self, topology: Topology, node: p.Node, key_serde: Serde | None, value_serde: Serde | None,
                 store: str | None = None, windowed: str | None = None, grace_ms: int = 0) -> None:
        self._t = topology
        self._node = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.store = store
        self._windowed = windowed
        self._grace_ms = grace_ms

    def _then(self, node: p.Node, value_changed: bool = False) -> KTable:
        self._t.add(node)
        self._node.add_child(node)
        return KTable(self._t, node, self.key_serde, None if value_changed else self.value_serde,
                      windowed=self._windowed, grace_ms=self._grace_ms)

    def filter(self, predicate: Callable[[Any, Any], bool]) -> KTable:
        return self._then(p.TableFilterNode(predicate))

    def filter_not(self, predicate: Callable[[Any, Any], bool]) -> KTable:
        return self._then(p.TableFilterNode(predicate, negate=True))

    def map_values(self, fn: Callable[[Any], Any]) -> KTable:
        return self._then(p.TableMapValuesNode(fn), value_changed=True)

    def to_stream(self, key_mapper: Callable[[Any, Any], Any] | None = None) -> KStream:
        node = self._t.add(p.ToStreamNode(key_mapper))
        self._node.add_child(node)
        return KStream(self._t, node, None if key_mapper else self.key_serde, self.value_serde,
                       key_mapper is not None, None if key_mapper else self._windowed)

    def group_by(self, fn: Callable[[Any, Any], tuple[Any, Any]], key_serde: Serde | None = None,
                 value_serde: Serde | None = None) -> KGroupedTable:
        """Re-group the rows by ``fn(key, value) -> (new_key, new_value)`` (through a repartition
        topic); aggregations of the result keep up with rows changing or moving between groups."""
        if self._windowed is not None:
            raise TopologyError("group_by of a windowed table is not supported")
        node = self._t.add(agg.TableGroupByNode(fn))
        self._node.add_child(node)
        return KGroupedTable(KStream(self._t, node, key_serde, value_serde, repartition_required=True))

    def suppress(self, suppressed: Suppressed) -> KTable:
        """``suppress(until_window_closes)``: only each window's final result, once it closes."""
        if suppressed.mode != "until_window_closes":
            raise TopologyError(f"unsupported suppression {suppressed.mode!r}")
        if self._windowed is None:
            raise TopologyError("suppress(until_window_closes) needs a windowed table")
        store = self._t.add_store(self._t.new_store_name("KTABLE-SUPPRESS"))
        # The window's updates must reach the suppression in stream-time order: a record cache
        # upstream would hand it updates of a window after later records had closed that window.
        todo = [self._node]
        while todo:
            node = todo.pop()
            node.cacheable = False
            todo.extend(parent for parent in node.parents if not isinstance(parent, p.SourceNode))
        return self._then(agg.SuppressNode(store, self._grace_ms, session=self._windowed == "session"))

    def join(self, other: KTable, joiner: Callable[[Any, Any], Any]) -> KTable:
        return self._join(other, joiner, joins.INNER)

    def left_join(self, other: KTable, joiner: Callable[[Any, Any], Any]) -> KTable:
        return self._join(other, joiner, joins.LEFT)

    def outer_join(self, other: KTable, joiner: Callable[[Any, Any], Any]) -> KTable:
        return self._join(other, joiner, joins.OUTER)

    def _join(self, other: KTable, joiner: Callable[[Any, Any], Any], how: str) -> KTable:
        this_store, other_store = self._materialized(), other._materialized()
        t = self._t
        left = t.add(joins.TableTableJoinNode("left", other_store, joiner, how))
        right = t.add(joins.TableTableJoinNode("right", this_store, joiner, how))
        self._store_node().add_child(left)
        other._store_node().add_child(right)
        merged = t.add(p.PassNode(), "KTABLE-JOINMERGE")
        left.add_child(merged)
        right.add_child(merged)
        return KTable(t, merged, self.key_serde, None)

    def _materialized(self) -> str:
        """The name of a store holding this table, adding one if the table is derived."""
        if self.store is None:
            if self._windowed is not None:
                raise TopologyError("joining a windowed table is not supported")
            store = self._t.add_store(self._t.new_store_name("KTABLE-MATERIALIZED"))
            node = self._t.add(agg.TableSourceNode(store), "KTABLE-MATERIALIZE")
            self._node.add_child(node)
            self._node, self.store = node, store
        return self.store

    def _store_node(self) -> p.Node:
        self._materialized()
        return self._node


def _count_adder(_key: Any, _value: Any, aggregate: Any) -> Any:
    return 1 if aggregate is None else aggregate + 1


def _reduce_adder(reducer: Callable[[Any, Any], Any]) -> agg.Adder:
    def add(_key: Any, value: Any, aggregate: Any) -> Any:
        return value if aggregate is None else reducer(aggregate, value)
    return add


def _aggregate_adder(initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any]) -> agg.Adder:
    def add(key: Any, value: Any, aggregate: Any) -> Any:
        return aggregator(key, value, initializer() if aggregate is None else aggregate)
    return add
