"""A node's own throughput history: a bounded ring of per-second samples of its counters.

Owns: ``Sample`` (cumulative counters at one moment: records and bytes in and out over every topic,
requests and request errors over both front ends), ``SampleRing`` (the last ``SAMPLES_MAX`` of
them, 15 minutes at one a second) and ``rates`` (per-second rates between neighbouring samples),
which the web console's charts draw without a Prometheus server. ``sample_of`` reads the counters
of ``NodeStats``; the node's asyncio loop, their writer, calls it once a second, so one sample is a
consistent read.
Must not: count anything itself (the hot paths count, ``kraft.node.stats``) or grow: the ring keeps
a fixed number of samples whatever runs.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass

from kraft.node.stats import NodeStats

SAMPLES_MAX = 900  # 15 minutes of one sample a second


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters of a node at ``time_ms`` (wall clock, ms)."""

    time_ms: int
    records_in: int
    records_out: int
    bytes_in: int
    bytes_out: int
    requests: int
    request_errors: int


@dataclass(frozen=True, slots=True)
class Rate:
    """Per-second rates over the interval ending at ``time_ms``."""

    time_ms: int
    records_in: float
    records_out: float
    bytes_in: float
    bytes_out: float
    requests: float
    request_errors: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


RATE_FIELDS = ("records_in", "records_out", "bytes_in", "bytes_out", "requests", "request_errors")


def sample_of(stats: NodeStats, time_ms: int) -> Sample:
    """The counters of ``stats`` now (call from their writer, the asyncio loop)."""
    topics = list(stats.traffic.topics.values())
    apis = list(stats.requests.apis.values())
    return Sample(
        time_ms=time_ms,
        records_in=sum(t.records_in for t in topics),
        records_out=sum(t.records_out for t in topics),
        bytes_in=sum(t.bytes_in for t in topics),
        bytes_out=sum(t.bytes_out for t in topics),
        requests=sum(a.requests for a in apis),
        request_errors=sum(sum(a.errors.values()) for a in apis),
    )


class SampleRing:
    """The last ``size`` samples; appended by one thread, read by any (a lock guards the copy)."""

    def __init__(self, size: int = SAMPLES_MAX) -> None:
        if size < 2:
            raise ValueError("a ring needs room for two samples to give a rate")
        self._samples: deque[Sample] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def rates(self, since_ms: int = 0) -> list[Rate]:
        return rates(self.samples(), since_ms)


def rates(samples: list[Sample], since_ms: int = 0) -> list[Rate]:
    """Per-second rates between neighbouring samples ending after ``since_ms``. A counter that went
    down (the node restarted under the same ring: it does not, but a reader must not draw a
    negative rate) gives 0 for that interval."""
    out = []
    for before, after in itertools.pairwise(samples):
        if after.time_ms <= since_ms:
            continue
        seconds = (after.time_ms - before.time_ms) / 1000
        if seconds <= 0:
            continue
        values = [max(0, getattr(after, f) - getattr(before, f)) / seconds for f in RATE_FIELDS]
        out.append(Rate(after.time_ms, *values))
    return out
