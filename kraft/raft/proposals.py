"""The queue of a group's proposals between the threads that submit them and the driver thread.

Owns: ``ProposalQueue``, which replaces pysyncobj's ``FastQueue`` in every ``RaftGroup``. pysyncobj's
takes a ``threading.Lock`` around each put and get; the driver thread could be switched out (the GIL)
while holding it, and a submitting thread then waited for the lock and the GIL in turn: a
proposal's ``put_nowait`` took 0.37 ms on average in a node's asyncio thread under librdkafka's
producer (cProfile, BENCHMARKS.md). A ``deque``'s ``append`` and ``popleft`` are each atomic in
CPython, which is all one producer side and one consumer side need. The size bound is checked
without a lock, so it may be passed by the puts racing at it: it is a backstop, not an exact limit.
Must not: know what a proposal holds.
"""

from __future__ import annotations

import queue
from collections import deque
from typing import Any


class ProposalQueue:
    """pysyncobj's queue interface (``put_nowait``, ``get_nowait``), without a lock."""

    __slots__ = ("items", "max_size")

    def __init__(self, max_size: int) -> None:
        self.items: deque[Any] = deque()
        self.max_size = max_size

    def put_nowait(self, item: Any) -> None:
        if self.max_size > 0 and len(self.items) >= self.max_size:
            raise queue.Full
        self.items.append(item)

    def get_nowait(self) -> Any:
        try:
            return self.items.popleft()
        except IndexError:
            raise queue.Empty from None

    def __len__(self) -> int:
        return len(self.items)
