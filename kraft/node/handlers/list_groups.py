"""list_groups: groups with members (on the coordinator) or with committed offsets."""

from __future__ import annotations

from typing import Any

API = "list_groups"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    return {"groups": broker.groups.list_groups()}
