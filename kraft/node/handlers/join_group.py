"""join_group: enter (or re-enter) a group's rebalance; answers when the round completes."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "join_group"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.READ, field(body, "group_id", str))
    topics = field(body, "topics", list)
    if not all(isinstance(t, str) for t in topics):
        raise InvalidRequest("topics must be a list of strings")
    return await ctx.coordinator.join(
        field(body, "group_id", str), field(body, "member_id", str, ""), field(body, "client_id", str, ""),
        ctx.client_host, topics, field(body, "session_timeout_ms", int, 10_000),
        field(body, "rebalance_timeout_ms", int, 300_000), field(body, "strategy", str, "range"),
    )
