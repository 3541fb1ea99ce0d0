"""Test helpers shipped with kraft, for its own tests and for users' tests of kraft clients.

``InProcessCluster`` (kraft.testing.in_process): real nodes in this process over in-memory Raft and
storage, each serving the native protocol on its own 127.0.0.1 port. ``local_cluster``: real node
processes (kraft's cluster tests and benchmarks).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .in_process import InProcessCluster

FakeCluster = InProcessCluster  # its former name (it was a hand-written fake; it is the real node now)


def wait_until(condition: Callable[[], object], timeout_s: float = 5.0, interval_s: float = 0.005) -> None:
    """Poll ``condition`` until it is truthy; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s} s")
        time.sleep(interval_s)


__all__ = ["FakeCluster", "InProcessCluster", "wait_until"]
