"""ListOffsets (2): earliest (-2), latest (-1), the record with the largest timestamp (-3, v7+,
KIP-734: its own offset and timestamp, the first of several with it; -1/-1 for an empty log) or
the first record whose timestamp is at or after the one asked (the record's own offset and
timestamp, even inside a batch), with the leader epoch it was written in (v4+).
``current_leader_epoch`` (v4+) is checked as Fetch does: FENCED_LEADER_EPOCH when older than the
leader's, UNKNOWN_LEADER_EPOCH when newer.

A timestamp after every record gets offset -1 and timestamp -1, as Kafka answers. Versions 0-7, as
Kafka 3.7 (v0, for clients pinned to Kafka 0.9: one offset in its list of old-style offsets, by
the same rules, where Kafka 0.9 listed segment starts before the timestamp; none for an error;
v5 adds nothing kraft needs: its leader answers only once elected and applied; v6 is flexible).
Isolation levels are the same here: there are no transactions, so the last stable offset is the
high watermark.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 2
MIN_VERSION = 0
MAX_VERSION = 7


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    topics = []
    for t in request["topics"]:
        allowed = _auth.topic(ctx, Operation.DESCRIBE, t["name"])
        parts = []
        for p in t["partitions"]:
            res = {"partition_index": p["partition_index"], "error_code": 0, "timestamp": -1, "offset": -1,
                   "leader_epoch": -1}
            try:
                if not allowed:
                    raise errors.TopicAuthorizationFailed(f"DESCRIBE on topic {t['name']!r} is not allowed")
                found = ctx.broker.list_offset(t["name"], p["partition_index"], p["timestamp"], exact=True,
                                               current_leader_epoch=p.get("current_leader_epoch", -1))
                if found is not None:
                    res.update(offset=found.offset, timestamp=found.timestamp, leader_epoch=found.leader_epoch)
            except errors.KraftError as e:
                res["error_code"] = kafka_code(e)
            parts.append(res)
        topics.append({"name": t["name"], "partitions": parts})
    return {"topics": topics}
