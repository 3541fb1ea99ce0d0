"""JoinGroup (11): enter a Kafka-protocol group's rebalance; answers when the round completes. The
leader's answer lists every member's metadata so it can compute the assignment (client-side, as
Kafka). The topics inside "consumer" subscriptions are read so that partitions added to them, or
topics created later, trigger a rebalance. A static member (v5+ ``group_instance_id``) that rejoins a
Stable group without a member id gets its former assignment back without a round; if it leads, v9+
tells it to skip assigning (older versions get no member list, so nothing is recomputed).

A new member's first JoinGroup (v4+, no member id, not static) is answered MEMBER_ID_REQUIRED with a
member id to join with (KIP-394), as Kafka: a client that abandons a join (librdkafka does when its
subscription changes meanwhile) then leaves no member behind for every later round to wait on."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.groups.consumer_protocol import subscription_topics
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 11
MIN_VERSION = 0
MAX_VERSION = 9
MEMBER_ID_REQUIRED_FROM = 4  # KIP-394


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    protocols = [(p["name"], p["metadata"]) for p in request["protocols"]]
    topics = (subscription_topics(protocols[0][1]) or []) if protocols else []
    session_ms = request["session_timeout"]
    rebalance_ms = request.get("rebalance_timeout", -1)
    instance_id = request.get("group_instance_id") or None
    try:
        if not _auth.group(ctx, Operation.READ, request["group_id"]):
            raise errors.GroupAuthorizationFailed(f"READ on group {request['group_id']!r} is not allowed")
        if ctx.version >= MEMBER_ID_REQUIRED_FROM and not request["member_id"] and instance_id is None:
            member_id = ctx.coordinator.pending_member(request["group_id"], ctx.client_id, session_ms)
            return _refused(kafka_code(errors.MemberIdRequired), member_id)
        answer = await ctx.coordinator.join(
            request["group_id"], request["member_id"], ctx.client_id, ctx.client_host, topics, session_ms,
            rebalance_ms if rebalance_ms > 0 else session_ms, "",
            protocol_type=request["protocol_type"] or "consumer", protocols=protocols,
            instance_id=instance_id)
    except errors.KraftError as e:
        return _refused(kafka_code(e), request["member_id"])
    skip = bool(answer.get("skip_assignment"))
    members = answer["member_metadata"] if ctx.version >= 9 or not skip else []
    instances = answer.get("instance_ids", {})
    return {"error_code": 0, "generation_id": answer["generation"], "protocol_name": answer["protocol"],
            "protocol_type": request["protocol_type"] or "consumer", "leader": answer["leader"],
            "skip_assignment": skip, "member_id": answer["member_id"],
            "members": [{"member_id": mid, "group_instance_id": instances.get(mid), "metadata": meta}
                        for mid, meta in members]}


def _refused(code: int, member_id: str) -> dict[str, Any]:
    return {"error_code": code, "generation_id": -1, "protocol_name": "", "leader": "", "member_id": member_id,
            "members": []}
