"""The Processor API, minimal: ``stream.process(supplier, stores=[...])`` runs user code per
record with access to named key-value stores (LMDB, changelogged and restored like the DSL's).

``supplier()`` makes one processor per task (so instance attributes are per partition); a
processor is any object with ``process(ctx, key, value)`` and optionally ``init(ctx)``. The
context forwards records downstream, gives the stores, and schedules *punctuators*: callbacks
every ``interval_ms`` of stream time (driven by record timestamps) or of wall-clock time (called
by the runtime's loop; the test driver has ``advance_wall_clock``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .keys import dec, enc, prefix_end
from .processors import Node

if TYPE_CHECKING:
    from .task import TaskContext


class Processor(Protocol):
    def process(self, ctx: ProcessorContext, key: Any, value: Any) -> None: ...


class KeyValueStore:
    """A typed view of one store inside a processor; writes are changelogged at commit."""

    def __init__(self, ctx: TaskContext, name: str) -> None:
        self._ctx = ctx
        self.name = name

    def get(self, key: Any) -> Any:
        raw = self._ctx.get(self.name, enc(key))
        return None if raw is None else dec(raw)

    def put(self, key: Any, value: Any) -> None:
        """Store ``value`` under ``key``; None deletes."""
        self._ctx.put(self.name, enc(key), None if value is None else enc(value))

    def delete(self, key: Any) -> Any:
        old = self.get(key)
        if old is not None:
            self.put(key, None)
        return old

    def all(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value), in the byte order of the encoded keys."""
        for kb, raw in self._ctx.range(self.name, b"", None):
            yield dec(kb), dec(raw)

    def prefix(self, key_prefix: bytes) -> Iterator[tuple[Any, Any]]:
        """Entries whose *encoded* key starts with ``key_prefix``."""
        for kb, raw in self._ctx.range(self.name, key_prefix, prefix_end(key_prefix)):
            yield dec(kb), dec(raw)


class ProcessorContext:
    """What a user processor sees: the current record's metadata, stores, and ``forward``."""

    def __init__(self, node: Node, ctx: TaskContext, stores: tuple[str, ...]) -> None:
        self._node = node
        self._ctx = ctx
        self._stores = {name: KeyValueStore(ctx, name) for name in stores}

    @property
    def timestamp(self) -> int:
        return self._ctx.timestamp

    @property
    def stream_time(self) -> int:
        return self._ctx.stream_time

    @property
    def topic(self) -> str:
        return self._ctx.topic

    @property
    def partition(self) -> int:
        return self._ctx.partition

    @property
    def offset(self) -> int:
        return self._ctx.offset

    def store(self, name: str) -> KeyValueStore:
        try:
            return self._stores[name]
        except KeyError:
            raise KeyError(f"store {name!r} is not connected to this processor (process(stores=[...]))") from None

    def forward(self, key: Any, value: Any, timestamp: int | None = None) -> None:
        self._ctx.forward(self._node, key, value, timestamp)

    def schedule(self, interval_ms: int, kind: str, callback: Callable[[int], object]) -> None:
        """Call ``callback(time_ms)`` every ``interval_ms`` of ``kind`` = "stream_time" or
        "wall_clock" time, on the processing thread, with this context usable (forward, stores)."""
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        if kind not in ("stream_time", "wall_clock"):
            raise ValueError(f"kind must be 'stream_time' or 'wall_clock', got {kind!r}")
        now = self._ctx.wall_clock_ms() if kind == "wall_clock" else max(0, self._ctx.stream_time)
        self._ctx.schedule(Punctuation(kind, interval_ms, callback, now + interval_ms))


class Punctuation:
    def __init__(self, kind: str, interval_ms: int, callback: Callable[[int], object], due_ms: int) -> None:
        self.kind = kind
        self.interval_ms = interval_ms
        self.callback = callback
        self.due_ms = due_ms

    def maybe_fire(self, now_ms: int) -> bool:
        if now_ms < self.due_ms:
            return False
        # Missed intervals are not replayed one by one: one call, then the next after now.
        self.due_ms = now_ms + self.interval_ms - (now_ms - self.due_ms) % self.interval_ms
        self.callback(now_ms)
        return True


class CustomProcessorNode(Node):
    kind = "KSTREAM-PROCESSOR"

    def __init__(self, supplier: Callable[[], Processor], stores: tuple[str, ...]) -> None:
        super().__init__()
        self.supplier = supplier
        self.stores = stores
        # One processor per task; tasks are identified by their context object.
        self._instances: dict[int, tuple[Processor, ProcessorContext]] = {}

    def process(self, ctx: TaskContext, key: Any, value: Any) -> None:
        entry = self._instances.get(id(ctx))
        if entry is None:
            processor = self.supplier()
            pctx = ProcessorContext(self, ctx, self.stores)
            entry = self._instances[id(ctx)] = (processor, pctx)
            init = getattr(processor, "init", None)
            if init is not None:
                init(pctx)
        entry[0].process(entry[1], key, value)

    def forget(self, ctx: TaskContext) -> None:
        """The task closed: its processor goes (a reopened task gets a fresh one)."""
        self._instances.pop(id(ctx), None)
