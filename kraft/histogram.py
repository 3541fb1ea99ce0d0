"""A fixed-bucket histogram a hot path can afford, with the bucket bounds kraft uses.

Owns: ``Histogram`` (one writing thread, no lock: ``observe`` is a bisect and two increments; readers
on other threads take ``cumulative()``, whose count is the sum of its buckets so the two never
disagree) and the bucket tables. Must not: know the Prometheus format (``kraft.node.metrics``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Latencies in seconds: 0.5 ms to 30 s (a request may wait up to fetch_max_wait_ms_max / request_timeout_ms).
LATENCY_BUCKETS_S: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1.0, 2.5, 5.0, 10.0, 30.0)
# fsync/commit durations: finer at the low end (an SSD's fsync is well under a millisecond).
FSYNC_BUCKETS_S: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1.0)
# Request and answer sizes in bytes: 128 B to 64 MiB, by powers of 4.
SIZE_BUCKETS_BYTES: tuple[float, ...] = tuple(float(128 * 4 ** i) for i in range(10))
# Journal entries appended per store commit (group commit: how many writes share one fsync).
APPENDS_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    """Fixed buckets (upper bounds, inclusive as Prometheus' ``le``) plus the overflow bucket."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"histogram bounds must increase: {bounds}")
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> tuple[list[tuple[str, int]], int, float]:
        """``([(le, count <= le), ..., ("+Inf", count)], count, sum)`` from one copy of the counts."""
        counts = list(self.counts)  # one copy (a C-level list copy: no update lands half way)
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip(self.bounds, counts, strict=False):
            running += n
            out.append((_le(bound), running))
        total = running + counts[-1]
        out.append(("+Inf", total))
        return out, total, self.sum


def _le(bound: float) -> str:
    return repr(bound) if bound != int(bound) else f"{int(bound)}.0"
