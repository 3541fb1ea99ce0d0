"""Join nodes: stream-table, table-table and windowed stream-stream (inner, left, outer).

Both inputs of a join are in one task (co-partitioned topics, same partition number), so a join
is a lookup in the other side's store. Stream-stream joins follow Kafka Streams 3.1+: a record
that found no partner is emitted with None for the other side only once its join window has
closed (stream time beyond its time + window + grace), never eagerly, so a partner arriving late
but in time gives the joined result alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .keys import JOIN_SUFFIX_BYTES, dec, enc, join_key, pack_time, unpack_time
from .processors import Change, Node
from .windows import JoinWindows

if TYPE_CHECKING:
    from .task import TaskContext

Joiner = Callable[[Any, Any], Any]
INNER, LEFT, OUTER = "inner", "left", "outer"
_SIDE = {"left": b"L", "right": b"R"}


class StreamTableJoinNode(Node):
    kind = "KSTREAM-TABLE-JOIN"
    requires_copartition = True

    def __init__(self, table_store: str, joiner: Joiner, how: str) -> None:
        super().__init__()
        self.stores = (table_store,)
        self.joiner = joiner
        self.how = how

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        raw = ctx.get(self.stores[0], enc(key))
        other = None if raw is None else dec(raw)
        if other is None and self.how == INNER:
            return
        ctx.forward(self, key, self.joiner(value, other))


class TableTableJoinNode(Node):
    """One side of a table-table join: a change on this side is joined with the other side's
    current row; the result is a table change (new and old joined values)."""

    kind = "KTABLE-JOIN"
    requires_copartition = True

    def __init__(self, side: str, other_store: str, joiner: Joiner, how: str) -> None:
        super().__init__()
        self.side = side
        self.stores = (other_store,)
        self.joiner = joiner
        self.how = how

    def _join(self, this: Any, other: Any) -> Any:
        left, right = (this, other) if self.side == "left" else (other, this)
        if left is None and right is None:
            return None
        if (self.how == INNER and (left is None or right is None)) or (self.how == LEFT and left is None):
            return None
        return self.joiner(left, right)

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None:
            return
        raw = ctx.get(self.stores[0], enc(key))
        other = None if raw is None else dec(raw)
        change = value if isinstance(value, Change) else Change(value, None)
        new, old = self._join(change.new, other), self._join(change.old, other)
        if new is None and old is None:
            return
        ctx.forward(self, key, Change(new, old))


class StreamStreamJoinNode(Node):
    """One side of a windowed stream-stream join. ``stores`` = (this side's records, the other
    side's records, the shared store of records still waiting for a partner)."""

    kind = "KSTREAM-JOIN"
    requires_copartition = True

    def __init__(self, side: str, this_store: str, other_store: str, pending_store: str,
                 windows: JoinWindows, joiner: Joiner, how: str) -> None:
        super().__init__()
        self.side = side
        self.stores = (this_store, other_store, pending_store)
        self.windows = windows
        self.joiner = joiner
        self.how = how
        # Other side's records matching a record at t: [t - look_back, t + look_ahead].
        w = windows
        self.look_back, self.look_ahead = (w.before_ms, w.after_ms) if side == "left" else (w.after_ms, w.before_ms)

    def purge(self, ctx: TaskContext) -> int:
        """Delete this side's records that no record arriving in time can join any more."""
        horizon = ctx.stream_time - self.windows.retention_ms
        doomed = [k for k, _ in ctx.range(self.stores[0], b"", None)
                  if unpack_time(k, len(k) - JOIN_SUFFIX_BYTES) < horizon]
        for k in doomed:
            ctx.put(self.stores[0], k, None)
        return len(doomed)

    def _waits_for_partner(self, side: str) -> bool:
        return self.how == OUTER or (self.how == LEFT and side == "left")

    def _expiry(self, side: str, ts: int) -> int:
        # A record at ts can still be matched by a later record until stream time passes this.
        ahead = self.windows.after_ms if side == "left" else self.windows.before_ms
        return ts + ahead + self.windows.grace_ms

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        if key is None or value is None:
            return
        ts = ctx.timestamp
        this_store, other_store, pending_store = self.stores
        if self._expiry(self.side, ts) < ctx.stream_time:
            ctx.record_late(f"join window of {key!r} at {ts} closed at stream time {ctx.stream_time}")
            return
        kb = enc(key)
        this_key = join_key(kb, ts, *ctx.unique_id())
        ctx.put(this_store, this_key, enc(value))
        lo, hi = max(0, ts - self.look_back), ts + self.look_ahead
        other_side = "right" if self.side == "left" else "left"
        matched = False
        for other_key, raw in ctx.range(other_store, kb + pack_time(lo), kb + pack_time(hi + 1)):
            matched = True
            other_ts = unpack_time(other_key, len(kb))
            other = dec(raw)
            left, right = (value, other) if self.side == "left" else (other, value)
            ctx.forward(self, key, self.joiner(left, right), timestamp=max(ts, other_ts))
            if self._waits_for_partner(other_side):
                pk = pack_time(self._expiry(other_side, other_ts)) + _SIDE[other_side] + other_key
                if ctx.get(pending_store, pk) is not None:
                    ctx.put(pending_store, pk, None)
        if not matched and self._waits_for_partner(self.side):
            pk = pack_time(self._expiry(self.side, ts)) + _SIDE[self.side] + this_key
            ctx.put(pending_store, pk, enc([key, value, ts]))
        self.emit_expired(ctx)

    def emit_expired(self, ctx: TaskContext) -> None:
        pending_store = self.stores[2]
        if ctx.stream_time <= 0:
            return
        for pk, raw in ctx.range(pending_store, pack_time(0), pack_time(ctx.stream_time)):
            key, value, ts = dec(raw)
            joined = self.joiner(value, None) if pk[8:9] == b"L" else self.joiner(None, value)
            ctx.put(pending_store, pk, None)
            ctx.forward(self, key, joined, timestamp=ts)
