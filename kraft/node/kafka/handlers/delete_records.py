"""DeleteRecords (21): move partitions' log starts up; each partition answered with its new low
watermark or its own error code.

Clients send it to each partition's leader (from Metadata); another node answers that partition with
NOT_LEADER_OR_FOLLOWER and the client refreshes its metadata and asks again (kafka-python and
librdkafka do). Offset -1 means the high watermark; an offset beyond it is OFFSET_OUT_OF_RANGE; one
at or below the log start changes nothing and answers the current log start, as Kafka does. v2 is
flexible: ``kraft.protocol.kafka.codec`` encodes compact fields and tags from the schema.
The request's ``timeout`` is not used: a deletion is answered once it is committed by a majority and
applied (within the node's ``request_timeout_ms``), never before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.broker import Broker
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 21
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    topics = []
    for t in request["topics"]:
        if not _auth.topic(ctx, Operation.DELETE, t["name"]):
            denied = kafka_code(errors.TopicAuthorizationFailed)
            parts = [{"partition_index": p["partition_index"], "low_watermark": -1, "error_code": denied}
                     for p in t["partitions"]]
        else:
            parts = list(await asyncio.gather(*(_one(ctx.broker, t["name"], p) for p in t["partitions"])))
        topics.append({"name": t["name"], "partitions": parts})
    return {"throttle_time": 0, "topics": topics}


async def _one(broker: Broker, topic: str, p: dict[str, Any]) -> dict[str, Any]:
    res = {"partition_index": p["partition_index"], "low_watermark": -1, "error_code": 0}
    try:
        res["low_watermark"] = await broker.delete_records(topic, p["partition_index"], p["offset"])
    except errors.KraftError as e:
        res["error_code"] = kafka_code(e)
    return res
