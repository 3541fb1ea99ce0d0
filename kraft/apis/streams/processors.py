"""The nodes of a topology and the stateless operations.

A node is both the DSL's description of a step and the code that runs it: its ``process(ctx, key,
value)`` reads and writes state only through ``ctx`` (the task's :class:`~.task.TaskContext`:
current record time, stream time, stores, forward, send), so one node object serves every task.
Tables forward :class:`Change` values (new and old), streams plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from .cache import COUNT_HEADER
from .serdes import INFERRED, Serde, serialize_windowed
from .windows import Windowed

if TYPE_CHECKING:
    from .task import TaskContext


class Change(NamedTuple):
    """An update of a table row: the new value (None: deleted) and the previous one."""

    new: Any
    old: Any


class Node:
    kind = "NODE"
    cacheable = True  # may hold its forwards in the record cache (.cache); False: forwards at once

    def __init__(self) -> None:
        self.name = ""
        self.children: list[Node] = []
        self.parents: list[Node] = []
        self.stores: tuple[str, ...] = ()

    def add_child(self, child: Node) -> Node:
        self.children.append(child)
        child.parents.append(self)
        return child

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        ctx.forward(self, key, value)

    def emit_cached(self, ctx: TaskContext, entry: list[Any]) -> None:
        """Forward an entry of this node's record cache (:mod:`.cache`): a coalesced table change
        ``[key, new, value at the last flush, timestamp, size]``; a row created and deleted
        between two flushes forwards nothing."""
        if entry[1] is None and entry[2] is None:
            return
        ctx.forward(self, entry[0], Change(entry[1], entry[2]), timestamp=entry[3])

    def __repr__(self) -> str:
        return self.name or type(self).__name__


class SourceNode(Node):
    """Reads ``topics``; the task deserializes records with these serdes before ``process``."""

    kind = "SOURCE"

    def __init__(self, topics: list[str], key_serde: Serde, value_serde: Serde,
                 timestamp_extractor: Callable[[Any], int] | None = None, internal: bool = False) -> None:
        super().__init__()
        self.topics = topics
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.timestamp_extractor = timestamp_extractor
        self.internal = internal


class SinkNode(Node):
    """Writes to ``topic``; a key or value serde of None is inferred from the object's type."""

    kind = "SINK"

    def __init__(self, topic: str, key_serde: Serde | None, value_serde: Serde | None,
                 internal: bool = False, session_windowed: bool = False) -> None:
        super().__init__()
        self.topic = topic
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.internal = internal
        self.session_windowed = session_windowed

    def key_bytes(self, key: Any) -> bytes | None:
        if isinstance(key, Windowed):
            return serialize_windowed(self.key_serde or INFERRED, key, self.session_windowed)
        return (self.key_serde or INFERRED).serialize(key)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        ctx.send(self.topic, self.key_bytes(key), (self.value_serde or INFERRED).serialize(value), ctx.timestamp)


class CombiningSinkNode(SinkNode):
    """The repartition sink of ``group_by(...).count()``: with the record cache on, the records of
    one key between two flushes travel as one record whose ``kraft.count`` header says how many
    it stands for (a map-side combine: the counting task adds that many). Its value is the latest
    record's, so the reading side's serde decodes it as before; its timestamp is the latest of
    the records it combines. Records with a None key or value are dropped here, as the count would
    skip them. With the cache off, every record is sent as by a plain sink."""

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        cache = ctx.caches.of(self)
        if cache is None:
            ctx.send(self.topic, self.key_bytes(key), (self.value_serde or INFERRED).serialize(value), ctx.timestamp)
            return
        if key is None or value is None:
            return
        # A str or int key is its own cache key (serialized once per flush, not per record); any
        # other key by its bytes. The two never collide: a str or int never equals bytes.
        kt = type(key)
        cache.add_count(ctx, key if kt is str or kt is int else self.key_bytes(key) or b"", value)

    def emit_cached(self, ctx: TaskContext, entry: list[Any]) -> None:
        key, count, value, ts = entry[0], entry[1], entry[2], entry[3]
        kb = key if type(key) is bytes else self.key_bytes(key)
        headers = [(COUNT_HEADER, count.to_bytes(8, "big"))] if count > 1 else None
        ctx.send(self.topic, kb, (self.value_serde or INFERRED).serialize(value), ts, headers)




class MapNode(Node):
    kind = "MAP"

    def __init__(self, fn: Callable[[Any, Any], tuple[Any, Any]]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new_key, new_value = self.fn(key, value)
        for child in self.children:  # ctx.forward without its frame: this runs per record
            child.process(ctx, new_key, new_value)


class MapValuesNode(Node):
    kind = "MAPVALUES"

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new_value = self.fn(value)
        for child in self.children:
            child.process(ctx, key, new_value)


class SelectKeyNode(Node):
    kind = "KEY-SELECT"

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new_key = self.fn(key, value)
        for child in self.children:
            child.process(ctx, new_key, value)


class FilterNode(Node):
    kind = "FILTER"

    def __init__(self, predicate: Callable[[Any, Any], bool], negate: bool = False) -> None:
        super().__init__()
        self.predicate = predicate
        self.negate = negate

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if bool(self.predicate(key, value)) != self.negate:
            for child in self.children:
                child.process(ctx, key, value)


class FlatMapNode(Node):
    kind = "FLATMAP"

    def __init__(self, fn: Callable[[Any, Any], Iterable[tuple[Any, Any]]]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        children = self.children
        if len(children) == 1:  # the usual case: one call per output, no loop inside the loop
            process = children[0].process
            for new_key, new_value in self.fn(key, value):
                process(ctx, new_key, new_value)
            return
        for new_key, new_value in self.fn(key, value):
            for child in children:
                child.process(ctx, new_key, new_value)


class FlatMapValuesNode(Node):
    kind = "FLATMAPVALUES"

    def __init__(self, fn: Callable[[Any], Iterable[Any]]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        children = self.children
        if len(children) == 1:
            process = children[0].process
            for new_value in self.fn(value):
                process(ctx, key, new_value)
            return
        for new_value in self.fn(value):
            for child in children:
                child.process(ctx, key, new_value)


class PeekNode(Node):
    kind = "PEEK"

    def __init__(self, fn: Callable[[Any, Any], object], terminal: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.terminal = terminal

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        self.fn(key, value)
        if not self.terminal:
            ctx.forward(self, key, value)


class BranchNode(Node):
    """Forwards each record to the first branch whose predicate holds (child i = predicate i);
    a record that matches none is dropped, as in Kafka's split()."""

    kind = "BRANCH"

    def __init__(self, predicates: list[Callable[[Any, Any], bool]]) -> None:
        super().__init__()
        self.predicates = predicates

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        for predicate, child in zip(self.predicates, self.children, strict=True):
            if predicate(key, value):
                ctx.forward_to(child, key, value)
                return


class PassNode(Node):
    """A named pass-through: a merge point, or one branch of a split."""

    kind = "PASS"


class ToStreamNode(Node):
    """A table's changes as a stream of new values (None for a deleted row)."""

    kind = "TOSTREAM"

    def __init__(self, fn: Callable[[Any, Any], Any] | None = None) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new = value.new if isinstance(value, Change) else value
        ctx.forward(self, self.fn(key, new) if self.fn is not None else key, new)


class TableFilterNode(Node):
    """A filtered table: a row that stops matching is forwarded as a deletion."""

    kind = "KTABLE-FILTER"

    def __init__(self, predicate: Callable[[Any, Any], bool], negate: bool = False) -> None:
        super().__init__()
        self.predicate = predicate
        self.negate = negate

    def _keep(self, key: Any, value: Any) -> Any:
        if value is None:
            return None
        return value if bool(self.predicate(key, value)) != self.negate else None

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new, old = self._keep(key, value.new), self._keep(key, value.old)
        if new is None and old is None:
            return
        ctx.forward(self, key, Change(new, old))


class TableMapValuesNode(Node):
    kind = "KTABLE-MAPVALUES"

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        new = None if value.new is None else self.fn(value.new)
        old = None if value.old is None else self.fn(value.old)
        ctx.forward(self, key, Change(new, old))
