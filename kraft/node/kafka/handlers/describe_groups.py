"""DescribeGroups (15): state, protocol and members of groups. Native kraft groups are described in
Kafka's "consumer" protocol too (subscription and assignment bytes built from what kraft knows), so
Kafka tools can show them; an unknown group is "Dead", as Kafka answers."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.groups.consumer_protocol import encode_assignment, encode_subscription
from kraft.groups.coordinator import GroupCoordinator
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 15
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    return {"groups": [_describe(ctx.coordinator, g) if _auth.group(ctx, Operation.DESCRIBE, g) else _denied(g)
                       for g in request["groups"]]}


def _denied(group_id: str) -> dict[str, Any]:
    return {"error_code": kafka_code(errors.GroupAuthorizationFailed), "group_id": group_id, "group_state": "",
            "protocol_type": "", "protocol_data": "", "members": []}


def _describe(coordinator: GroupCoordinator, group_id: str) -> dict[str, Any]:
    try:
        d = coordinator.describe(group_id)
    except errors.GroupIdNotFound:
        return {"error_code": 0, "group_id": group_id, "group_state": "Dead", "protocol_type": "",
                "protocol_data": "", "members": []}
    except errors.KraftError as e:
        return {"error_code": kafka_code(e), "group_id": group_id, "group_state": "", "protocol_type": "",
                "protocol_data": "", "members": []}
    native = not d.get("protocol_type")
    members = []
    for m in d["members"]:
        tps = [tuple(tp) for tp in m["assignment"]]
        members.append({
            "member_id": m["member_id"], "group_instance_id": m.get("instance_id"),
            "client_id": m["client_id"], "client_host": m["host"],
            "member_metadata": encode_subscription(sorted({t for t, _ in tps})) if native else m["metadata"],
            "member_assignment": encode_assignment(tps) if native else m["assignment_bytes"]})
    return {"error_code": 0, "group_id": group_id, "group_state": d["state"],
            "protocol_type": "consumer" if native else d["protocol_type"], "protocol_data": d["strategy"],
            "members": members}
