"""A rebalance plan on the wire: what ``plan_rebalance`` and ``decommission_node`` answer.

``{"moves": [{"topic", "partition", "replicas", "target" (null unless the partition is being moved),
"planned"}], "replicas_before"|"replicas_after"|"leaders_before"|"leaders_after": [[node, count]],
"decommissioned": [node]}`` (pairs, not maps: node ids are ints; ``decommissioned``: the nodes replicas
leave, decommissioned or unknown). Owns that shape; must not compute plans (``kraft.rebalance``).
"""

from __future__ import annotations

from typing import Any

from kraft.rebalance import Plan


def plan_body(plan: Plan) -> dict[str, Any]:
    return {
        "moves": [{"topic": m.topic, "partition": m.partition, "replicas": list(m.replicas),
                   "target": None if m.target is None else list(m.target), "planned": list(m.planned)}
                  for m in plan.moves],
        "replicas_before": sorted(plan.replicas_before.items()),
        "replicas_after": sorted(plan.replicas_after.items()),
        "leaders_before": sorted(plan.leaders_before.items()),
        "leaders_after": sorted(plan.leaders_after.items()),
        "decommissioned": list(plan.decommissioned),
    }
