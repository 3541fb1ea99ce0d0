"""delete_topic: removes the topic from the metadata; every replica then drops its data."""

from __future__ import annotations

from typing import Any

from kraft.node.handlers._body import field

API = "delete_topic"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    await broker.delete_topic(field(body, "name", str))
    return {}
