"""Read-only, typed views of state stores for interactive queries (``app.store(name)``).

A store is split over the tasks (partitions) an instance owns; a view asks each local task. In
the runtime the reads see the state as of each task's last commit (LMDB read transactions), from
any thread. Keys and values are Python objects (the stores hold them msgpack-encoded)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .keys import dec, enc, pack_time, prefix_end, unpack_time
from .windows import Windowed


class StoreView:
    def __init__(self, name: str, task_stores: Callable[[], list[Any]], window_size_ms: int | None = None) -> None:
        self.name = name
        self._task_stores = task_stores
        self._window_size_ms = window_size_ms

    def get(self, key: Any) -> Any:
        """The value of ``key`` (a key-value store: tables, plain aggregations), or None."""
        kb = enc(key)
        for stores in self._task_stores():
            raw = stores.read(self.name, kb)
            if raw is not None:
                return dec(raw)
        return None

    def all(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value) of a key-value store on this instance."""
        for stores in self._task_stores():
            for kb, raw in stores.read_range(self.name, b"", None):
                yield dec(kb), dec(raw)

    def fetch(self, key: Any, from_ms: int = 0, to_ms: int = 2**62) -> list[tuple[Windowed, Any]]:
        """Windows of ``key`` in a time-windowed store whose start is in [from_ms, to_ms], oldest
        first, as (Windowed, aggregate)."""
        kb = enc(key)
        out = []
        for stores in self._task_stores():
            for wk, raw in stores.read_range(self.name, kb + pack_time(max(0, from_ms)), kb + pack_time(to_ms + 1)):
                if len(wk) == len(kb) + 8:
                    start = unpack_time(wk, len(kb))
                    out.append((Windowed(key, start, start + (self._window_size_ms or 0)), dec(raw)))
        return sorted(out)

    def fetch_sessions(self, key: Any) -> list[tuple[Windowed, Any]]:
        """Every session of ``key`` in a session store, oldest end first."""
        kb = enc(key)
        out = []
        for stores in self._task_stores():
            for sk, raw in stores.read_range(self.name, kb, prefix_end(kb)):
                end, start = unpack_time(sk, len(kb)), unpack_time(sk, len(kb) + 8)
                out.append((Windowed(key, start, end), dec(raw)))
        return out
