"""reassign_partitions: start, change or cancel (``null``) moves of a topic's partitions to other
replicas, ``{"topic": name, "partitions": {partition: [node ids] | null}}``; checked whole first."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "reassign_partitions"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.ALTER)
    topic = field(body, "topic", str)
    raw: dict[Any, Any] = field(body, "partitions", dict)
    moves: dict[int, list[int] | None] = {}
    for p, replicas in raw.items():
        if not isinstance(p, int) or not (replicas is None or (
                isinstance(replicas, list) and all(isinstance(n, int) for n in replicas))):
            raise InvalidRequest("partitions maps a partition number to a list of node ids, or null")
        moves[p] = replicas
    await ctx.broker.reassign_partitions(topic, moves)
    return {}
