"""node_status: this node's view of its peers and of the partition groups it hosts."""

from __future__ import annotations

from typing import Any

API = "node_status"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    return broker.node_status()
