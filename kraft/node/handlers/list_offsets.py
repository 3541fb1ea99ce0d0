"""list_offsets: earliest (-2), latest (-1, the high watermark) or the first offset at a timestamp."""

from __future__ import annotations

from typing import Any

from kraft.errors import KraftError
from kraft.node.handlers._body import field, items

API = "list_offsets"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    out = []
    for p in items(body, "partitions"):
        res: dict[str, Any] = {"topic": p.get("topic"), "partition": p.get("partition"),
                               "error_code": 0, "message": "", "offset": -1}
        try:
            res["offset"] = broker.list_offset(
                field(p, "topic", str), field(p, "partition", int), field(p, "timestamp", int, -1)
            )
        except KraftError as e:
            res["error_code"], res["message"] = e.code, e.message
            if "leader" in e.details:
                res["leader"] = e.details["leader"]
        out.append(res)
    return {"partitions": out}
