"""The topics an app needs: checks its input topics, decides partition counts of repartition and
changelog topics, creates what is missing, and enforces co-partitioning of joins.

A sub-topology's partition count (its number of tasks) is the largest of its user source topics;
one that reads only repartition topics takes the count of the sub-topology writing them. A
repartition topic gets the count of the sub-topology that reads it, a changelog topic the count of
the sub-topology whose store it backs.
"""

from __future__ import annotations

import logging

from kraft.apis import Admin
from kraft.errors import TopicAlreadyExists

from .errors import StreamsError, TopologyError
from .processors import SinkNode
from .topology import SubTopology, Topology

log = logging.getLogger(__name__)


def partition_counts(topology: Topology, subs: list[SubTopology], external: dict[str, int]) -> dict[int, int]:
    """Tasks per sub-topology, given the partition counts of the user topics it reads."""
    writer: dict[str, int] = {}
    for sub in subs:
        for node in sub.nodes:
            if isinstance(node, SinkNode) and node.internal:
                writer[node.topic] = sub.id
    counts: dict[int, int] = {}

    def count(sub: SubTopology, seen: frozenset[int]) -> int:
        if sub.id in counts:
            return counts[sub.id]
        if sub.id in seen:
            raise TopologyError("the topology has a cycle through repartition topics")
        if sub.external_topics:
            n = max(external[t] for t in sub.external_topics)
        else:
            n = max(count(subs[writer[t]], seen | {sub.id}) for t in sub.internal_topics)
        counts[sub.id] = n
        return n

    for sub in subs:
        count(sub, frozenset())
    return counts


def check_copartitioned(sub: SubTopology, topic_counts: dict[str, int]) -> None:
    if not sub.requires_copartition:
        return
    found = {t: topic_counts[t] for t in sub.sources}
    if len(set(found.values())) > 1:
        raise TopologyError(f"a join needs co-partitioned inputs (same partition count), got {found}")


def prepare_topics(admin: Admin, topology: Topology, subs: list[SubTopology],
                   replication_factor: int | None, extra_sinks: tuple[str, ...] = ()) -> dict[int, int]:
    """Create missing output, repartition and changelog topics; returns tasks per sub-topology."""
    existing = set(admin.list_topics())
    sinks = set(topology.sink_topics()) | set(extra_sinks)
    external: dict[str, int] = {}
    for sub in subs:
        for topic in sub.external_topics:
            if topic not in existing:
                if topic not in sinks:
                    raise StreamsError(f"source topic {topic!r} does not exist")
                _create(admin, topic, None, replication_factor)
            external[topic] = len(admin.describe_topic(topic).partitions)
    counts = partition_counts(topology, subs, external)
    topic_counts = dict(external)
    for sub in subs:
        for topic in sub.internal_topics:
            topic_counts[topic] = _ensure(admin, topic, counts[sub.id], existing, replication_factor)
        for store in sub.stores:
            _ensure(admin, topology.changelog_topic(store), counts[sub.id], existing, replication_factor)
    for sub in subs:
        check_copartitioned(sub, topic_counts)
    for topic in sinks - set(topic_counts) - existing:
        _create(admin, topic, None, replication_factor)
    return counts


def _ensure(admin: Admin, topic: str, partitions: int, existing: set[str], rf: int | None) -> int:
    if topic in existing:
        have = len(admin.describe_topic(topic).partitions)
        if have != partitions:
            raise StreamsError(f"internal topic {topic!r} has {have} partitions, the topology needs {partitions}")
        return have
    _create(admin, topic, partitions, rf)
    return partitions


def _create(admin: Admin, topic: str, partitions: int | None, rf: int | None) -> None:
    try:
        admin.create_topic(topic, partitions=partitions, replication_factor=rf)
        log.info("created topic %s (%s partitions)", topic, partitions or "default")
    except TopicAlreadyExists:
        pass  # another instance of the app created it first
