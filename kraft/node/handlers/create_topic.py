"""create_topic: validated here, placed by the broker, committed through the metadata group."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field

API = "create_topic"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_create_topic(ctx, field(body, "name", str))
    created = await ctx.broker.create_topic(
        field(body, "name", str),
        field(body, "partitions", int, None),
        field(body, "replication_factor", int, None),
        field(body, "configs", dict, {}),
    )
    return {"name": created.name, "partitions": created.partitions,
            "replication_factor": created.replication_factor}
