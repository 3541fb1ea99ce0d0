"""list_reassignments: every partition being moved, with its replicas and the replicas it moves to."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext

API = "list_reassignments"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    return {"reassignments": [
        {"topic": r.topic, "partition": r.partition, "replicas": list(r.replicas), "target": list(r.target),
         "adding": list(r.adding), "removing": list(r.removing)} for r in ctx.broker.reassignments()]}
