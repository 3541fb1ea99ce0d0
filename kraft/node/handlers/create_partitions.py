"""create_partitions: grow a topic to ``total`` partitions (Kafka's CreatePartitions), placed by the
broker or on the replica lists the request gives; committed through the metadata group.

Request ``{"topic", "total", "assignment": [[node id]] | nil, "validate_only"}``; answer ``{"topic",
"previous", "partitions", "assignment": [[node id]]}`` (the new partitions' replicas). Errors:
UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS (37) when ``total`` is not above the current count,
INVALID_REPLICA_ASSIGNMENT (39) for a bad ``assignment``.
Owns: that shape. Must not: decide placement or what a count may be (``Broker.create_partitions``).
"""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "create_partitions"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    assignment: list[Any] | None = field(body, "assignment", list, None)
    if assignment is not None and not all(
            isinstance(r, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in r) for r in assignment):
        raise InvalidRequest("field 'assignment' must be a list of lists of node ids")
    access.require_topic(ctx, Operation.ALTER, field(body, "topic", str))
    created = await ctx.broker.create_partitions(
        field(body, "topic", str),
        field(body, "total", int),
        assignment,
        validate_only=field(body, "validate_only", bool, False),
    )
    return {"topic": created.topic, "previous": created.previous, "partitions": created.partitions,
            "assignment": [list(r) for r in created.assignment]}
