"""OffsetFetch (9): groups' committed offsets (-1 where none) with their commit metadata strings,
from the replicated metadata.

Versions 1-8, as Kafka 3.7: v2+ may ask for every committed partition (null topics), v5+ answers a
``committed_leader_epoch`` (-1: kraft does not keep the epoch a commit was made in), v6 is flexible,
v7's ``require_stable`` needs nothing (no transactions: no offsets are ever pending), and v8 asks for
several groups in one request and answers each on its own (``groups``).
"""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 9
MIN_VERSION = 1
MAX_VERSION = 8
BATCHED_FROM = 8  # the version that names groups in a list


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if ctx.version >= BATCHED_FROM:
        return {"groups": [{"group_id": g["group_id"], "error_code": 0, "topics": _topics(ctx, g["group_id"],
                                                                                           g.get("topics"))}
                           for g in request["groups"]]}
    return {"error_code": 0, "topics": _topics(ctx, request["group_id"], request.get("topics"))}


def _topics(ctx: KafkaContext, group_id: str, wanted: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One group's answer: the partitions asked for (None: every one it has committed)."""
    committed = ctx.coordinator.committed(group_id)
    offsets = dict(committed.offsets) if committed is not None else {}
    metadata = dict(committed.metadata) if committed is not None else {}
    if wanted is None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(offsets):
            by_topic.setdefault(topic, []).append(partition)
        wanted = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
    return [{"name": t["name"], "partitions": [
        {"partition_index": p, "committed_offset": offsets.get((t["name"], p), -1), "committed_leader_epoch": -1,
         "metadata": metadata.get((t["name"], p), ""), "error_code": 0} for p in t["partition_indexes"]]}
        for t in wanted]
