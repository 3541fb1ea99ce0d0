"""api_versions: which requests this node answers (derived from the registry)."""

from __future__ import annotations

from typing import Any

API = "api_versions"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    from kraft.node.handlers import HANDLERS

    return {"apis": sorted(HANDLERS), "version": 1, "node_id": broker.node_id}
