"""ListOffsets (2): earliest (-2), latest (-1) or the first offset at or after a timestamp.

A timestamp after every record gets offset -1 and timestamp -1, as Kafka answers.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 2
MIN_VERSION = 1
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    topics = []
    for t in request["topics"]:
        parts = []
        for p in t["partitions"]:
            res = {"partition_index": p["partition_index"], "error_code": 0, "timestamp": -1, "offset": -1}
            try:
                ts = p["timestamp"]
                found = ctx.broker.list_offset(t["name"], p["partition_index"], ts, exact=True)
                if found is not None:
                    res["offset"] = found
                    if ts >= 0:
                        res["timestamp"] = ts
            except errors.KraftError as e:
                res["error_code"] = kafka_code(e)
            parts.append(res)
        topics.append({"name": t["name"], "partitions": parts})
    return {"topics": topics}
