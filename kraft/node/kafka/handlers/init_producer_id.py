"""InitProducerId (22): a producer id from the metadata group for an idempotent Kafka producer (the
same id space as kraft's own producers; epoch 0). Transactional ids are refused: no transactions."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext

API_KEY = 22
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("transactional_id") is not None:
        raise errors.InvalidRequest("transactions are not supported")
    answer = await ctx.broker.init_producer_id()
    return {"error_code": 0, "producer_id": answer.producer_id, "producer_epoch": answer.producer_epoch}
