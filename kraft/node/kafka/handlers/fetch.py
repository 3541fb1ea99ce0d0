"""Fetch (1): committed batches from each partition's position, long-polled, as magic-v2 bytes.

Kafka clients' batches are served as stored (with their base offset); batches written by kraft's
native producer are converted to uncompressed magic-v2 batches on the way out. Every batch carries
the leader epoch it was written in as its partition leader epoch; ``current_leader_epoch`` (v9+) is
checked against the leader's (FENCED_LEADER_EPOCH when older, UNKNOWN_LEADER_EPOCH when newer). There are no fetch
sessions (session id 0: every fetch is a full fetch) and no transactions (last stable offset is the
high watermark, no aborted transactions).
"""

from __future__ import annotations

from typing import Any

from kraft.log.entry import is_native
from kraft.node.broker_values import FetchRequest, PartitionFetch
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.protocol.kafka.records import native_to_kafka
from kraft.state.leader_epochs import epoch_at

API_KEY = 1
MIN_VERSION = 4
MAX_VERSION = 11
MAX_BYTES = 52428800  # Kafka's fetch.max.bytes default, for a request that names none


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(PartitionFetch(t["topic"], p["partition"], p["fetch_offset"], p["partition_max_bytes"],
                                 p.get("current_leader_epoch", -1))
                  for t in request["topics"] for p in t["partitions"])
    # Kafka's limits: only the first non-empty partition may go over them (KIP-74), so an answer
    # stays within what the client is ready to receive.
    fetch = FetchRequest(parts, max_wait_ms=max(request["max_wait"], 0), min_bytes=max(request["min_bytes"], 0),
                         max_bytes=request.get("max_bytes", MAX_BYTES), strict_max_bytes=True)
    answers = iter(await ctx.broker.fetch(fetch))
    responses = []
    for t in request["topics"]:
        out = []
        for p in t["partitions"]:
            r = next(answers)
            # a batch holding the log start may begin below it, where the epochs no longer reach
            records = b"".join(batch if not is_native(batch) else
                               native_to_kafka(batch, base, epoch_at(r.leader_epochs, max(base, r.log_start_offset)))
                               for base, batch in r.batches)
            out.append({"partition_index": p["partition"], "error_code": 0 if r.error is None else kafka_code(r.error),
                        "high_watermark": r.high_watermark, "last_stable_offset": r.high_watermark,
                        "log_start_offset": r.log_start_offset, "aborted_transactions": None,
                        "preferred_read_replica": -1, "records": records})
        responses.append({"topic": t["topic"], "partitions": out})
    return {"error_code": 0, "session_id": 0, "responses": responses}
