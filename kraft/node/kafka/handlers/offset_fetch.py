"""OffsetFetch (9): groups' committed offsets (-1 where none) with their commit metadata strings
and leader epochs, from the replicated metadata.

Versions 1-9, as Kafka 3.7: v2+ may ask for every committed partition (null topics), v5+ answers
the ``committed_leader_epoch`` the commit named (-1 if it named none), v6 is flexible, v7's
``require_stable`` needs nothing (no transactions: no offsets are ever pending), v8 asks for several
groups in one request and answers each on its own (``groups``), and v9 (KIP-848) names the asking
member and its epoch: a consumer-protocol group's coordinator checks them as a commit's
(UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH, FENCED_MEMBER_EPOCH, as the group's error); no member id
and epoch -1 (an admin client, a classic consumer) is not checked, nor is a classic group's reader.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 9
MIN_VERSION = 1
MAX_VERSION = 9
BATCHED_FROM = 8  # the version that names groups in a list


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if ctx.version >= BATCHED_FROM:
        return {"groups": [_group(ctx, g) for g in request["groups"]]}
    if not _auth.group(ctx, Operation.DESCRIBE, request["group_id"]):
        raise errors.GroupAuthorizationFailed(f"DESCRIBE on group {request['group_id']!r} is not allowed")
    return {"error_code": 0, "topics": _topics(ctx, request["group_id"], request.get("topics"))}


def _group(ctx: KafkaContext, group: dict[str, Any]) -> dict[str, Any]:
    """One group of a batched request (v8+), its member checked first (v9)."""
    group_id = group["group_id"]
    try:
        if not _auth.group(ctx, Operation.DESCRIBE, group_id):
            raise errors.GroupAuthorizationFailed(f"DESCRIBE on group {group_id!r} is not allowed")
        ctx.coordinator.check_offset_fetch(group_id, group.get("member_id"), int(group.get("member_epoch", -1)))
    except errors.KraftError as e:
        return {"group_id": group_id, "error_code": kafka_code(e), "topics": []}
    return {"group_id": group_id, "error_code": 0, "topics": _topics(ctx, group_id, group.get("topics"))}


def _topics(ctx: KafkaContext, group_id: str, wanted: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One group's answer: the partitions asked for (None: every one it has committed)."""
    committed = ctx.coordinator.committed(group_id)
    offsets = dict(committed.offsets) if committed is not None else {}
    metadata = dict(committed.metadata) if committed is not None else {}
    epochs = dict(committed.leader_epochs) if committed is not None else {}
    if wanted is None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(offsets):
            by_topic.setdefault(topic, []).append(partition)
        # every topic: those this client may not describe are left out, as Kafka does
        wanted = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()
                  if _auth.topic(ctx, Operation.DESCRIBE, t)]
    unauthorized = kafka_code(errors.TopicAuthorizationFailed)
    out = []
    for t in wanted:
        name = t["name"]
        if not _auth.topic(ctx, Operation.DESCRIBE, name):
            out.append({"name": name, "partitions": [
                {"partition_index": p, "committed_offset": -1, "committed_leader_epoch": -1, "metadata": "",
                 "error_code": unauthorized} for p in t["partition_indexes"]]})
            continue
        out.append({"name": name, "partitions": [
            {"partition_index": p, "committed_offset": offsets.get((name, p), -1),
             "committed_leader_epoch": epochs.get((name, p), -1),
             "metadata": metadata.get((name, p), ""), "error_code": 0} for p in t["partition_indexes"]]})
    return out
