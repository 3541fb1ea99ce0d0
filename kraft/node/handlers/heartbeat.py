"""heartbeat: a member is alive; the answer tells it when to rejoin."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "heartbeat"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.READ, field(body, "group_id", str))
    ctx.coordinator.heartbeat(field(body, "group_id", str), field(body, "member_id", str),
                              field(body, "generation", int))
    return {}
