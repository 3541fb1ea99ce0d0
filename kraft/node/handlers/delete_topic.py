"""delete_topic: removes the topic from the metadata; every replica then drops its data."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field

API = "delete_topic"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    await ctx.broker.delete_topic(field(body, "name", str))
    return {}
