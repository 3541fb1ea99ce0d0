"""FindCoordinator (10): the node coordinating consumer groups (the metadata group's leader), at its
Kafka listener. Transaction coordinators do not exist in kraft (key type 1: COORDINATOR_NOT_AVAILABLE
with the reason).

Versions 0-4, as Kafka 3.7: v3 is flexible, v4 asks for several keys at once (``coordinator_keys``)
and answers one entry per key (``coordinators``); every group has the same coordinator here.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 10
MIN_VERSION = 0
MAX_VERSION = 4
BATCHED_FROM = 4  # the version that names its keys in a list
GROUP = 0  # key_type


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    found = _coordinator(ctx, request.get("key_type", GROUP))
    if ctx.version >= BATCHED_FROM:
        return {"coordinators": [{"key": key, **_authorized(ctx, key, found)} for key in request["coordinator_keys"]]}
    return _authorized(ctx, request.get("key", ""), found)


def _authorized(ctx: KafkaContext, key: str, found: dict[str, Any]) -> dict[str, Any]:
    """``found``, or GROUP_AUTHORIZATION_FAILED: Kafka needs DESCRIBE on the group to find its coordinator."""
    if found["error_code"] or _auth.group(ctx, Operation.DESCRIBE, key):
        return found
    e = errors.GroupAuthorizationFailed(f"DESCRIBE on group {key!r} is not allowed")
    return {"error_code": kafka_code(e), "error_message": e.message, "node_id": -1, "host": "", "port": -1}


def _coordinator(ctx: KafkaContext, key_type: int) -> dict[str, Any]:
    if key_type != GROUP:
        return {"error_code": kafka_code(errors.CoordinatorNotAvailable), "error_message": "kraft has no transactions",
                "node_id": -1, "host": "", "port": -1}
    try:
        node_id = ctx.broker.find_coordinator().node_id
        listener = ctx.broker.kafka_listeners().get(node_id)
        if listener is None:
            raise errors.CoordinatorNotAvailable(f"the coordinator, node {node_id}, has no Kafka listener")
    except errors.KraftError as e:
        return {"error_code": kafka_code(e), "error_message": e.message, "node_id": -1, "host": "", "port": -1}
    return {"error_code": 0, "error_message": None, "node_id": node_id, "host": listener.host, "port": listener.port}
