"""The topics an app needs: checks its input topics, decides partition counts and topic configs of
repartition and changelog topics, creates what is missing, brings the configs of internal topics
that lack them up to date, and enforces co-partitioning of joins.

A sub-topology's partition count (its number of tasks) is the largest of its user source topics;
one that reads only repartition topics takes the count of the sub-topology writing them. A
repartition topic gets the count of the sub-topology that reads it, a changelog topic the count of
the sub-topology whose store it backs.

Internal topics get Kafka Streams' topic configs (``InternalTopicConfig`` and its subclasses):
a changelog keeps the latest record per key (``cleanup.policy=compact``), so a restore replays
one record per key instead of the store's whole history; the changelog of a window, session or
join-buffer store also deletes by time (``compact,delete``, ``retention.ms`` = the store's
retention plus a day), since its keys carry their window and stop being written; a repartition
topic keeps records until the app has consumed them (``delete`` with infinite retention: the
runtime purges what it has committed). Every internal topic takes ``CreateTime``: stream time
comes from record timestamps, which a broker's append time would overwrite.
"""

from __future__ import annotations

import logging

from kraft.apis import Admin
from kraft.errors import TopicAlreadyExists

from .errors import StreamsError, TopologyError
from .processors import SinkNode
from .topology import SubTopology, Topology

log = logging.getLogger(__name__)

# Kafka Streams' windowstore.changelog.additional.retention.ms: a windowed changelog keeps records
# this much longer than its store does (clock drift between the app's stream time and the nodes).
WINDOWED_CHANGELOG_EXTRA_RETENTION_MS = 24 * 3600 * 1000
RETENTION_MS_MAX = (1 << 63) - 1
_INTERNAL = {"message.timestamp.type": "CreateTime"}
# Kafka Streams' RepartitionTopicConfig: delete, never by time (the app purges what it consumed),
# 50 MB segments (kraft stores segment.bytes without using it).
REPARTITION_CONFIGS: dict[str, object] = {**_INTERNAL, "cleanup.policy": "delete", "retention.ms": -1,
                                          "segment.bytes": 52428800}


def changelog_configs(topology: Topology, store: str) -> dict[str, object]:
    """The topic configs of ``store``'s changelog (Kafka Streams' Unwindowed / Windowed
    ChangelogTopicConfig)."""
    retention = topology.windowed_retention_ms.get(store)
    if retention is None:
        return {**_INTERNAL, "cleanup.policy": "compact"}
    return {**_INTERNAL, "cleanup.policy": "compact,delete",
            "retention.ms": min(retention + WINDOWED_CHANGELOG_EXTRA_RETENTION_MS, RETENTION_MS_MAX)}


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
            topic_counts[topic] = _ensure(admin, topic, counts[sub.id], existing, replication_factor,
                                          REPARTITION_CONFIGS)
        for store in sub.stores:
            _ensure(admin, topology.changelog_topic(store), counts[sub.id], existing, replication_factor,
                    changelog_configs(topology, store))
    for sub in subs:
        check_copartitioned(sub, topic_counts)
    for topic in sinks - set(topic_counts) - existing:
        _create(admin, topic, None, replication_factor)
    return counts


def _ensure(admin: Admin, topic: str, partitions: int, existing: set[str], rf: int | None,
            configs: dict[str, object]) -> int:
    if topic in existing:
        have = len(admin.describe_topic(topic).partitions)
        if have != partitions:
            raise StreamsError(f"internal topic {topic!r} has {have} partitions, the topology needs {partitions}")
        update_configs(admin, topic, configs)
        return have
    _create(admin, topic, partitions, rf, configs)
    return partitions


def update_configs(admin: Admin, topic: str, wanted: dict[str, object]) -> dict[str, object]:
    """Set on the existing internal topic ``topic`` each config of ``wanted`` that the topic does
    not set itself (it was created by a kraft whose internal topics had no configs, or by hand);
    returns what was set. A value the topic sets itself is an operator's choice and stays, with a
    warning when it leaves a changelog uncompacted."""
    entries = admin.describe_configs(topic)
    missing = {name: value for name, value in wanted.items()
               if name not in entries or entries[name].source != "topic"}
    if missing:
        admin.alter_configs(topic, set=missing)
        log.warning("internal topic %s did not set %s itself: set %s", topic, ", ".join(sorted(missing)),
                    ", ".join(f"{k}={v}" for k, v in sorted(missing.items())))
    wanted_policy = _policies(wanted.get("cleanup.policy"))
    if "cleanup.policy" not in missing and "cleanup.policy" in entries:
        have = _policies(entries["cleanup.policy"].value)
        if "compact" in wanted_policy and "compact" not in have:
            log.warning("changelog topic %s has cleanup.policy=%s of its own: it is not compacted and grows "
                        "with every update (Kafka Streams creates it with cleanup.policy=%s)", topic,
                        entries["cleanup.policy"].value, wanted["cleanup.policy"])
    return missing


def _policies(value: object) -> set[str]:
    return {p.strip() for p in str(value or "").split(",") if p.strip()}


def _create(admin: Admin, topic: str, partitions: int | None, rf: int | None,
            configs: dict[str, object] | None = None) -> None:
    try:
        admin.create_topic(topic, partitions=partitions, replication_factor=rf, config=configs)
        log.info("created topic %s (%s partitions%s)", topic, partitions or "default",
                 "".join(f", {k}={v}" for k, v in sorted((configs or {}).items())))
    except TopicAlreadyExists:
        pass  # another instance of the app created it first
