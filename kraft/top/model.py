"""``kraft top``'s figures: what one refresh saw of the cluster and the rates between two refreshes.

Owns: ``Observation`` (one refresh: per node its labelled /metrics samples or why it could not be
read, the topics' descriptions and the groups' descriptions, with the time), ``Rows`` (the tables
the view draws: nodes, topics, partitions led and under-replicated partitions, groups) and
``rows_of``, which turns two observations into rows (counters become per-second rates; CPU time
becomes a share of one core).
Pure: no sockets or clocks (``kraft.top.collect`` gathers observations); the tests feed it tables.
Must not: draw anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kraft.apis.types import GroupDescription, NodeDescription, TopicDescription

Labels = tuple[tuple[str, str], ...]
Samples = Mapping[str, Mapping[Labels, float]]  # sample name -> sorted labels -> value


@dataclass(frozen=True, slots=True)
class NodeObservation:
    node: NodeDescription
    samples: Samples | None  # None: not scraped (no HTTP address, or it failed: ``error``)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    time_s: float  # monotonic
    nodes: Sequence[NodeObservation]
    topics: Sequence[TopicDescription]
    groups: Sequence[GroupDescription]
    controller: int | None = None
    error: str | None = None  # the cluster could not be described (the last rows are kept)


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: int
    address: str
    up: str  # "up", "down: why", "no HTTP address"
    cpu_percent: float | None
    memory_bytes: float | None
    requests_per_s: float | None
    partitions_led: int
    replicas: int
    controller: bool


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    partitions: int
    records_in_per_s: float | None
    records_out_per_s: float | None
    size_bytes: int
    under_replicated: int


@dataclass(frozen=True, slots=True)
class GroupRow:
    group_id: str
    state: str
    members: int
    lag: int
    partitions: int


@dataclass(frozen=True, slots=True)
class Rows:
    nodes: list[NodeRow] = field(default_factory=list)
    topics: list[TopicRow] = field(default_factory=list)
    under_replicated: list[tuple[str, int, int | None, str]] = field(default_factory=list)  # topic, p, leader, why
    groups: list[GroupRow] = field(default_factory=list)
    error: str | None = None


def _total(samples: Samples | None, name: str) -> float | None:
    if samples is None or name not in samples:
        return None
    return sum(samples[name].values())


def _by_topic(samples: Samples | None, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in (samples or {}).get(name, {}).items():
        topic = dict(labels).get("topic")
        if topic is not None:
            out[topic] = out.get(topic, 0.0) + value
    return out


def _up(n: NodeObservation) -> str:
    if n.samples is not None:
        return "up"
    return f"down: {n.error}" if n.error else "no HTTP address"


def _rate(now: float | None, before: float | None, seconds: float) -> float | None:
    if now is None or before is None or seconds <= 0:
        return None
    return max(0.0, now - before) / seconds


def rows_of(now: Observation, before: Observation | None) -> Rows:
    """The tables of ``now``; rates against ``before`` (None on the first refresh: no rates yet)."""
    seconds = now.time_s - before.time_s if before is not None else 0.0
    earlier = {n.node.node_id: n.samples for n in before.nodes} if before is not None else {}
    led: dict[int, int] = {}
    hosted: dict[int, int] = {}
    for t in now.topics:
        for p in t.partitions:
            if p.leader is not None:
                led[p.leader] = led.get(p.leader, 0) + 1
            for r in p.replicas:
                hosted[r] = hosted.get(r, 0) + 1
    nodes = []
    for n in now.nodes:
        then = earlier.get(n.node.node_id)
        cpu = _rate(_total(n.samples, "process_cpu_seconds_total"), _total(then, "process_cpu_seconds_total"),
                    seconds)
        nodes.append(NodeRow(
            n.node.node_id, f"{n.node.host}:{n.node.port}", _up(n), None if cpu is None else cpu * 100,
            _total(n.samples, "process_resident_memory_bytes"),
            _rate(_total(n.samples, "kraft_requests_total"), _total(then, "kraft_requests_total"), seconds),
            led.get(n.node.node_id, 0), hosted.get(n.node.node_id, 0), n.node.node_id == now.controller))
    topics = []
    for t in now.topics:
        rates = [_topic_rate(now, earlier, t.name, name, seconds)
                 for name in ("kraft_topic_records_in_total", "kraft_topic_records_out_total")]
        topics.append(TopicRow(t.name, len(t.partitions), rates[0], rates[1],
                               sum(p.size_bytes or 0 for p in t.partitions),
                               sum(1 for p in t.partitions if p.under_replicated)))
    under = [(t.name, p.partition, p.leader, "; ".join(f"{r}: {s}" for r, s in sorted(p.replica_states.items()))
              or ("no leader" if p.leader is None else "replica states unknown"))
             for t in now.topics for p in t.partitions if p.under_replicated]
    groups = [GroupRow(g.group_id, g.state, len(g.members), sum(o.lag or 0 for o in g.offsets),
                       len(g.offsets)) for g in now.groups]
    return Rows(nodes, topics, under, groups, now.error)


def _topic_rate(now: Observation, earlier: Mapping[int, Samples | None], topic: str, name: str,
                seconds: float) -> float | None:
    """The cluster's rate of ``name`` for ``topic``: the sum over nodes scraped both times."""
    total = None
    for n in now.nodes:
        then = earlier.get(n.node.node_id)
        if n.samples is None or then is None:
            continue
        rate = _rate(_by_topic(n.samples, name).get(topic, 0.0), _by_topic(then, name).get(topic, 0.0), seconds)
        if rate is not None:
            total = (total or 0.0) + rate
    return total


# --- sorting ----------------------------------------------------------------------------------------
SORTS: dict[str, tuple[str, ...]] = {
    "nodes": ("node", "cpu", "memory", "requests", "led"),
    "topics": ("name", "in", "out", "size", "under"),
    "partitions": ("topic", "leader"),
    "groups": ("name", "lag", "members"),
}


def sort_key(view: str, column: str) -> Callable[[Any], Any]:
    """A key function for ``view``'s rows by ``column`` (None sorts as the smallest). Rows of a
    view differ in type, so the key takes Any; each entry below knows its view's row type."""
    def num(v: float | None) -> float:
        return float("-inf") if v is None else v

    keys: dict[tuple[str, str], Callable[[Any], Any]] = {
        ("nodes", "node"): lambda r: r.node_id, ("nodes", "cpu"): lambda r: num(r.cpu_percent),
        ("nodes", "memory"): lambda r: num(r.memory_bytes), ("nodes", "requests"): lambda r: num(r.requests_per_s),
        ("nodes", "led"): lambda r: r.partitions_led,
        ("topics", "name"): lambda r: r.name, ("topics", "in"): lambda r: num(r.records_in_per_s),
        ("topics", "out"): lambda r: num(r.records_out_per_s), ("topics", "size"): lambda r: r.size_bytes,
        ("topics", "under"): lambda r: r.under_replicated,
        ("partitions", "topic"): lambda r: (r[0], r[1]), ("partitions", "leader"): lambda r: num(r[2]),
        ("groups", "name"): lambda r: r.group_id, ("groups", "lag"): lambda r: r.lag,
        ("groups", "members"): lambda r: r.members,
    }
    return keys[(view, column)]
