"""describe_acls: the cluster's ACL bindings any of the request's filters matches, each once (Kafka's
DescribeAcls, over the native protocol: ``kraft acl list``, ``Admin.describe_acls``). Needs DESCRIBE
on the cluster."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers import _acls
from kraft.state.acls import Operation

API = "describe_acls"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.DESCRIBE)
    filters = _acls.filters(body, "filters")
    return {"acls": [b.row() for b in ctx.broker.acls().bindings if any(f.matches(b) for f in filters)]}
