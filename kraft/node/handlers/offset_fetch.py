"""offset_fetch: a group's committed offsets (-1 where none) and their metadata strings, from this
node's metadata replica."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "offset_fetch"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    group_id = field(body, "group_id", str)
    access.require_group(ctx, Operation.DESCRIBE, group_id)
    wanted = field(body, "partitions", list, None)
    committed = ctx.coordinator.committed(group_id)
    offsets = dict(committed.offsets) if committed is not None else {}
    metadata = dict(committed.metadata) if committed is not None else {}
    if wanted is None:
        keys = sorted(offsets)
    else:
        keys = [(field(p, "topic", str), field(p, "partition", int)) for p in wanted if isinstance(p, dict)]
    keys = [(t, p) for t, p in keys if access.topic(ctx, Operation.DESCRIBE, t)]  # others left out
    return {"offsets": [{"topic": t, "partition": p, "offset": offsets.get((t, p), -1),
                         "metadata": metadata.get((t, p), "")} for t, p in keys]}
