"""AlterPartitionReassignments (45): start, change or cancel (replicas null) moves of partitions to
other replicas; answered per partition. Kafka clients send it to the controller; in kraft any node
takes it (the metadata group forwards it to its leader). One topic's moves are one metadata entry:
a bad partition refuses that topic's whole request, each of its partitions answering the error.
v1 (KIP-860) may forbid changing a partition's replication factor: such a move is then refused with
INVALID_REPLICATION_FACTOR, as Kafka does (v0 and kraft's own clients may change it).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 45
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    _auth.require_cluster(ctx, Operation.ALTER)
    responses = []
    for topic in request["topics"]:
        moves = {int(p["partition_index"]): None if p["replicas"] is None else [int(n) for n in p["replicas"]]
                 for p in topic["partitions"]}
        code, message = 0, None
        try:
            allow = request.get("allow_replication_factor_change", True)
            await ctx.broker.reassign_partitions(topic["name"], moves, allow_replication_factor_change=allow)
        except errors.KraftError as e:
            code, message = kafka_code(e), e.message
        responses.append({"name": topic["name"], "partitions": [
            {"partition_index": p, "error_code": code, "error_message": message} for p in moves]})
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "responses": responses}

