"""Metadata (3): brokers (their Kafka listeners), the controller, topics, partitions and leaders.

The cluster id is the one the metadata group gave the cluster when it was founded.
Topics are never created by a Metadata request (kraft has no auto-creation): an unknown topic gets
UNKNOWN_TOPIC_OR_PARTITION. A partition whose leader is being elected, or runs on a node without a
Kafka listener, gets LEADER_NOT_AVAILABLE so the client asks again.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 3
MIN_VERSION = 1
MAX_VERSION = 4


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    broker = ctx.broker
    wanted = request.get("topics")
    names = None if wanted is None else [t["name"] for t in wanted]
    meta = broker.metadata(names)
    listeners = broker.kafka_listeners()
    controller = meta.controller if meta.controller in listeners else broker.node_id
    topics = []
    for t in meta.topics:
        parts = []
        for p in t.partitions:
            leader = p.leader
            reachable = leader is not None and leader in listeners
            parts.append({"error_code": 0 if reachable else kafka_code(errors.LeaderNotAvailable),
                          "partition_index": p.partition, "leader_id": leader if reachable else -1,
                          "replica_nodes": p.replicas, "isr_nodes": p.replicas})
        topics.append({"error_code": 0 if t.error is None else kafka_code(t.error), "name": t.name,
                       "is_internal": False, "partitions": parts})
    return {
        "brokers": [{"node_id": i, "host": n.host, "port": n.port, "rack": n.rack}
                    for i, n in sorted(listeners.items())],
        "cluster_id": meta.cluster_id,  # null (v2+ allow it) only before a new cluster has its id
        "controller_id": controller,
        "topics": topics,
    }
