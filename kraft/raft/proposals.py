"""The queue of a group's proposals between the threads that submit them and the driver thread.

Owns: ``ProposalQueue``, which replaces pysyncobj's ``FastQueue`` in every ``RaftGroup``. pysyncobj's
takes a ``threading.Lock`` around each put and get; the driver thread could be switched out (the GIL)
while holding it, and a submitting thread then waited for the lock and the GIL in turn: a
proposal's ``put_nowait`` took 0.37 ms on average in a node's asyncio thread under librdkafka's
producer (cProfile, BENCHMARKS.md). A ``deque``'s ``append`` and ``popleft`` are each atomic in
CPython, which is all one producer side and one consumer side need. The size bound is checked
without a lock, so it may be passed by the puts racing at it: it is a backstop, not an exact limit.

Also owns when queued proposals become one entry: given a ``Joiner`` (the state machine's rule, which
knows what a proposal holds), the driver's take joins the proposals waiting behind the first that
the joiner accepts into one command, up to ``Joiner.max_bytes``, and its callback hands each
proposer its share of the entry's result. Under load a partition's produce requests queue while the
driver works, and one entry costs the three replicas the same whether it carries one batch or ten.
Proposals passed on by another replica (a tuple callback) are never joined.
Must not: know what a proposal holds.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Callback = Callable[[Any, int], None]  # pysyncobj's: (result, fail reason)


class Joiner(Protocol):
    max_bytes: int

    def enabled(self) -> bool:
        """Whether joined entries may be written now (every replica that could read them can)."""

    def joinable(self, command: bytes) -> bool:
        """Whether ``command`` may be joined with others."""

    def join(self, commands: Sequence[bytes]) -> tuple[bytes, Callable[[Any], list[Any]]]:
        """One command for ``commands`` (joinable, in order) and how its result splits into theirs."""


class ProposalQueue:
    """pysyncobj's queue interface (``put_nowait``, ``get_nowait``), without a lock."""

    __slots__ = ("items", "joiner", "max_size")

    def __init__(self, max_size: int, joiner: Joiner | None = None) -> None:
        self.items: deque[Any] = deque()
        self.max_size = max_size
        self.joiner = joiner

    def put_nowait(self, item: Any) -> None:
        if self.max_size > 0 and len(self.items) >= self.max_size:
            raise queue.Full
        self.items.append(item)

    def get_nowait(self) -> Any:
        """The next proposal: (command, callback), or several joined into one (the driver thread,
        the only taker: what it sees at the head stays there until it takes it)."""
        items = self.items
        try:
            item = items.popleft()
        except IndexError:
            raise queue.Empty from None
        joiner = self.joiner
        if joiner is None or not items or not _joins(joiner, item) or not _joins(joiner, items[0]):
            return item
        if not joiner.enabled():
            return item
        taken = [item]
        size = len(item[0])
        while items and _joins(joiner, items[0]) and size + len(items[0][0]) <= joiner.max_bytes:
            size += len(items[0][0])
            taken.append(items.popleft())
        if len(taken) == 1:
            return item
        command, split = joiner.join([command for command, _callback in taken])
        return command, _fan_out([callback for _command, callback in taken], split)

    def __len__(self) -> int:
        return len(self.items)


def _joins(joiner: Joiner, item: tuple[bytes, Any]) -> bool:
    command, callback = item
    return not isinstance(callback, tuple) and joiner.joinable(command)


def _fan_out(callbacks: list[Callback | None], split: Callable[[Any], list[Any]]) -> Callback:
    def callback(result: Any, reason: int) -> None:
        shares = [None] * len(callbacks) if result is None else split(result)
        for each, share in zip(callbacks, shares, strict=True):
            if each is not None:
                each(share, reason)

    return callback
