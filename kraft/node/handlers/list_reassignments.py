"""list_reassignments: every partition being moved, with its replicas and the replicas it moves to.
Request ``{"from_leader": bool}``: true (kraft's Admin) is answered by the metadata leader only
(NOT_CONTROLLER elsewhere: a follower's view may lag, and an empty answer from a lagging node once
ended a chaos run's wait for moves early); false answers from this node's own view."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.state.acls import Operation

API = "list_reassignments"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.DESCRIBE)
    moving = ctx.broker.reassignments(bool(body.get("from_leader")))
    return {"reassignments": [
        {"topic": r.topic, "partition": r.partition, "replicas": list(r.replicas), "target": list(r.target),
         "adding": list(r.adding), "removing": list(r.removing)} for r in moving]}
