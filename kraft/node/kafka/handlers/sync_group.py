"""SyncGroup (14): the leader hands in every member's assignment; each member gets its own. v5 names
the protocol type and name in both directions: a mismatch with the group's is INCONSISTENT_GROUP_PROTOCOL."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 14
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if not _auth.group(ctx, Operation.READ, request["group_id"]):
        raise errors.GroupAuthorizationFailed(f"READ on group {request['group_id']!r} is not allowed")
    group_id = request["group_id"]
    described = ctx.coordinator.group_protocol(group_id)
    for field, ours in zip(("protocol_type", "protocol_name"), described, strict=True):
        theirs = request.get(field)
        if theirs is not None and ours and theirs != ours:
            raise errors.InconsistentGroupProtocol(f"group {group_id!r} has {field} {ours!r}, not {theirs!r}")
    assignments = {a["member_id"]: a["assignment"] for a in request["assignments"] or []}
    mine = await ctx.coordinator.sync_assignments(group_id, request["member_id"], request["generation_id"],
                                                  assignments, request.get("group_instance_id") or None)
    protocol_type, protocol_name = ctx.coordinator.group_protocol(group_id)
    return {"error_code": 0, "protocol_type": protocol_type or None, "protocol_name": protocol_name or None,
            "assignment": mine}
