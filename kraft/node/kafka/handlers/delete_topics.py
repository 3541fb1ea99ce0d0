"""DeleteTopics (20): each topic deleted through the metadata group, each answered on its own."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 20
MIN_VERSION = 1
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    out = []
    for name in request["topic_names"]:
        code = 0
        try:
            await ctx.broker.delete_topic(name)
        except errors.KraftError as e:
            code = kafka_code(e)
        out.append({"name": name, "error_code": code})
    return {"responses": out}
