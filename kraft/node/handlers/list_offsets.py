"""list_offsets: earliest (-2), latest (-1, the high watermark) or the offset of the first record at
or after a timestamp, with the leader epoch it was written in."""

from __future__ import annotations

from typing import Any

from kraft.errors import KraftError
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items
from kraft.node.handlers._errors import set_partition_error
from kraft.state.acls import Operation

API = "list_offsets"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    out = []
    for p in items(body, "partitions"):
        res: dict[str, Any] = {"topic": p.get("topic"), "partition": p.get("partition"),
                               "error_code": 0, "message": "", "offset": -1}
        try:
            access.require_topic(ctx, Operation.DESCRIBE, field(p, "topic", str))
            found = ctx.broker.list_offset(field(p, "topic", str), field(p, "partition", int),
                                           field(p, "timestamp", int, -1))
            if found is not None:  # None only for the largest timestamp (-3) of an empty log
                res["offset"], res["leader_epoch"] = found.offset, found.leader_epoch
        except KraftError as e:
            set_partition_error(res, e)
        out.append(res)
    return {"partitions": out}
