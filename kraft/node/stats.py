"""What a node counts as it works: the recorders its hot paths touch, read by ``kraft.node.metrics`` at
scrape time.

Owns: plain counters and ``kraft.histogram`` histograms, grouped by who writes them:
``RequestStats`` (both front ends, per API), ``TopicTraffic`` (the broker: bytes and records in and
out per topic), and ``NodeStats`` holding them with the Raft layer's ``kraft.raft.stats.RaftStats``.
Each recorder has one writing thread (the asyncio loop, or the Raft driver),
so an update is an attribute increment without a lock; the scrape reads from another thread, and a
read racing a write sees either value (a histogram's ``count`` is the sum of its bucket counts, so
it never disagrees with them).
Must not: know the Prometheus format (``kraft.node.metrics`` does), or be updated per record: a
request, a produced batch, a fetch answer or a store commit is the unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kraft.histogram import LATENCY_BUCKETS_S, SIZE_BUCKETS_BYTES, Histogram
from kraft.raft.stats import RaftStats

FRONT_ENDS = ("kraft", "kafka")


@dataclass(slots=True)
class ApiStats:
    """One API of one front end."""

    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error name (kraft.errors) -> count
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))
    # Kafka front end: requests by API version (which versions clients actually negotiate)
    versions: dict[int, int] = field(default_factory=dict)


class RequestStats:
    """Requests of both front ends (asyncio loop only): count, errors by code and latency per API,
    produce request and fetch answer sizes, open connections and requests in flight."""

    def __init__(self) -> None:
        self.apis: dict[tuple[str, str], ApiStats] = {}
        self.sizes: dict[tuple[str, str], Histogram] = {}  # (front end, "produce" | "fetch") -> bytes
        self.in_flight = dict.fromkeys(FRONT_ENDS, 0)
        self.connections = dict.fromkeys(FRONT_ENDS, 0)
        self.connections_accepted = dict.fromkeys(FRONT_ENDS, 0)
        self.connections_refused = dict.fromkeys(FRONT_ENDS, 0)

    def api(self, front_end: str, api: str) -> ApiStats:
        key = (front_end, api)
        found = self.apis.get(key)
        if found is None:
            found = self.apis[key] = ApiStats()
        return found

    def started(self, front_end: str) -> None:
        self.in_flight[front_end] += 1

    def finished(self, front_end: str, api: str, seconds: float, error: str | None, version: int | None = None) -> None:
        """One request answered (or failed with ``error``, a kraft error name); ``version``: the
        Kafka API version it was asked in."""
        self.in_flight[front_end] -= 1
        stats = self.api(front_end, api)
        stats.requests += 1
        if version is not None:
            stats.versions[version] = stats.versions.get(version, 0) + 1
        stats.latency.observe(seconds)
        if error is not None:
            stats.errors[error] = stats.errors.get(error, 0) + 1

    def abandoned(self, front_end: str) -> None:
        """A request that will not be answered (its connection closed, or the node stops)."""
        self.in_flight[front_end] -= 1

    def size(self, front_end: str, kind: str, n_bytes: int) -> None:
        """A produce request's or a fetch answer's size in bytes (``kind``: produce | fetch)."""
        key = (front_end, kind)
        hist = self.sizes.get(key)
        if hist is None:
            hist = self.sizes[key] = Histogram(SIZE_BUCKETS_BYTES)
        hist.observe(n_bytes)


@dataclass(slots=True)
class TopicCounts:
    bytes_in: int = 0
    records_in: int = 0
    bytes_out: int = 0
    records_out: int = 0


class TopicTraffic:
    """Bytes and records produced to and fetched from each topic by clients (asyncio loop only; one
    update per produced batch and per fetched partition)."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicCounts] = {}

    def _of(self, topic: str) -> TopicCounts:
        found = self.topics.get(topic)
        if found is None:
            found = self.topics[topic] = TopicCounts()
        return found

    def produced(self, topic: str, n_bytes: int, records: int) -> None:
        counts = self._of(topic)
        counts.bytes_in += n_bytes
        counts.records_in += records

    def fetched(self, topic: str, n_bytes: int, records: int) -> None:
        counts = self._of(topic)
        counts.bytes_out += n_bytes
        counts.records_out += records


@dataclass(slots=True)
class NodeStats:
    """Everything a node records as it works (one per node)."""

    requests: RequestStats = field(default_factory=RequestStats)
    traffic: TopicTraffic = field(default_factory=TopicTraffic)
    raft: RaftStats = field(default_factory=RaftStats)
