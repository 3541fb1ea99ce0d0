"""init_producer_id: a fresh producer id from the metadata group, for an idempotent producer."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext

API = "init_producer_id"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_idempotent_write(ctx)
    answer = await ctx.broker.init_producer_id()
    return {"producer_id": answer.producer_id, "producer_epoch": answer.producer_epoch}
