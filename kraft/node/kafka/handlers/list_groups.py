"""ListGroups (16): the groups this node coordinates. Only the coordinator (the metadata leader)
lists any, so a client that asks every broker and joins the answers sees each group once."""

from __future__ import annotations

from typing import Any

API_KEY = 16
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: Any, request: dict[str, Any]) -> dict[str, Any]:
    groups = ctx.broker.groups
    names = groups.list_groups() if groups.is_coordinator() else []
    return {"error_code": 0, "groups": [{"group_id": g, "protocol_type": "consumer"} for g in names]}
