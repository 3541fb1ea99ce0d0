"""sync_group: the member's assignment in the current generation (again, e.g. after a lost answer)."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "sync_group"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.READ, field(body, "group_id", str))
    return ctx.coordinator.sync(field(body, "group_id", str), field(body, "member_id", str),
                                field(body, "generation", int))
