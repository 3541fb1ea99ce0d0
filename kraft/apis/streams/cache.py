"""The record cache: what stateful nodes would forward, coalesced per key between commits, as Kafka
Streams' record cache (``cache.max.bytes.buffering``, now ``statestore.cache.max.bytes``).

Owns: the buffered entries of one app instance's tasks and their byte budget (``cache_max_bytes``,
shared by every task of the instance; 0 turns the cache off and every update is forwarded at once).
Two kinds of node buffer here, one :class:`NodeCache` per node and task:

- a *table change* (an aggregation's or a table's new value of a key, with the value it had at the
  last flush): a second update of the key replaces the new value and keeps the old one, so the
  flush forwards ``Change(latest, value at the last flush)`` once, with the latest update's time;
- a *combined count* (``group_by(...).count()``'s repartition sink): occurrences of a key are added
  up and the flush sends one repartition record per key carrying the count in the
  ``kraft.count`` header (the reading count node adds it; see :class:`CombiningSinkNode`).

Entries leave at a *flush* (the runtime's commit, before the changelog records are sent and the
producer is flushed, so whatever they cause is acknowledged before any input offset is committed)
or when the budget is exceeded (*eviction*: the least recently updated entries of the node being
written go first, as in Kafka). Store writes do not wait here: the stores already keep one dirty
value per key until the commit (:mod:`.stores`).

Must not: send or read anything itself (the nodes do, through their task context), or outlive its
task: a task closed without a commit drops its entries (the input they came from is not committed
either, so the next owner processes it again).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .processors import Node
    from .task import TaskContext

DEFAULT_CACHE_MAX_BYTES = 10 * 1024 * 1024  # Kafka Streams' default (10 MB per instance)
ENTRY_OVERHEAD_BYTES = 64  # an entry's own bookkeeping, counted as Kafka counts its per-entry overhead
COUNT_HEADER = "kraft.count"  # on a combined repartition record: how many records it stands for


class CacheBudget:
    """The bytes every task cache of one app instance may hold together."""

    __slots__ = ("max_bytes", "used_bytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("cache_max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.used_bytes = 0


class NodeCache:
    """The entries of one node in one task, least recently updated first.

    An entry is a list ``[key, a, b, timestamp, size]``: for a table change ``a`` is the new value
    and ``b`` the value at the last flush; for a combined count ``a`` is the count and ``b`` the
    latest value (sent as the combined record's value, so the reader's serde can decode it)."""

    __slots__ = ("budget", "entries", "node", "size_bytes")

    def __init__(self, node: Node, budget: CacheBudget) -> None:
        self.node = node
        self.budget = budget
        self.entries: OrderedDict[Any, list[Any]] = OrderedDict()  # key bytes, or a str / int key
        self.size_bytes = 0

    def put_change(self, ctx: TaskContext, kb: bytes, key: Any, new: Any, old: Any, size: int) -> None:
        """Remember ``key``'s new value; ``old`` counts only for the first update since the flush."""
        size += ENTRY_OVERHEAD_BYTES
        entry = self.entries.get(kb)
        if entry is None:
            self.entries[kb] = [key, new, old, ctx.timestamp, size]
        else:
            entry[1] = new
            entry[3] = ctx.timestamp
            size, entry[4] = size - entry[4], size
            self.entries.move_to_end(kb)
        self._grew(ctx, size)

    def add_count(self, ctx: TaskContext, key: str | int | bytes, value: Any) -> None:
        """One more occurrence of ``key`` (a str or int key itself, any other key's bytes)."""
        entries = self.entries
        entry = entries.get(key)
        if entry is None:
            size = (8 if isinstance(key, int) else len(key)) + ENTRY_OVERHEAD_BYTES
            entries[key] = [key, 1, value, ctx.timestamp, size]
            self._grew(ctx, size)
            return
        entry[1] += 1
        entry[2] = value
        ts = ctx.timestamp
        if ts > entry[3]:
            entry[3] = ts
        entries.move_to_end(key)

    def _grew(self, ctx: TaskContext, size: int) -> None:
        self.size_bytes += size
        budget = self.budget
        budget.used_bytes += size
        if budget.used_bytes > budget.max_bytes:
            self._evict(ctx)

    def _evict(self, ctx: TaskContext) -> None:
        """Emit the least recently updated entries until the budget holds (or this cache is empty)."""
        budget, entries, emit = self.budget, self.entries, self.node.emit_cached
        while entries and budget.used_bytes > budget.max_bytes:
            _kb, entry = entries.popitem(last=False)
            self.size_bytes -= entry[4]
            budget.used_bytes -= entry[4]
            emit(ctx, entry)

    def flush(self, ctx: TaskContext) -> int:
        """Emit every entry, least recently updated first; returns how many."""
        entries, self.entries = self.entries, OrderedDict()
        self.budget.used_bytes -= self.size_bytes
        self.size_bytes = 0
        emit = self.node.emit_cached
        for entry in entries.values():
            emit(ctx, entry)
        return len(entries)

    def drop(self) -> None:
        """Forget every entry (the task closes without a commit)."""
        self.budget.used_bytes -= self.size_bytes
        self.size_bytes = 0
        self.entries = OrderedDict()


class TaskCaches:
    """The node caches of one task (``None`` budget: caching off, nodes forward at once)."""

    def __init__(self, budget: CacheBudget | None) -> None:
        self.budget = budget if budget is not None and budget.max_bytes > 0 else None
        self._caches: dict[Node, NodeCache] = {}

    def of(self, node: Node) -> NodeCache | None:
        if self.budget is None or not node.cacheable:
            return None
        cache = self._caches.get(node)
        if cache is None:
            cache = self._caches[node] = NodeCache(node, self.budget)
        return cache

    def flush(self, ctx: TaskContext) -> int:
        """Emit every entry of every node; what an emit forwards into another cached node of the
        task is emitted too (rounds until all are empty). Returns the entries emitted."""
        emitted = 0
        for _ in range(len(self._caches) + 1):
            pending = [cache for cache in self._caches.values() if cache.entries]
            if not pending:
                return emitted
            for cache in pending:
                emitted += cache.flush(ctx)
        raise RuntimeError("record caches kept refilling each other while flushing")  # a cycle: a bug

    def drop(self) -> None:
        for cache in self._caches.values():
            cache.drop()
        self._caches.clear()

    @property
    def empty(self) -> bool:
        return not any(cache.entries for cache in self._caches.values())
