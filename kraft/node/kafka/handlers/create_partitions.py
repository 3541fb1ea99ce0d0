"""CreatePartitions (37): grow topics to a new partition count, each topic answered on its own.

A topic without ``assignments`` gets its new partitions placed by kraft as if it had been created
with the new count (``kraft.placement.new_partitions``); with them, each new partition goes on the
nodes listed for it once they are checked. Kafka's errors: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS
(37) when the count is not above the current one, INVALID_REPLICA_ASSIGNMENT (39) for assignments of
the wrong number, the wrong replication factor, a node twice or an unknown node, INVALID_REQUEST for
a topic named twice in one request. ``validate_only`` checks everything and changes nothing. The
answer comes once the change is committed and applied on the node that answers (other nodes a
heartbeat later); the request's ``timeout`` is not used. kafka-python 3.0 sends v3 and librdkafka
2.16 (confluent-kafka) v2, both flexible (``kraft.protocol.kafka.codec`` encodes that from the
schema); v0-v1 are the same fields for older clients.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 37
MIN_VERSION = 0
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    named = Counter(t["name"] for t in request["topics"])
    results = []
    for t in request["topics"]:
        res = {"name": t["name"], "error_code": 0, "error_message": None}
        try:
            if named[t["name"]] > 1:
                raise errors.InvalidRequest(f"topic {t['name']!r} is named more than once in the request")
            if not _auth.topic(ctx, Operation.ALTER, t["name"]):
                raise errors.TopicAuthorizationFailed(f"ALTER on topic {t['name']!r} is not allowed")
            assignments = t.get("assignments")
            replicas = None if assignments is None else [list(a["broker_ids"]) for a in assignments]
            await ctx.broker.create_partitions(t["name"], t["count"], replicas,
                                               validate_only=bool(request.get("validate_only")))
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        results.append(res)
    return {"throttle_time": 0, "results": results}
