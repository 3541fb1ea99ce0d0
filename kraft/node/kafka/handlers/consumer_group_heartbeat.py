"""ConsumerGroupHeartbeat (68): a KIP-848 consumer-protocol member joins (epoch 0), heartbeats, reports the
partitions it owns, and leaves (-1, or -2 for a static member coming back); the answer is its member epoch,
the heartbeat interval and, when it changed, its assignment.

Topics travel as topic ids here: owned partitions of unknown ids are dropped (the topic is gone), assignments
name topics by their ids. v0 lets the coordinator draw a member id for an empty one; from v1 the client draws
it (empty: INVALID_REQUEST). v1's SubscribedTopicRegex subscribes the member to every topic whose whole name
the RE2 regex matches, beside its topic names, as Kafka 4.0 (null: unchanged, "": none;
INVALID_REGULAR_EXPRESSION (128) if it does not compile); topics created or deleted later move the group to a
new epoch as a subscribed topic's partition count does. Errors go out as Kafka codes with the member epoch 0,
as Kafka answers them.
"""

from __future__ import annotations

import uuid
from typing import Any

from kraft import errors
from kraft.groups.consumer_group import JOIN_EPOCH, Heartbeat, Partitions
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 68
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    try:
        if not _auth.group(ctx, Operation.READ, request.get("group_id") or ""):
            raise errors.GroupAuthorizationFailed(f"READ on group {request.get('group_id')!r} is not allowed")
        heartbeat = _heartbeat(ctx, request)
        answer = await ctx.coordinator.consumer_heartbeat(request.get("group_id") or "", heartbeat)
    except errors.KraftError as e:
        return {"error_code": kafka_code(e), "error_message": e.message, "member_id": request.get("member_id"),
                "member_epoch": 0, "heartbeat_interval": 0, "assignment": None}
    assignment = None
    if answer.assignment is not None:
        assignment = {"topic_partitions": _by_topic_id(ctx, answer.assignment)}
    return {"error_code": 0, "member_id": answer.member_id, "member_epoch": answer.member_epoch,
            "heartbeat_interval": ctx.coordinator.consumer_heartbeat_interval_ms, "assignment": assignment}


def _heartbeat(ctx: KafkaContext, request: dict[str, Any]) -> Heartbeat:
    member_id = request.get("member_id") or ""
    epoch = int(request["member_epoch"])
    if not member_id and epoch == JOIN_EPOCH and ctx.version == 0:
        member_id = uuid.uuid4().hex  # v0: the coordinator names a new member
    names = request.get("subscribed_topic_names")
    owned = request.get("topic_partitions")
    return Heartbeat(
        member_id=member_id, member_epoch=epoch, instance_id=request.get("instance_id") or None,
        rack_id=request.get("rack_id"), rebalance_timeout_ms=int(request.get("rebalance_timeout", -1)),
        topics=None if names is None else tuple(names), regex=request.get("subscribed_topic_regex"),
        assignor=request.get("server_assignor"),
        owned=None if owned is None else _owned(ctx, owned), client_id=ctx.client_id, host=ctx.client_host)


def _owned(ctx: KafkaContext, topics: list[dict[str, Any]]) -> Partitions:
    out: set[tuple[str, int]] = set()
    for t in topics:
        topic_id = t.get("topic_id")
        name = ctx.broker.topic_name(topic_id) if isinstance(topic_id, uuid.UUID) else None
        if name is not None:
            out.update((name, int(p)) for p in t.get("partitions") or ())
    return frozenset(out)


def _by_topic_id(ctx: KafkaContext, partitions: Partitions) -> list[dict[str, Any]]:
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(partitions):
        by_topic.setdefault(topic, []).append(p)
    out = []
    for topic, ps in by_topic.items():
        topic_id = ctx.broker.topic_uuid(topic)
        if topic_id is not None:  # deleted since the target was computed: the next epoch drops it
            out.append({"topic_id": topic_id, "partitions": ps})
    return out
