"""FindCoordinator (10): the node coordinating consumer groups (the metadata group's leader), at its
Kafka listener. Transaction coordinators do not exist in kraft."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 10
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("key_type", 0) != 0:
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
