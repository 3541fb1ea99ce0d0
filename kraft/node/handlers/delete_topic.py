"""delete_topic: removes the topic from the metadata; every replica then drops its data."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "delete_topic"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_topic(ctx, Operation.DELETE, field(body, "name", str))
    await ctx.broker.delete_topic(field(body, "name", str))
    return {}
