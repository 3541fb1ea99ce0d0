"""delete_records: move partitions' log starts up (Kafka's DeleteRecords); each answered on its own.

Request ``{"topic", "partitions": [{"partition", "offset"}]}`` (offset -1: the high watermark), sent
to the partitions' leader. Answer ``{"topic", "partitions": [{"partition", "low_watermark",
"error_code", "message"}]}`` with the new log start of each, or its error (NOT_LEADER_OR_FOLLOWER
with the leader, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE beyond the high watermark ...).
Owns: that shape. Must not: decide what a deletion means (``Broker.delete_records`` does), or let one
partition's failure fail the others (each is proposed and answered on its own, concurrently).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kraft.errors import KraftError
from kraft.node import access
from kraft.node.broker import Broker
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items
from kraft.node.handlers._errors import set_partition_error
from kraft.state.acls import Operation

API = "delete_records"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    topic = field(body, "topic", str)
    access.require_topic(ctx, Operation.DELETE, topic)
    parts = items(body, "partitions")
    results = await asyncio.gather(*(_one(ctx.broker, topic, p) for p in parts))
    return {"topic": topic, "partitions": results}


async def _one(broker: Broker, topic: str, entry: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {"partition": entry.get("partition"), "low_watermark": -1, "error_code": 0, "message": ""}
    try:
        partition = field(entry, "partition", int)
        res["low_watermark"] = await broker.delete_records(topic, partition, field(entry, "offset", int))
    except KraftError as e:
        set_partition_error(res, e)
    return res
