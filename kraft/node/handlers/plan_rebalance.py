"""plan_rebalance: the moves that spread replicas and preferred leaders evenly over the nodes and off
any decommissioned one (``kraft.rebalance``), from this node's metadata; nothing is moved. Request
``{"from_leader": bool}`` (true: answered by the metadata leader only, NOT_CONTROLLER elsewhere, as
kraft's Admin asks); answer as ``kraft.node.handlers._plan``."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._plan import plan_body
from kraft.state.acls import Operation

API = "plan_rebalance"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.DESCRIBE)
    return plan_body(await ctx.broker.plan_rebalance(bool(body.get("from_leader"))))
