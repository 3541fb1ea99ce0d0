"""LeaveGroup (13): members leave at once (the others rebalance without waiting for their sessions).
v3+ names several members, each by member id or static instance id, with an error per member."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 13
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if not _auth.group(ctx, Operation.READ, request["group_id"]):
        raise errors.GroupAuthorizationFailed(f"READ on group {request['group_id']!r} is not allowed")
    group_id = request["group_id"]
    if ctx.version < 3:
        ctx.coordinator.leave(group_id, request["member_id"])
        return {"error_code": 0}
    answers = []
    for m in request["members"] or []:
        instance_id = m.get("group_instance_id") or None
        try:
            ctx.coordinator.leave(group_id, m["member_id"], instance_id)
            code = 0
        except errors.NotCoordinator:
            raise  # the whole request goes to the coordinator
        except errors.KraftError as e:
            code = kafka_code(e)
        answers.append({"member_id": m["member_id"], "group_instance_id": instance_id, "error_code": code})
    return {"error_code": 0, "members": answers}
