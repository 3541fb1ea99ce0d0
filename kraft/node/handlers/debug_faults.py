"""debug_faults: set this node's Raft network faults (only on a node started with KRAFT_FAULTS=1)."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest, UnsupportedRequest
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.raft.faults import NetworkFaults, faults_allowed

API = "debug_faults"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    if not faults_allowed():  # before reading the body: a node without faults refuses any such request
        raise UnsupportedRequest("fault injection is off on this node (start it with KRAFT_FAULTS=1)")
    blocked = field(body, "blocked", list, [])
    if not all(isinstance(p, int) for p in blocked):
        raise InvalidRequest("blocked must be a list of node ids")
    try:
        faults = NetworkFaults(set(blocked), float(field(body, "loss", (int, float), 0.0)),
                               float(field(body, "duplicate", (int, float), 0.0)), field(body, "seed", int, 0),
                               float(field(body, "delay_ms", (int, float), 0)) / 1000)
    except ValueError as e:
        raise InvalidRequest(str(e)) from None
    ctx.broker.set_network_faults(faults)
    return {}
