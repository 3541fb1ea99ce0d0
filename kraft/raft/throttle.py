"""Pacing of replication to replicas that are catching up as learners: one token bucket per node,
shared by every partition group the node leads (``reassignment_throttle_bytes_per_s``).

Owns: the rate, the bucket (at most ``BURST_S`` of the rate saved up while idle), and the counts of
what went through it: bytes sent, and how often a send was held back for want of tokens.
Rules: a send may start whenever the bucket is not in debt, and then spends its whole size, so the
bucket may go below zero (one AppendEntries or snapshot part larger than the bucket still goes,
later sends wait until the debt is repaid): the long-run rate holds, and no message size can stall
a learner for good. Rate 0 switches the bucket off (every send may start, nothing is counted as
held back).
Must not: read clocks, sockets or storage (``now`` comes in as an argument), or decide who is
throttled: ``raft.group`` brings only its learners' entry and snapshot bytes here, never a voter's
(producers' acknowledgements wait for voters), and throttling only delays sends, so Raft's safety
never depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

BURST_S = 0.2  # tokens saved up while nothing is sent: two driver ticks of the default 100 ms
UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class ThrottleStats:
    """What the bucket let through since the node started (node status shows it)."""

    bytes_per_s: int  # 0: off
    sent_bytes: int  # entry and snapshot bytes sent to learners through the bucket
    held: int  # times a send to a learner waited for tokens


class LearnerThrottle:
    """A token bucket in bytes; ``allowance`` before a send, ``spend`` after it."""

    def __init__(self, bytes_per_s: int) -> None:
        if bytes_per_s < 0:
            raise ValueError(f"bytes_per_s must be >= 0, not {bytes_per_s}")
        self.bytes_per_s = bytes_per_s
        self.capacity = max(1.0, bytes_per_s * BURST_S)
        self._tokens = self.capacity
        self._refilled_at: float | None = None
        self.sent_bytes = 0
        self.held = 0

    @property
    def enabled(self) -> bool:
        return self.bytes_per_s > 0

    def _refill(self, now: float) -> None:
        if self._refilled_at is not None and now > self._refilled_at:
            self._tokens = min(self.capacity, self._tokens + (now - self._refilled_at) * self.bytes_per_s)
        if self._refilled_at is None or now > self._refilled_at:
            self._refilled_at = now  # a clock that steps back is ignored until it passes us again

    def allowance(self, now: float) -> int:
        """Bytes a send may carry now (at least 1 unless the bucket is in debt; 0: hold it back).
        The caller sends at least one whole entry or part once this is positive, then ``spend``s."""
        if not self.enabled:
            return UNLIMITED
        self._refill(now)
        if self._tokens <= 0:
            self.held += 1
            return 0
        return max(1, int(self._tokens))

    def spend(self, nbytes: int) -> None:
        """``nbytes`` were sent to a learner (the bucket may go into debt)."""
        self.sent_bytes += nbytes
        if self.enabled:
            self._tokens -= nbytes

    def stats(self) -> ThrottleStats:
        return ThrottleStats(self.bytes_per_s, self.sent_bytes, self.held)
