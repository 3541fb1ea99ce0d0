"""Heartbeat (12): a member is alive; REBALANCE_IN_PROGRESS tells it to rejoin."""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 12
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    ctx.coordinator.heartbeat(request["group_id"], request["member_id"], request["generation_id"])
    return {"error_code": 0}
