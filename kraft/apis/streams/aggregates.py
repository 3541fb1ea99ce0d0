"""Stateful nodes of grouped streams and tables: table materialization, aggregations (plain,
time-windowed, sliding, session) and ``suppress(until_window_closes)``.

Aggregates are folded with ``adder(key, value, aggregate_or_None) -> aggregate``; the DSL builds
the adder of count / reduce / aggregate. Records with a None key or value are skipped, as Kafka
Streams does. A window is *closed* once stream time (the task's largest record timestamp so far)
reaches its end plus the grace period; a record for a closed window only is dropped (counted in
``ctx.dropped_late``) and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cache import COUNT_HEADER
from .keys import JOIN_SUFFIX_BYTES, dec, enc, join_key, pack_time, prefix_end, session_key, unpack_time, window_key
from .processors import Change, Node
from .windows import SessionWindows, SlidingWindows, TimeWindows, Windowed

if TYPE_CHECKING:
    from .task import TaskContext

Adder = Callable[[Any, Any, Any], Any]
Merger = Callable[[Any, Any, Any], Any]
log = logging.getLogger(__name__)


def _load(ctx: TaskContext, store: str, key: bytes) -> Any:
    raw = ctx.get(store, key)
    return None if raw is None else dec(raw)


def _changed(ctx: TaskContext, node: Node, kb: bytes, key: Any, new: Any, old: Any, vb: bytes | None) -> None:
    """Forward ``Change(new, old)`` now, or leave it to the record cache (:mod:`.cache`), which
    forwards the latest value of ``key`` with its value at the last flush, once."""
    cache = ctx.caches.of(node)
    if cache is None:
        ctx.forward(node, key, Change(new, old))
    else:
        cache.put_change(ctx, kb, key, new, old, len(kb) + (len(vb) if vb is not None else 0))


def _purge(ctx: TaskContext, store: str, expired: Callable[[bytes], bool]) -> int:
    """Delete every entry whose key ``expired``: a full scan, run every few tens of seconds."""
    doomed = [k for k, _ in ctx.range(store, b"", None) if expired(k)]
    for k in doomed:
        ctx.put(store, k, None)
    return len(doomed)


class TableSourceNode(Node):
    """Materializes the latest value per key (a None value deletes the row) and forwards changes."""

    kind = "KTABLE-SOURCE"

    def __init__(self, store: str) -> None:
        super().__init__()
        self.stores = (store,)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None:
            return
        if isinstance(value, Change):  # materializing a derived table
            value = value.new
        kb = enc(key)
        old = _load(ctx, self.stores[0], kb)
        vb = None if value is None else enc(value)
        ctx.put(self.stores[0], kb, vb)
        if value is None and old is None and ctx.caches.of(self) is None:
            return
        _changed(ctx, self, kb, key, value, old, vb)


class AggregateNode(Node):
    kind = "KSTREAM-AGGREGATE"

    def __init__(self, store: str, adder: Adder) -> None:
        super().__init__()
        self.stores = (store,)
        self.adder = adder

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        kb = enc(key)
        old = _load(ctx, self.stores[0], kb)
        new = self.adder(key, value, old)
        vb = enc(new)
        ctx.put(self.stores[0], kb, vb)
        _changed(ctx, self, kb, key, new, old, vb)


class CountNode(AggregateNode):
    """``count()``: records per key. A record read from ``combined_topic`` (the repartition topic
    of ``group_by(...).count()``) with a ``kraft.count`` header stands for that many records
    (:class:`~.processors.CombiningSinkNode`); any other record counts one."""

    def __init__(self, store: str, combined_topic: str | None = None) -> None:
        super().__init__(store, _count_one)
        self.combined_topic = combined_topic

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        n = 1
        if ctx.headers and ctx.topic == self.combined_topic:
            for name, raw in ctx.headers:
                if name == COUNT_HEADER:
                    n = int.from_bytes(raw, "big")
        kb = enc(key)
        old = _load(ctx, self.stores[0], kb)
        new = n if old is None else old + n
        vb = enc(new)
        ctx.put(self.stores[0], kb, vb)
        _changed(ctx, self, kb, key, new, old, vb)


def _count_one(_key: Any, _value: Any, aggregate: Any) -> Any:
    return 1 if aggregate is None else aggregate + 1


class TableGroupByNode(Node):
    """``KTable.group_by``: re-keys each table change with ``fn(key, value) -> (key, value)`` and
    forwards ``[new, old]`` pairs (to a repartition topic): a row moving to another group is a
    subtraction from the old group and an addition to the new one."""

    kind = "KTABLE-SELECT"

    def __init__(self, fn: Callable[[Any, Any], tuple[Any, Any]]) -> None:
        super().__init__()
        self.fn = fn

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        change = value if isinstance(value, Change) else Change(value, None)
        new = self.fn(key, change.new) if change.new is not None else None
        old = self.fn(key, change.old) if change.old is not None else None
        if new is not None and old is not None and new[0] == old[0]:
            ctx.forward(self, new[0], [new[1], old[1]])
            return
        if old is not None:
            ctx.forward(self, old[0], [None, old[1]])
        if new is not None:
            ctx.forward(self, new[0], [new[1], None])


class TableAggregateNode(Node):
    """Aggregates of a grouped table: ``subtractor`` takes a row's old value out of its group's
    aggregate, ``adder`` puts its new value in (``[new, old]`` pairs from TableGroupByNode)."""

    kind = "KTABLE-AGGREGATE"

    def __init__(self, store: str, adder: Adder, subtractor: Adder) -> None:
        super().__init__()
        self.stores = (store,)
        self.adder = adder
        self.subtractor = subtractor

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None:
            return
        new_value, old_value = value
        kb = enc(key)
        old = _load(ctx, self.stores[0], kb)
        agg = old
        if old_value is not None and agg is not None:
            agg = self.subtractor(key, old_value, agg)
        if new_value is not None:
            agg = self.adder(key, new_value, agg)
        vb = None if agg is None else enc(agg)
        ctx.put(self.stores[0], kb, vb)
        _changed(ctx, self, kb, key, agg, old, vb)


class WindowedAggregateNode(Node):
    """Tumbling and hopping windows: one aggregate per (key, window start)."""

    kind = "KSTREAM-WINDOW-AGGREGATE"

    def __init__(self, store: str, windows: TimeWindows, adder: Adder, retention_ms: int) -> None:
        super().__init__()
        self.stores = (store,)
        self.windows = windows
        self.adder = adder
        self.retention_ms = retention_ms

    def purge(self, ctx: TaskContext) -> int:
        """Delete windows that ended more than ``retention_ms`` of stream time ago."""
        cutoff = ctx.stream_time - self.retention_ms
        return _purge(ctx, self.stores[0], lambda k: unpack_time(k, len(k) - 8) + self.windows.size_ms < cutoff)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        ts = ctx.timestamp
        close = ctx.stream_time - self.windows.grace_ms
        kb = enc(key)
        for start in self.windows.window_starts(ts):
            end = start + self.windows.size_ms
            if end <= close:
                ctx.record_late(f"window [{start}, {end}) of {key!r} closed at stream time {ctx.stream_time}")
                continue
            wk = window_key(kb, start)
            old = _load(ctx, self.stores[0], wk)
            new = self.adder(key, value, old)
            vb = enc(new)
            ctx.put(self.stores[0], wk, vb)
            _changed(ctx, self, wk, Windowed(key, start, end), new, old, vb)


class SlidingAggregateNode(Node):
    """Kafka's sliding windows: the windows [s, s + d] (inclusive) whose set of records differs,
    i.e. ending at a record or starting just after one; a record earlier than d is in [0, d]
    instead of a window starting before 0 (Kafka's early records). Keeps each key's raw records (a store
    keyed by key, time) and recomputes every window the new record touches from them."""

    kind = "KSTREAM-SLIDING-AGGREGATE"

    def __init__(self, store: str, records_store: str, windows: SlidingWindows, adder: Adder,
                 retention_ms: int) -> None:
        super().__init__()
        self.stores = (store, records_store)
        self.windows = windows
        self.adder = adder
        self.retention_ms = retention_ms

    def purge(self, ctx: TaskContext) -> int:
        """Delete windows past retention, and raw records no open window can contain any more."""
        diff = self.windows.time_difference_ms
        cutoff = ctx.stream_time - self.retention_ms
        done = _purge(ctx, self.stores[0], lambda k: unpack_time(k, len(k) - 8) + diff < cutoff)
        horizon = ctx.stream_time - self.windows.grace_ms - 2 * diff - 1
        return done + _purge(ctx, self.stores[1], lambda k: unpack_time(k, len(k) - JOIN_SUFFIX_BYTES) < horizon)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        ts, diff = ctx.timestamp, self.windows.time_difference_ms
        close = ctx.stream_time - self.windows.grace_ms
        if ts + diff + 1 <= close:  # its window and its right neighbour [ts + 1, ts + 1 + d] closed
            ctx.record_late(f"every sliding window of {key!r} around {ts} closed at stream time {ctx.stream_time}")
            return
        store, records_store = self.stores
        kb = enc(key)
        ctx.put(records_store, join_key(kb, ts, *ctx.unique_id()), enc(value))
        lo, hi = max(0, ts - 2 * diff - 1), ts + 2 * diff + 2
        near = [(unpack_time(k, len(kb)), dec(v)) for k, v in ctx.range(records_store, kb + pack_time(lo),
                                                                         kb + pack_time(hi))]
        starts = {max(0, t - diff) for t, _ in near} | {t + 1 for t, _ in near}
        for start in sorted(s for s in starts if s <= ts <= s + diff or s == ts + 1):
            end = start + diff
            if end <= close:
                continue
            members = [v for t, v in near if start <= t <= end]
            if not members:
                continue
            agg = None
            for member in members:
                agg = self.adder(key, member, agg)
            wk = window_key(kb, start)
            old = _load(ctx, store, wk)
            if old == agg and old is not None:
                continue
            ctx.put(store, wk, enc(agg))
            ctx.forward(self, Windowed(key, start, end), Change(agg, old))


class SessionAggregateNode(Node):
    """Session windows: a record joins (and merges) every session of its key that ends no more
    than ``gap_ms`` before it or starts no more than ``gap_ms`` after it. Merged-away sessions are
    forwarded as deletions, then the merged session."""

    kind = "KSTREAM-SESSION-AGGREGATE"

    def __init__(self, store: str, windows: SessionWindows, adder: Adder, merger: Merger,
                 retention_ms: int) -> None:
        super().__init__()
        self.stores = (store,)
        self.windows = windows
        self.adder = adder
        self.merger = merger
        self.retention_ms = retention_ms

    def purge(self, ctx: TaskContext) -> int:
        cutoff = ctx.stream_time - self.retention_ms
        return _purge(ctx, self.stores[0], lambda k: unpack_time(k, len(k) - 16) < cutoff)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        ts, gap = ctx.timestamp, self.windows.gap_ms
        close = ctx.stream_time - self.windows.grace_ms
        store = self.stores[0]
        kb = enc(key)
        start, end, agg = ts, ts, None
        merged: list[tuple[bytes, Windowed, Any]] = []
        for sk, raw in ctx.range(store, kb + pack_time(max(0, ts - gap)), prefix_end(kb)):
            s_end, s_start = unpack_time(sk, len(kb)), unpack_time(sk, len(kb) + 8)
            if s_start > ts + gap:
                continue
            old = dec(raw)
            agg = old if agg is None else self.merger(key, agg, old)
            start, end = min(start, s_start), max(end, s_end)
            merged.append((sk, Windowed(key, s_start, s_end), old))
        if end < close:
            ctx.record_late(f"session [{start}, {end}] of {key!r} closed at stream time {ctx.stream_time}")
            return
        agg = self.adder(key, value, agg)
        for sk, window, old in merged:
            ctx.put(store, sk, None)
            ctx.forward(self, window, Change(None, old))
        ctx.put(store, session_key(kb, start, end), enc(agg))
        ctx.forward(self, Windowed(key, start, end), Change(agg, None))


class SuppressNode(Node):
    """``suppress(until_window_closes)``: buffers the latest result of each window and forwards it
    once, when stream time reaches the window's end plus grace. The buffer is a store (key: window
    end, then the windowed key), so it is changelogged and ordered by the time it is due."""

    kind = "KTABLE-SUPPRESS"

    def __init__(self, store: str, grace_ms: int, session: bool = False) -> None:
        """``session``: a session's end is inclusive and it closes only once stream time passes
        end + grace (a time window [start, end) closes when stream time reaches end + grace), so
        its final result is due one millisecond later."""
        super().__init__()
        self.stores = (store,)
        self.grace_ms = grace_ms + 1 if session else grace_ms

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if not isinstance(key, Windowed):
            raise TypeError("suppress(until_window_closes) needs a windowed table")
        store = self.stores[0]
        bk = pack_time(key.end_ms) + enc([key.key, key.start_ms, key.end_ms])
        new = value.new if isinstance(value, Change) else value
        if new is None:
            ctx.put(store, bk, None)
        elif key.end_ms > ctx.stream_time - self.grace_ms:
            ctx.put(store, bk, enc([new, ctx.timestamp]))
        # else: the window closed before this update reached us; the aggregation drops such records.
        self.emit_closed(ctx)

    def emit_closed(self, ctx: TaskContext) -> None:
        store = self.stores[0]
        due = ctx.stream_time - self.grace_ms
        if due < 0:
            return
        for bk, raw in ctx.range(self.stores[0], pack_time(0), pack_time(due + 1)):
            k, start, end = dec(bk[8:])
            new, ts = dec(raw)
            ctx.put(store, bk, None)
            ctx.forward(self, Windowed(k, start, end), Change(new, None), timestamp=ts)
