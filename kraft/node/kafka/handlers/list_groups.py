"""ListGroups (16): the groups this node coordinates. Only the coordinator (the metadata leader)
lists any, so a client that asks every broker and joins the answers sees each group once."""

from __future__ import annotations

from typing import Any

from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 16
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    coordinator = ctx.coordinator
    names = coordinator.list_groups() if coordinator.is_coordinator() else []
    names = [g for g in names if _auth.group(ctx, Operation.DESCRIBE, g)]  # Kafka lists only those
    return {"error_code": 0, "groups": [{"group_id": g, "protocol_type": "consumer"} for g in names]}
