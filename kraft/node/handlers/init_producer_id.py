"""init_producer_id: a fresh producer id from the metadata group, for an idempotent producer."""

from __future__ import annotations

from typing import Any

API = "init_producer_id"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    return await broker.init_producer_id()
