"""create_acls: ACL bindings added to the cluster in one metadata entry (Kafka's CreateAcls, over the
native protocol: ``kraft acl add``, ``Admin.create_acls``); one invalid binding refuses the request
(INVALID_REQUEST, Kafka's message), a binding there already is no change. Needs ALTER on the cluster."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers import _acls
from kraft.node.handlers._errors import wire_code
from kraft.state.acls import Operation, validate_binding

API = "create_acls"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.ALTER)
    bindings = _acls.bindings(body)
    for b in bindings:
        validate_binding(b)
    results = await ctx.broker.create_acls(bindings) if bindings else []
    return {"results": [[0, ""] if e is None else [wire_code(e), e.message] for e in results]}
