"""The clock the Raft layer and the node read: injected, so a simulation can run on simulated time.

Owns: the ``Clock`` protocol (monotonic seconds), the real one, and pointing pysyncobj at the clock in
use. pysyncobj reads time through one module-level function (``pysyncobj.syncobj.monotonicTime``), so
one clock serves every group of a process: the node installs the real clock at start, the simulator
installs its own.
Must not: sleep or wait (callers decide how to wait for a deadline).
"""

from __future__ import annotations

import time
from typing import Protocol

import pysyncobj.syncobj as _pso


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...


class MonotonicClock:
    """The process's monotonic clock (the one every deadline in the node compares against)."""

    def now(self) -> float:
        return time.monotonic()


MONOTONIC = MonotonicClock()
_installed: Clock = MONOTONIC


def install(clock: Clock) -> None:
    """Make pysyncobj's timers (elections, heartbeats, leader step-down) read ``clock``."""
    global _installed
    _installed = clock
    _pso.monotonicTime = clock.now


def installed() -> Clock:
    return _installed


install(MONOTONIC)
