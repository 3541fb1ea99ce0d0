"""delete_acls: every ACL binding any of the request's filters matches goes, in one metadata entry
(Kafka's DeleteAcls, over the native protocol: ``kraft acl remove``, ``Admin.delete_acls``); answers,
per filter, the bindings it matched. Needs ALTER on the cluster."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers import _acls
from kraft.node.handlers._errors import wire_code
from kraft.state.acls import Operation

API = "delete_acls"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.ALTER)
    filters = _acls.filters(body, "filters")
    deleted = await ctx.broker.delete_acls(filters) if filters else []
    return {"results": [{"error_code": 0 if e is None else wire_code(e), "message": "" if e is None else e.message,
                         "acls": [b.row() for b in matched]} for e, matched in deleted]}
