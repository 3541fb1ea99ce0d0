"""DescribeCluster (60): the cluster's id, its controller and its brokers with their racks.

The cluster id is the one the metadata group gave the cluster when it was founded (the same that
Metadata answers); the controller is the metadata group's leader (this node while it has none, as
Metadata answers too); brokers are the nodes' Kafka listeners. ``cluster_authorized_operations`` is,
when asked for, the operations Kafka defines on its cluster resource that the cluster's ACLs allow
this client (``kraft.node.access``; every one of them without ACLs, as a Kafka broker without an
authorizer answers; else Kafka's "not asked", INT32_MIN). v1's ``endpoint_type`` 2 (controllers) is
UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers it: controllers are not reached separately here.
While a new cluster has no id yet (its first moments) the answer is LEADER_NOT_AVAILABLE, which a client may retry.
Versions 0-1 (both flexible; v2 adds fenced brokers, which kraft does not have).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import CLUSTER_NAME, ResourceType

API_KEY = 60
MIN_VERSION = 0
MAX_VERSION = 1
BROKERS = 1  # endpoint_type
UNSUPPORTED_ENDPOINT_TYPE = 115
NOT_ASKED = -(1 << 31)  # cluster_authorized_operations when the request did not ask for them
# Kafka's AclOperation codes of the operations it defines on the cluster resource (AclEntry).
CLUSTER_OPERATIONS = {"CREATE": 5, "ALTER": 7, "DESCRIBE": 8, "CLUSTER_ACTION": 9, "DESCRIBE_CONFIGS": 10,
                      "ALTER_CONFIGS": 11, "IDEMPOTENT_WRITE": 12}
ALL_CLUSTER_OPERATIONS = sum(1 << code for code in CLUSTER_OPERATIONS.values())


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    broker = ctx.broker
    endpoint_type = request.get("endpoint_type", BROKERS)
    answer: dict[str, Any] = {"throttle_time": 0, "error_code": 0, "error_message": None,
                              "endpoint_type": endpoint_type, "cluster_id": "", "controller_id": -1, "brokers": [],
                              "cluster_authorized_operations": NOT_ASKED}
    if endpoint_type != BROKERS:
        return {**answer, "error_code": UNSUPPORTED_ENDPOINT_TYPE,
                "error_message": f"endpoint type {endpoint_type}: a kraft node describes brokers (1) only"}
    cluster_id = broker.cluster_id()
    if cluster_id is None:
        return {**answer, "error_code": kafka_code(errors.LeaderNotAvailable),
                "error_message": "the cluster has no id yet: its metadata group is being founded"}
    listeners = broker.kafka_listeners()
    controller = broker.metadata([]).controller
    return {**answer, "cluster_id": cluster_id,
            "controller_id": controller if controller in listeners else broker.node_id,
            "brokers": [{"broker_id": i, "host": n.host, "port": n.port, "rack": n.rack}
                        for i, n in sorted(listeners.items())],
            "cluster_authorized_operations": _auth.operations(
                ctx, ResourceType.CLUSTER, CLUSTER_NAME, CLUSTER_OPERATIONS.values()) if request.get(
                "include_cluster_authorized_operations") else NOT_ASKED}
