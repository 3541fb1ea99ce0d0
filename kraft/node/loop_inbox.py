"""LoopInbox: calls from other threads (the Raft driver) onto an asyncio loop, one wake-up per burst.

Owns: a list of pending calls and whether the loop has been asked to run them. ``post`` from any
thread appends a call; only the first call posted since the loop last drained wakes the loop
(``call_soon_threadsafe``: a write to the loop's self-pipe, a syscall and a wake-up of the loop), so
the hundreds of outcomes one driver iteration settles cost one wake-up, not one each.
Must not: run a call on the posting thread, or reorder calls (they run in the order posted).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LoopInbox:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[[Any], None], Any]] = []
        self._scheduled = False

    def post(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Run ``fn(arg)`` on the loop soon (any thread)."""
        with self._lock:
            self._calls.append((fn, arg))
            if self._scheduled:
                return  # the drain already asked for runs this call too
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed (the node stops): nobody waits for the outcome
            with self._lock:
                self._calls.clear()
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
            self._scheduled = False
        for fn, arg in calls:
            try:
                fn(arg)
            except Exception:  # one failed settlement must not drop the others
                log.exception("a call posted to the loop failed")
