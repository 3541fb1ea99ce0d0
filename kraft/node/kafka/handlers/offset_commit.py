"""OffsetCommit (8): a group's positions, fenced by generation, replicated through the metadata group,
each with its commit metadata string (OffsetFetch returns it; OFFSET_METADATA_TOO_LARGE over 4096
bytes). Retention times are not kept (commits stay until their topic or group is deleted).

Versions 2-8, as Kafka 3.7: v5 drops the retention time, v6 adds ``committed_leader_epoch`` (kept with the
offset, replicated, and answered by OffsetFetch v5+, so a consumer validates a fetched position against the
log after a leader change, KIP-320), v7 carries ``group_instance_id``, passed to the coordinator, which fences
a static member whose instance id a newer member took (FENCED_INSTANCE_ID), v8 is flexible, v9 (KIP-848, the
same fields) carries a consumer-protocol member's member epoch in ``generation_id_or_member_epoch``: the
coordinator checks it against the member's epoch (STALE_MEMBER_EPOCH behind, FENCED_MEMBER_EPOCH ahead). Such
a member committing with v8 or older is checked the same way (Kafka refuses it with UNSUPPORTED_VERSION; kraft
takes the epoch where Kafka's older clients put their generation)."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code, kafka_code_for
from kraft.state.acls import Operation

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 9


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    offsets = [(t["name"], p["partition_index"], p["committed_offset"], p.get("committed_metadata") or "",
                 int(p.get("committed_leader_epoch", -1))) for t in request["topics"] for p in t["partitions"]]
    # Kafka: READ on the group, else every partition fails; READ on each topic, else its partitions do
    denied = _auth.topics_denied(ctx, Operation.READ, (o[0] for o in offsets))
    try:
        if not _auth.group(ctx, Operation.READ, request["group_id"]):
            raise errors.GroupAuthorizationFailed(f"READ on group {request['group_id']!r} is not allowed")
        allowed = [o for o in offsets if o[0] not in denied]
        results = await ctx.coordinator.commit(request["group_id"], request["member_id"],
                                               request["generation_id_or_member_epoch"], allowed,
                                               instance_id=request.get("group_instance_id")) if allowed else []
        done = iter(kafka_code_for(code) for code, _ in results)
        unauthorized = kafka_code(errors.TopicAuthorizationFailed)
        codes = [unauthorized if o[0] in denied else next(done) for o in offsets]
    except errors.NonEmptyGroup:
        # A commit without a member id and generation (a consumer using assign()) into a group with
        # members: Kafka answers UNKNOWN_MEMBER_ID, which clients know (NON_EMPTY_GROUP is for deletes).
        codes = [kafka_code(errors.UnknownMemberId)] * len(offsets)
    except errors.KraftError as e:
        codes = [kafka_code(e)] * len(offsets)
    it = iter(codes)
    return {"topics": [{"name": t["name"], "partitions": [{"partition_index": p["partition_index"],
                                                           "error_code": next(it)} for p in t["partitions"]]}
                       for t in request["topics"]]}
