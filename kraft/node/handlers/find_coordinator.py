"""find_coordinator: which node coordinates consumer groups (the metadata group's leader)."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "find_coordinator"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_group(ctx, Operation.DESCRIBE, field(body, "group_id", str))
    node = ctx.broker.find_coordinator()
    return {"node_id": node.node_id, "host": node.host, "port": node.port}
