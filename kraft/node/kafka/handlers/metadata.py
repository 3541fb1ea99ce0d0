"""Metadata (3): brokers (their Kafka listeners), the controller, topics, partitions, leaders, their
leader epochs (v7+: the Raft term the leader was elected in) and in-sync replicas.

The cluster id is the one the metadata group gave the cluster when it was founded.
A topic the request names that does not exist is created with the cluster's defaults when
cluster.ini's ``auto_create_topics`` is on and the request allows it (``allow_auto_topic_creation``,
v4+; older versions always allow it), as Kafka does; it answers LEADER_NOT_AVAILABLE until this node
has the topic, and the client asks again. Otherwise an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION
(INVALID_TOPIC_EXCEPTION for a name no topic can have). A partition whose leader is being elected, or
runs on a node without a Kafka listener, gets LEADER_NOT_AVAILABLE so the client asks again.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.auto_create import valid_topic_name
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 3
MIN_VERSION = 1
MAX_VERSION = 7


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    broker = ctx.broker
    wanted = request.get("topics")
    names = None if wanted is None else [t["name"] for t in wanted]
    not_yet: dict[str, errors.KraftError] = {}
    if names:
        missing = [n for n in names if not broker.topic_exists(n)]
        if missing and request.get("allow_auto_topic_creation", True):
            not_yet = await broker.auto_create_topics(missing)
        elif missing:
            not_yet = {n: errors.InvalidTopic(n) for n in missing if not valid_topic_name(n)}
    meta = broker.metadata(names)
    listeners = broker.kafka_listeners()
    controller = meta.controller if meta.controller in listeners else broker.node_id
    topics = []
    for t in meta.topics:
        parts: list[dict[str, Any]] = []
        for p in t.partitions:
            leader = p.leader
            reachable = leader is not None and leader in listeners
            parts.append({"error_code": 0 if reachable else kafka_code(errors.LeaderNotAvailable),
                          "partition_index": p.partition, "leader_id": leader if reachable else -1,
                          "leader_epoch": p.leader_epoch, "replica_nodes": p.replicas, "isr_nodes": p.isr,
                          "offline_replicas": []})
        error = not_yet.get(t.name, t.error) if t.error is not None else None
        topics.append({"error_code": 0 if error is None else kafka_code(error), "name": t.name,
                       "is_internal": False, "partitions": parts})
    return {
        "brokers": [{"node_id": i, "host": n.host, "port": n.port, "rack": n.rack}
                    for i, n in sorted(listeners.items())],
        "cluster_id": meta.cluster_id,  # null (v2+ allow it) only before a new cluster has its id
        "controller_id": controller,
        "topics": topics,
    }
