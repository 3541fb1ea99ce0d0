"""SyncGroup (14): the leader hands in every member's assignment; each member gets its own."""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 14
MIN_VERSION = 0
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    assignments = {a["member_id"]: a["assignment"] for a in request["assignments"] or []}
    mine = await ctx.coordinator.sync_assignments(request["group_id"], request["member_id"],
                                              request["generation_id"], assignments)
    return {"error_code": 0, "assignment": mine}
