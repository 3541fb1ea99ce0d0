"""decommission_node: mark nodes as leaving and answer the moves of every replica off them, which the
client then carries out (``reassign_partitions``). Request ``{"nodes": [id, ...]}`` (or ``{"node":
id}``); answer as ``kraft.node.handlers._plan``. Refused, with nothing changed: BROKER_ID_NOT_REGISTERED
(102) for a node the cluster does not know, NOT_ENOUGH_NODES (1006) when the nodes left could not hold
some topic's replication factor."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.node.handlers._plan import plan_body
from kraft.state.acls import Operation

API = "decommission_node"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.ALTER)
    one = field(body, "node", int, None)
    nodes: list[Any] = field(body, "nodes", list, [] if one is None else [one])
    if not nodes or not all(isinstance(n, int) and not isinstance(n, bool) for n in nodes):
        raise InvalidRequest("nodes must be a non-empty list of node ids")
    return plan_body(await ctx.broker.decommission_nodes(nodes))
