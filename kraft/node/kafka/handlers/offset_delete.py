"""OffsetDelete (47): an operator removes some of a consumer group's committed offsets (librdkafka's
DeleteConsumerGroupOffsets, Kafka's ``kafka-consumer-groups --delete-offsets``).

Version 0, as Kafka 3.7. Group-level errors (the whole answer): INVALID_GROUP_ID for an empty name,
NOT_COORDINATOR on a node that does not coordinate groups, GROUP_ID_NOT_FOUND for a group with
neither members nor commits, NON_EMPTY_GROUP for an active group whose subscriptions kraft cannot
read (a protocol other than Kafka's consumer protocol). Per partition: UNKNOWN_TOPIC_OR_PARTITION
for one the cluster does not have, GROUP_SUBSCRIBED_TO_TOPIC while a member of the group subscribes
to its topic; otherwise its commit goes (none to delete is no error, as Kafka).
ACLs, as Kafka's: DELETE on the group (else GROUP_AUTHORIZATION_FAILED for the whole request) and READ
on each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code, kafka_code_for
from kraft.state.acls import Operation

API_KEY = 47
MIN_VERSION = 0
MAX_VERSION = 0
INVALID_GROUP_ID = 24


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    asked = [(t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"]]
    counts = {t.name: len(t.partitions) for t in ctx.broker.metadata(sorted({n for n, _ in asked})).topics}
    readable = {t for t, _ in asked if _auth.topic(ctx, Operation.READ, t)}
    known = [(t, p) for t, p in asked if t in readable and 0 <= p < counts.get(t, 0)]
    codes = {tp: kafka_code(errors.UnknownTopicOrPartition if tp[0] in readable else errors.TopicAuthorizationFailed)
             for tp in asked}
    group_code = 0
    if not request["group_id"]:
        group_code = INVALID_GROUP_ID
    elif not _auth.group(ctx, Operation.DELETE, request["group_id"]):
        group_code = kafka_code(errors.GroupAuthorizationFailed)
    else:
        try:
            results = await ctx.coordinator.delete_offsets(request["group_id"], known)
            codes.update({tp: kafka_code_for(code) for tp, code in zip(known, results, strict=True)})
        except errors.KraftError as e:
            group_code = kafka_code(e)
    if group_code:
        return {"error_code": group_code, "throttle_time": 0, "topics": []}
    return {"error_code": 0, "throttle_time": 0,
            "topics": [{"name": t["name"], "partitions": [{"partition_index": p["partition_index"],
                                                           "error_code": codes[(t["name"], p["partition_index"])]}
                                                          for p in t["partitions"]]}
                       for t in request["topics"]]}
