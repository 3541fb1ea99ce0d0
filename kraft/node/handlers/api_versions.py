"""api_versions: which requests this node answers (derived from the registry)."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext

API = "api_versions"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    from kraft.node.handlers import HANDLERS

    return {"apis": sorted(HANDLERS), "version": 1, "node_id": ctx.broker.node_id}
