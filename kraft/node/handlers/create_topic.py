"""create_topic: validated here, placed by the broker, committed through the metadata group."""

from __future__ import annotations

from typing import Any

from kraft.node.handlers._body import field

API = "create_topic"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    return await broker.create_topic(
        field(body, "name", str),
        field(body, "partitions", int, None),
        field(body, "replication_factor", int, None),
        field(body, "configs", dict, {}),
    )
