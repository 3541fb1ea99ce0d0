"""DeleteGroups (42): an operator removes consumer groups that have no members, their committed
offsets with them (kafkajs' ``admin.deleteGroups``, Kafka's ``kafka-consumer-groups --delete``).

Versions 0-2, as Kafka 3.7 (v2 is flexible). Per group: NON_EMPTY_GROUP while it has members,
GROUP_ID_NOT_FOUND if there is nothing to delete, NOT_COORDINATOR on a node that does not coordinate
groups, INVALID_GROUP_ID for an empty name.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 42
MIN_VERSION = 0
MAX_VERSION = 2
INVALID_GROUP_ID = 24


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    results = []
    for group_id in request["groups_names"]:
        code = 0
        if not group_id:
            code = INVALID_GROUP_ID
        elif not _auth.group(ctx, Operation.DELETE, group_id):
            code = kafka_code(errors.GroupAuthorizationFailed)
        else:
            try:
                await ctx.coordinator.delete_group(group_id)
            except errors.KraftError as e:
                code = kafka_code(e)
        results.append({"group_id": group_id, "error_code": code})
    return {"results": results}
