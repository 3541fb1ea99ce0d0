"""describe_group: state, generation, members with their assignments, committed offsets."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "describe_group"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.DESCRIBE, field(body, "group_id", str))
    return ctx.coordinator.describe(field(body, "group_id", str))
