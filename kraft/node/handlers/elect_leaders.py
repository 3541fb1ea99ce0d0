"""elect_leaders: make partitions' preferred replicas (the first of each one's replicas) their leaders.

Request ``{"partitions": [{"topic", "partition"}] | nil (every partition), "timeout_ms": int | nil
(the node's request_timeout_ms, which also caps it), "local": bool}``. Any node answers: it asks each
partition's leader (``kraft.node.elections``). With ``local`` (the internal request one node sends
another) only the partitions this node leads are acted on. Answer ``{"partitions": [{"topic",
"partition", "preferred", "leader", "error_code", "message"}]}``, one per partition: error 0 when the
preferred replica took over, ELECTION_NOT_NEEDED (84) when it led already, PREFERRED_LEADER_NOT_AVAILABLE
(80) when it did not take over by the deadline, UNKNOWN_TOPIC_OR_PARTITION ...
Owns: reading the request. Must not: decide how an election runs (``kraft.node.elections`` and the
broker do), or shape the answer (``elections.results_body`` does, for the internal request too).
"""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access, elections
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = elections.API


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.ALTER)
    broker = ctx.broker
    wanted = field(body, "partitions", list, None)
    if wanted is not None and not all(isinstance(p, dict) and isinstance(p.get("topic"), str)
                                      and isinstance(p.get("partition"), int) for p in wanted):
        raise InvalidRequest("partitions must be a list of {topic: str, partition: int}")
    cap_ms = broker.request_timeout_ms
    timeout_ms = min(field(body, "timeout_ms", int, cap_ms), cap_ms)
    if timeout_ms < 0:
        raise InvalidRequest(f"timeout_ms must be >= 0, not {timeout_ms}")
    partitions = elections.every_partition(broker) if wanted is None else [(p["topic"], p["partition"]) for p in wanted]
    if field(body, "local", bool, False):
        results = await elections.elect_local(broker, partitions, timeout_ms / 1000)
    else:
        results = await elections.elect_preferred_leaders(broker, partitions, timeout_ms / 1000)
    return elections.results_body(results)
