"""LeaveGroup (13): a member leaves at once (the others rebalance without waiting for its session)."""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 13
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    ctx.coordinator.leave(request["group_id"], request["member_id"])
    return {"error_code": 0}
