"""OffsetCommit (8): a group's positions, fenced by generation, replicated through the metadata group.
Commit metadata strings and retention times are not kept."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.handlers._common import code_of

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 3


async def handle(ctx: Any, request: dict[str, Any]) -> dict[str, Any]:
    offsets = [(t["name"], p["partition_index"], p["committed_offset"])
               for t in request["topics"] for p in t["partitions"]]
    try:
        results = await ctx.broker.groups.commit(request["group_id"], request["member_id"],
                                                 request["generation_id_or_member_epoch"], offsets)
        codes = [code for code, _ in results]
    except errors.NonEmptyGroup:
        # A commit without a member id and generation (a consumer using assign()) into a group with
        # members: Kafka answers UNKNOWN_MEMBER_ID, which clients know (NON_EMPTY_GROUP is for deletes).
        codes = [errors.UnknownMemberId.code] * len(offsets)
    except errors.KraftError as e:
        codes = [code_of(e)] * len(offsets)
    it = iter(codes)
    return {"topics": [{"name": t["name"], "partitions": [{"partition_index": p["partition_index"],
                                                           "error_code": next(it)} for p in t["partitions"]]}
                       for t in request["topics"]]}
