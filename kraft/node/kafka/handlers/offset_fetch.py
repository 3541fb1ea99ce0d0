"""OffsetFetch (9): a group's committed offsets (-1 where none) with their commit metadata strings,
from the replicated metadata."""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 9
MIN_VERSION = 1
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    committed = ctx.coordinator.committed(request["group_id"])
    offsets = dict(committed.offsets) if committed is not None else {}
    metadata = dict(committed.metadata) if committed is not None else {}
    wanted = request.get("topics")
    if wanted is None:  # v2+: every partition the group has committed
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(offsets):
            by_topic.setdefault(topic, []).append(partition)
        wanted = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
    return {"error_code": 0, "topics": [
        {"name": t["name"], "partitions": [
            {"partition_index": p, "committed_offset": offsets.get((t["name"], p), -1),
             "metadata": metadata.get((t["name"], p), ""), "error_code": 0} for p in t["partition_indexes"]]}
        for t in wanted]}
