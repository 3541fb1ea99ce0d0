"""Produce (0): one magic-v2 record batch per partition, stored as the client sent it (in a
LogAppendTime topic with the leader's timestamps, which the answer's log_append_time carries).

The batch's CRC32C is checked and nothing is decompressed; the partition's Raft group assigns the
base offset at commit. acks=1 is served as acks=all (an answer always means committed by a majority);
acks=0 gets no answer at all, as in Kafka; if any partition failed, the connection is closed instead
(after the answers to earlier requests), as Kafka does, so that the producer refreshes its metadata.
A produce to a topic that does not exist answers UNKNOWN_TOPIC_OR_PARTITION, as Kafka does, and starts
its auto-creation (``auto_create_topics``); the producer's retry after a metadata refresh finds it.
Versions 0-9, as Kafka 3.7. v0-2 (Kafka 0.8-0.10's clients, librdkafka with an old
``broker.version.fallback``) carry a legacy message set (magic 0 or 1) instead of a batch: it is
converted to one magic-v2 batch (``kraft.protocol.kafka.message_sets``, as Kafka up-converts; magic 0
records get timestamp -1), then appended as any; v2 answers carry log_append_time. v8 answers
carry an error message per partition and, for a batch refused because of some of its records
(keyless records in a compacted topic), ``record_errors`` naming those records by their index in
the batch (KIP-467: librdkafka then fails them with INVALID_RECORD and the batch's other records
with its local _INVALID_DIFFERENT_RECORD); the batch is still refused whole, as Kafka does. v9 is flexible.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.broker import Broker
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers._common import CloseConnection
from kraft.protocol.kafka.message_sets import message_set_to_batch
from kraft.protocol.kafka.records import split_record_set
from kraft.state.acls import Operation

API_KEY = 0
MIN_VERSION = 0
LEGACY_BELOW = 3  # v0-2 carry message sets (magic 0/1), not v2 batches
MAX_VERSION = 9


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any] | None:
    broker = ctx.broker
    acks = request["acks"]
    timeout_ms = request["timeout"] if request["timeout"] > 0 else broker.request_timeout_ms
    timeout_s = min(timeout_ms, broker.request_timeout_ms) / 1000
    if request.get("transactional_id") is not None or acks not in (-1, 0, 1):
        reason = "transactions are not supported" if acks in (-1, 0, 1) else f"acks must be -1, 0 or 1, not {acks}"
        if acks == 0:
            raise CloseConnection(reason)
        # v8+ answers carry the reason; older ones only the code
        return {"responses": [_error_parts(t, kafka_code(errors.InvalidRequest), reason)
                              for t in request["topic_data"]]}
    topics = request["topic_data"]
    legacy = ctx.version < LEGACY_BELOW
    denied = _auth.topics_denied(ctx, Operation.WRITE, (t["name"] for t in topics))
    answers = await asyncio.gather(*(
        _one(broker, t["name"], p, acks, timeout_s, legacy, t["name"] not in denied)
        for t in topics for p in t["partition_data"]))
    if acks == 0:
        failed = [a for a in answers if a["error_code"]]
        if failed:
            raise CloseConnection(f"acks=0 produce failed with error {failed[0]['error_code']}")
        return None
    it = iter(answers)
    return {"responses": [{"name": t["name"], "partition_responses": [next(it) for _ in t["partition_data"]]}
                          for t in topics]}


async def _one(broker: Broker, topic: str, part: dict[str, Any], acks: int, timeout_s: float,
               legacy: bool = False, allowed: bool = True) -> dict[str, Any]:
    res = {"index": part["index"], "error_code": 0, "base_offset": -1, "log_append_time": -1, "log_start_offset": -1,
           "record_errors": [], "error_message": None}
    try:
        if not allowed:  # Kafka checks WRITE before the topic's existence (which it does not disclose)
            raise errors.TopicAuthorizationFailed(f"WRITE on topic {topic!r} is not allowed")
        records = part.get("records")
        if not records:
            raise errors.InvalidRecord(f"{topic}/{part['index']}: no records")
        batches = [message_set_to_batch(records)] if legacy else split_record_set(records)
        if len(batches) != 1:
            raise errors.InvalidRecord(f"{topic}/{part['index']}: {len(batches)} batches; send exactly one")
        appended = await broker.produce_kafka(topic, part["index"], batches[0], acks, timeout_s)
        # log_append_time: the stamp of a LogAppendTime topic (-1: CreateTime), as Kafka answers
        res["base_offset"], res["log_append_time"] = appended.base_offset, appended.log_append_time_ms
    except errors.UnknownTopicOrPartition as e:
        # Kafka answers a produce to a missing topic with UNKNOWN_TOPIC_OR_PARTITION (retriable); its
        # producer's next metadata request creates the topic. Starting the creation here too serves
        # clients whose metadata requests do not allow it.
        broker.start_auto_create(topic)
        res["error_code"], res["error_message"] = kafka_code(e), e.message
    except errors.KraftError as e:
        res["error_code"], res["error_message"] = kafka_code(e), e.message
        res["record_errors"] = _record_errors(e)
    return res


def _record_errors(e: errors.KraftError) -> list[dict[str, Any]]:
    """The records of the batch that made it fail, by index (v8+; older versions have no field)."""
    indexes = e.details.get("record_indexes")
    if not isinstance(indexes, list):
        return []
    return [{"batch_index": i, "batch_index_error_message": e.message} for i in indexes if isinstance(i, int)]


def _error_parts(topic: dict[str, Any], code: int, reason: str) -> dict[str, Any]:
    return {"name": topic["name"], "partition_responses": [
        {"index": p["index"], "error_code": code, "base_offset": -1, "error_message": reason}
        for p in topic["partition_data"]]}
