"""node_status: this node's view of its peers and of the partition groups it hosts."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.state.acls import Operation

API = "node_status"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    access.require_cluster(ctx, Operation.DESCRIBE)
    status = ctx.broker.node_status()
    return {"node_id": status.node_id, "peers": dict(status.peers), "metadata_learner": status.metadata_learner,
            "rejoining": status.rejoining,
            "learner_throttle": {"bytes_per_s": status.learner_throttle.bytes_per_s,
                                 "sent_bytes": status.learner_throttle.sent_bytes,
                                 "held": status.learner_throttle.held},
            "groups": [
        {"topic": r.topic, "partition": r.partition, "leader": r.leader, "term": r.term,
         "commit_index": r.commit_index, "high_watermark": r.high_watermark,
         "log_start_offset": r.log_start_offset, "size_bytes": r.size_bytes, "learner": r.learner,
         "last_index": r.last_index, "applied_index": r.applied_index,
         "compaction_settled": r.compaction_settled, "serving": r.serving,
         "followers": {n: {"state": state, "behind": behind} for n, (state, behind) in r.followers.items()}}
        for r in status.replicas]}
