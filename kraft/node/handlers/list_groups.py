"""list_groups: groups with members (on the coordinator) or with committed offsets."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext

API = "list_groups"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    return {"groups": ctx.coordinator.list_groups()}
