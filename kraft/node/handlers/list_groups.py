"""list_groups: groups with members (on the coordinator) or with committed offsets."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.state.acls import Operation

API = "list_groups"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    groups = ctx.coordinator.list_groups()
    if access.cluster(ctx, Operation.DESCRIBE):  # as Kafka: every group, else those it may describe
        return {"groups": groups}
    return {"groups": [g for g in groups if access.group(ctx, Operation.DESCRIBE, g)]}
