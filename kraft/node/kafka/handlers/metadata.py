"""Metadata (3): brokers (their Kafka listeners), the controller, topics with their topic ids,
partitions, leaders, their leader epochs (v7+: the Raft term the leader was elected in) and in-sync
replicas.

Versions 0-12, as Kafka 3.7 (v0, for clients pinned to Kafka 0.9's protocol such as librdkafka with
``broker.version.fallback=0.9.0.0``: an empty topic list asks for every topic, as null does
later); v8-10 may ask for the cluster's authorized operations and v8+ for each topic's (by the
cluster's ACLs, for ``User:ANONYMOUS`` at the client's address; INT32_MIN when not asked), v9 is
flexible, v10+ answers each topic's id, v12 may name topics by id (a name-less entry;
an id no topic has gets UNKNOWN_TOPIC_ID with a null name, and a request by ids never creates
topics, as Kafka). A topic id in a v10-11 request, or a null name there, is
INVALID_REQUEST for every topic asked for (as is an entry with neither a name nor an id).

ACLs as Kafka applies them: a topic the client may not DESCRIBE is left out of an every-topic answer
and answered TOPIC_AUTHORIZATION_FAILED when asked for by name (whether it exists or not: its
existence is not disclosed) or by id (with a null name); auto-creating a topic needs CREATE on the
cluster or on the topic, else TOPIC_AUTHORIZATION_FAILED.

The cluster id is the one the metadata group gave the cluster when it was founded.
A topic the request names that does not exist is created with the cluster's defaults when
cluster.ini's ``auto_create_topics`` is on and the request allows it (``allow_auto_topic_creation``,
v4+; older versions always allow it), as Kafka does; it answers LEADER_NOT_AVAILABLE until this node
has the topic, and the client asks again. Otherwise an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION
(INVALID_TOPIC_EXCEPTION for a name no topic can have). A partition whose leader is being elected, or
runs on a node without a Kafka listener, gets LEADER_NOT_AVAILABLE so the client asks again.
"""

from __future__ import annotations

import uuid
from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.auto_create import valid_topic_name
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers.describe_cluster import CLUSTER_OPERATIONS, NOT_ASKED
from kraft.state.acls import CLUSTER_NAME, Operation, ResourceType
from kraft.state.metadata import NIL_UUID

API_KEY = 3
MIN_VERSION = 0
MAX_VERSION = 12
# Kafka's AclOperation codes of the operations it defines on a topic resource (AclEntry).
TOPIC_OPERATIONS = {"READ": 3, "WRITE": 4, "CREATE": 5, "DELETE": 6, "ALTER": 7, "DESCRIBE": 8,
                    "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11}
NIL = NIL_UUID


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    broker = ctx.broker
    wanted = request.get("topics")
    if ctx.version == 0 and not wanted:
        wanted = None  # v0 has no null list: empty is every topic
    by_id = [t["topic_id"] for t in wanted or () if t.get("topic_id") not in (None, NIL)]
    if wanted is not None and ((ctx.version < 12 and by_id) or any(
            t.get("name") is None and t.get("topic_id") in (None, NIL) for t in wanted)):
        # Kafka's answer to a request it cannot read: every topic asked for carries the error
        return {"brokers": [], "cluster_id": None, "controller_id": -1, "topics": [
            {"error_code": kafka_code(errors.InvalidRequest), "name": t.get("name"), "topic_id": t.get("topic_id"),
             "is_internal": False, "partitions": []} for t in wanted]}
    unknown_ids: list[uuid.UUID] = []
    names: list[str] | None
    denied: list[str] = []  # asked for by name, not to be described to this client
    denied_ids: list[uuid.UUID] = []
    if by_id:  # Kafka: with any id in the request, the ids name the topics (names are not read)
        found = {topic_id: broker.topic_name(topic_id) for topic_id in dict.fromkeys(by_id)}
        unknown_ids = [topic_id for topic_id, name in found.items() if name is None]
        denied_ids = [i for i, name in found.items()
                      if name is not None and not _auth.topic(ctx, Operation.DESCRIBE, name)]
        names = [name for i, name in found.items() if name is not None and i not in denied_ids]
    elif wanted is None:
        names = None  # every topic, less those this client may not describe (Kafka leaves them out)
        if broker.acls():
            names = [n for n in broker.topic_names() if _auth.topic(ctx, Operation.DESCRIBE, n)]
    else:
        names = list(dict.fromkeys(t["name"] for t in wanted))
        denied = [n for n in names if not _auth.topic(ctx, Operation.DESCRIBE, n)]
        names = [n for n in names if n not in denied]
    not_yet: dict[str, errors.KraftError] = {}
    if names and not by_id and wanted is not None:
        missing = [n for n in names if not broker.topic_exists(n)]
        if missing and request.get("allow_auto_topic_creation", True):
            if not _auth.cluster(ctx, Operation.CREATE):
                not_yet = {n: errors.TopicAuthorizationFailed(f"CREATE on topic {n!r} is not allowed")
                           for n in missing if not _auth.topic(ctx, Operation.CREATE, n)}
            not_yet.update(await broker.auto_create_topics([n for n in missing if n not in not_yet]))
        elif missing:
            not_yet = {n: errors.InvalidTopic(n) for n in missing if not valid_topic_name(n)}
    meta = broker.metadata(names)
    listeners = broker.kafka_listeners()
    controller = meta.controller if meta.controller in listeners else broker.node_id
    topic_ops = bool(request.get("include_topic_authorized_operations"))
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
                       "topic_id": t.topic_uuid, "is_internal": False, "partitions": parts,
                       "topic_authorized_operations": _auth.operations(
                           ctx, ResourceType.TOPIC, t.name, TOPIC_OPERATIONS.values()) if topic_ops else NOT_ASKED})
    unauthorized = kafka_code(errors.TopicAuthorizationFailed)
    topics.extend({"error_code": unauthorized, "name": name, "topic_id": NIL, "is_internal": False,
                   "partitions": [], "topic_authorized_operations": NOT_ASKED} for name in denied)
    topics.extend({"error_code": unauthorized, "name": None, "topic_id": topic_id, "is_internal": False,
                   "partitions": [], "topic_authorized_operations": NOT_ASKED} for topic_id in denied_ids)
    topics.extend({"error_code": kafka_code(errors.UnknownTopicId), "name": None, "topic_id": topic_id,
                   "is_internal": False, "partitions": [], "topic_authorized_operations": NOT_ASKED}
                  for topic_id in unknown_ids)
    return {
        "brokers": [{"node_id": i, "host": n.host, "port": n.port, "rack": n.rack}
                    for i, n in sorted(listeners.items())],
        "cluster_id": meta.cluster_id,  # null (v2+ allow it) only before a new cluster has its id
        "controller_id": controller,
        "topics": topics,
        "cluster_authorized_operations": _auth.operations(
            ctx, ResourceType.CLUSTER, CLUSTER_NAME, CLUSTER_OPERATIONS.values()) if request.get(
            "include_cluster_authorized_operations") else NOT_ASKED,
    }
