"""ListGroups (16): the groups this node coordinates. Only the coordinator (the metadata leader)
lists any, so a client that asks every broker and joins the answers sees each group once.

Versions 0-5: v3 is flexible, v4 adds ``states_filter`` and each group's state (KIP-518: Empty,
Stable, PreparingRebalance, CompletingRebalance for classic groups; Assigning and Reconciling too
for consumer-protocol ones), v5 ``types_filter`` and each group's type (KIP-848: ``classic`` or
``consumer``). Filters compare without case; an empty one lets every group through. kraft never
lists a Dead group: a deleted group is gone from the coordinator at once.
"""

from __future__ import annotations

from typing import Any

from kraft.groups.coordinator import select_groups
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 16
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    groups = select_groups(ctx.coordinator.list_group_states(), request.get("states_filter") or (),
                           request.get("types_filter") or ())
    if not _auth.cluster(ctx, Operation.DESCRIBE):  # Kafka: DESCRIBE on the cluster sees every group,
        groups = [g for g in groups if _auth.group(ctx, Operation.DESCRIBE, g.group_id)]  # else those it may
    return {"error_code": 0, "throttle_time": 0,
            "groups": [{"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.state,
                        "group_type": g.type} for g in groups]}
