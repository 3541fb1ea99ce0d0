"""plan_rebalance: the moves that spread replicas and preferred leaders evenly over the nodes and off
any decommissioned one (``kraft.rebalance``), from this node's metadata; nothing is moved. Request
``{}``; answer as ``kraft.node.handlers._plan``. The client sends it to the metadata leader, whose view
is the newest."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext
from kraft.node.handlers._plan import plan_body

API = "plan_rebalance"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    return plan_body(await ctx.broker.plan_rebalance())
