"""produce: one record batch per partition entry; each answered with its base offset (and, in a
LogAppendTime topic, the time the leader stamped into it) or an error."""

from __future__ import annotations

import asyncio
from typing import Any

from kraft.errors import InvalidRequest, KraftError
from kraft.node import access
from kraft.node.broker import Broker
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items
from kraft.node.handlers._errors import set_partition_error
from kraft.state.acls import Operation

API = "produce"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    broker = ctx.broker
    acks = field(body, "acks", int, -1)
    if acks not in (-1, 0, 1):
        raise InvalidRequest(f"acks must be -1, 0 or 1, not {acks}")
    timeout_s = field(body, "timeout_ms", int, broker.request_timeout_ms) / 1000
    entries = items(body, "entries")
    results = await asyncio.gather(*(_one(ctx, broker, e, acks, timeout_s) for e in entries))
    return {"results": results}


async def _one(ctx: HandlerContext, broker: Broker, entry: dict[str, Any], acks: int,
               timeout_s: float) -> dict[str, Any]:
    res: dict[str, Any] = {"topic": entry.get("topic"), "partition": entry.get("partition"),
                           "error_code": 0, "message": "", "base_offset": -1, "log_append_time": -1}
    try:
        topic = field(entry, "topic", str)
        access.require_topic(ctx, Operation.WRITE, topic)
        partition = field(entry, "partition", int)
        batch = field(entry, "batch", bytes)
        appended = await broker.produce_one(topic, partition, batch, acks, timeout_s)
        res["base_offset"], res["log_append_time"] = appended.base_offset, appended.log_append_time_ms
    except KraftError as e:
        set_partition_error(res, e)
    return res
