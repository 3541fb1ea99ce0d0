"""Heartbeat (12): a member is alive; REBALANCE_IN_PROGRESS tells it to rejoin, FENCED_INSTANCE_ID
(v3+) that a newer member took its static instance id."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 12
MIN_VERSION = 0
MAX_VERSION = 4


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if not _auth.group(ctx, Operation.READ, request["group_id"]):
        raise errors.GroupAuthorizationFailed(f"READ on group {request['group_id']!r} is not allowed")
    ctx.coordinator.heartbeat(request["group_id"], request["member_id"], request["generation_id"],
                              request.get("group_instance_id") or None)
    return {"error_code": 0}
