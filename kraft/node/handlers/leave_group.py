"""leave_group: a member leaves at once (no session timeout to wait for); the rest rebalance."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "leave_group"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.READ, field(body, "group_id", str))
    ctx.coordinator.leave(field(body, "group_id", str), field(body, "member_id", str))
    return {}
