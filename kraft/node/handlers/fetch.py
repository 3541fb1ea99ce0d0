"""fetch: committed batches from each partition's position, long-polled, bounded in bytes."""

from __future__ import annotations

from typing import Any

from kraft.node.handlers._body import field, items

API = "fetch"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    parts = items(body, "partitions")
    for p in parts:
        field(p, "topic", str)
        field(p, "partition", int)
        field(p, "offset", int)
    field(body, "max_wait_ms", int, 500)
    field(body, "min_bytes", int, 1)
    field(body, "max_bytes", int, 50 * 1024 * 1024)
    return await broker.fetch(body)
