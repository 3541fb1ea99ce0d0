"""find_coordinator: which node coordinates consumer groups (the metadata group's leader)."""

from __future__ import annotations

from typing import Any

from kraft.node.handlers._body import field

API = "find_coordinator"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    field(body, "group_id", str)
    return broker.find_coordinator()
