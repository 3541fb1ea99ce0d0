"""ListPartitionReassignments (46): the partitions being moved (all, or those asked for), each with
its replicas now and the ones being added and removed, from this node's metadata."""

from __future__ import annotations

from typing import Any

from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 46
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    _auth.require_cluster(ctx, Operation.DESCRIBE)
    wanted = None if request.get("topics") is None else {
        (t["name"], int(p)) for t in request["topics"] for p in t["partition_indexes"]}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for r in ctx.broker.reassignments():
        if wanted is not None and (r.topic, r.partition) not in wanted:
            continue
        by_topic.setdefault(r.topic, []).append({
            "partition_index": r.partition, "replicas": sorted(set(r.replicas) | set(r.target)),
            "adding_replicas": list(r.adding), "removing_replicas": list(r.removing)})
    return {"throttle_time": 0, "error_code": 0, "error_message": None,
            "topics": [{"name": name, "partitions": parts} for name, parts in sorted(by_topic.items())]}
