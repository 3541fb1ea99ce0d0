"""ConsumerGroupDescribe (69): KIP-848 consumer-protocol groups with their group epoch, assignor,
and per member its epoch, subscription, current assignment and target assignment. A group that is
not a consumer-protocol group here answers GROUP_ID_NOT_FOUND (Kafka does the same for classic
groups); an empty one known only by its committed offsets is "Empty" at its replicated epoch."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.groups.consumer_group import Partitions
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 69
MIN_VERSION = 0
MAX_VERSION = 1
CONSUMER_MEMBER_TYPE = 1  # v1's member_type: 1 = a consumer-protocol member


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    return {"groups": [_describe(ctx, g) for g in request.get("group_ids") or ()]}


def _describe(ctx: KafkaContext, group_id: str) -> dict[str, Any]:
    empty = {"group_id": group_id, "group_state": "", "group_epoch": -1, "assignment_epoch": -1,
             "assignor_name": "", "members": []}
    try:
        if not _auth.group(ctx, Operation.DESCRIBE, group_id):
            raise errors.GroupAuthorizationFailed(f"DESCRIBE on group {group_id!r} is not allowed")
        group = ctx.coordinator.consumer_group(group_id)
    except errors.KraftError as e:
        return {**empty, "error_code": kafka_code(e), "error_message": e.message}
    if group is None:
        replicated = ctx.coordinator.committed(group_id)
        if replicated is None or ctx.coordinator.is_classic_group(group_id):
            missing = errors.GroupIdNotFound(f"group {group_id!r} is not a consumer-protocol group")
            return {**empty, "error_code": kafka_code(missing), "error_message": missing.message}
        return {**empty, "error_code": 0, "group_state": "Empty", "group_epoch": replicated.generation,
                "assignment_epoch": replicated.generation, "assignor_name": ""}
    members = [{"member_id": mid, "instance_id": m.instance_id, "rack_id": m.rack_id, "member_epoch": m.epoch,
                "client_id": m.client_id, "client_host": m.host, "subscribed_topic_names": list(m.topics),
                "subscribed_topic_regex": m.regex.pattern if m.regex is not None else None,
                "assignment": {"topic_partitions": _partitions(ctx, m.assigned)},
                "target_assignment": {"topic_partitions": _partitions(ctx, group.target.get(mid, frozenset()))},
                "member_type": CONSUMER_MEMBER_TYPE}
               for mid, m in group.members.items()]
    return {"error_code": 0, "group_id": group_id, "group_state": group.state.value, "group_epoch": group.epoch,
            "assignment_epoch": group.assignment_epoch, "assignor_name": group.assignor, "members": members}


def _partitions(ctx: KafkaContext, partitions: Partitions) -> list[dict[str, Any]]:
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(partitions):
        by_topic.setdefault(topic, []).append(p)
    return [{"topic_id": ctx.broker.topic_uuid(t), "topic_name": t, "partitions": ps}
            for t, ps in by_topic.items() if ctx.broker.topic_uuid(t) is not None]
