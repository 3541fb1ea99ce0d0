"""OffsetForLeaderEpoch (23): where a leader epoch ends in a partition's log, so a consumer can check
after a leader change that its position is still in the log (KIP-320) rather than skip the check.

Answered by the partition's leader from its leader epochs (``kraft.state.leader_epochs``): the
largest epoch at or below the one asked and the start offset of the next one (the log end for the
current epoch); -1 and -1 for an epoch later than the current one. ``current_leader_epoch`` is
checked as Fetch does. Follower requests (``replica_id`` >= 0, v3+) do not exist in kraft (Raft
replicates), and are answered as a consumer's are. kio has v2 and later only (Kafka 4 dropped v0
and v1, KIP-896); librdkafka and the Java client ask v2 or later.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 23
MIN_VERSION = 2
MAX_VERSION = 4


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    topics = []
    for t in request["topics"]:
        parts = []
        for p in t["partitions"]:
            res = {"partition": p["partition"], "error_code": 0, "leader_epoch": -1, "end_offset": -1}
            try:
                if not _auth.topic(ctx, Operation.DESCRIBE, t["topic"]):
                    raise errors.TopicAuthorizationFailed(f"DESCRIBE on topic {t['topic']!r} is not allowed")
                found = ctx.broker.offset_for_leader_epoch(t["topic"], p["partition"], p["leader_epoch"],
                                                           p.get("current_leader_epoch", -1))
                res.update(leader_epoch=found.leader_epoch, end_offset=found.end_offset)
            except errors.KraftError as e:
                res["error_code"] = kafka_code(e)
            parts.append(res)
        topics.append({"topic": t["topic"], "partitions": parts})
    return {"topics": topics}
