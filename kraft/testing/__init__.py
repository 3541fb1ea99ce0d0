"""Test helpers shipped with kraft, for its own tests and for users' tests of kraft clients."""

from __future__ import annotations

import time
from collections.abc import Callable

from .fake_node import FakeCluster
from .in_process import InProcessCluster


def wait_until(condition: Callable[[], object], timeout_s: float = 5.0, interval_s: float = 0.005) -> None:
    """Poll ``condition`` until it is truthy; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s} s")
        time.sleep(interval_s)


__all__ = ["FakeCluster", "InProcessCluster", "wait_until"]
