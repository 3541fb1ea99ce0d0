"""DescribeLogDirs (35): the partition replicas this node holds and their sizes, under one log dir.

A node keeps every replica in one LMDB environment, so it reports one log dir, its data directory
(``data_dir/<node id>``), with each replica's ``partition_size`` (the bytes of its batches from the
log start on, as stored), ``offset_lag`` 0 and ``is_future_key`` false (kraft never moves a replica
between directories). Clients ask every node; each answers for itself only. ``topics`` null means
every topic; otherwise exactly the (topic, partition) pairs listed that this node holds a replica of
are answered (a topic with an empty list gets nothing), as Kafka does.
Versions 1-4 (v0 is gone from Kafka 4's schemas; v2+ are flexible, encoded from the schema by
``kraft.protocol.kafka.codec``). Not 5: kafka-python takes DescribeLogDirs v5 for a sign of Kafka
4.3 and changes what it sends to the whole cluster.
"""

from __future__ import annotations

from typing import Any

from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import Operation

API_KEY = 35
MIN_VERSION = 1
MAX_VERSION = 4


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    _auth.require_cluster(ctx, Operation.DESCRIBE)
    wanted = request.get("topics")
    asked = None if wanted is None else {(t["topic"], p) for t in wanted for p in t["partitions"]}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(ctx.broker.node_status().replicas, key=lambda r: (r.topic, r.partition)):
        if asked is None or (r.topic, r.partition) in asked:
            by_topic.setdefault(r.topic, []).append({"partition_index": r.partition, "partition_size": r.size_bytes,
                                                     "offset_lag": 0, "is_future_key": False})
    log_dir = ctx.broker.log_dir()
    return {"throttle_time": 0, "error_code": 0, "results": [{
        "error_code": 0, "log_dir": log_dir.path, "total_bytes": log_dir.total_bytes,
        "usable_bytes": log_dir.usable_bytes,
        "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()]}]}
