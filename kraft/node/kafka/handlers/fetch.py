"""Fetch (1): committed batches from each partition's position, long-polled, as magic-v2 bytes.

Kafka clients' batches are served as stored (with their base offset); batches written by kraft's
native producer are converted to uncompressed magic-v2 batches on the way out. Every batch carries
the leader epoch it was written in as its partition leader epoch; ``current_leader_epoch`` (v9+) is
checked against the leader's (FENCED_LEADER_EPOCH when older, UNKNOWN_LEADER_EPOCH when newer). No
transactions: the last stable offset is the high watermark, there are no aborted transactions.

Versions 0-12, as Kafka 3.7 without topic ids (v13+ name topics by id only). v0-3 (consumers pinned
to Kafka 0.10 or older) get each partition's records as a legacy message set
(``kraft.protocol.kafka.message_sets``: magic 0 for v0-1, magic 1 with timestamps for v2-3),
from the offset asked, as Kafka down-converts. v7+ fetch sessions
(KIP-227) through the listener's ``FetchSessions`` cache: a full fetch (epoch 0) creates a session,
incremental ones (its id and next epoch) list only what changed and get only the partitions with
news; a session error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH) is the answer's
top-level error with no partitions, as Kafka answers it. v11+ is fetch from follower (KIP-392): with
cluster.ini's ``fetch_from_follower``, a leader answers a consumer whose ``rack_id`` is an in-sync
follower's rack with that replica as its ``preferred_read_replica`` (and no records), and followers
serve v11+ fetches up to what they have applied (committed; off: NOT_LEADER_OR_FOLLOWER, as
before); v12 is flexible and its
``last_fetched_epoch`` (a follower's divergence check) is not used, since kraft's replicas follow by
Raft, not by Fetch.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from kraft import errors
from kraft.log.entry import is_native
from kraft.node import access as _auth
from kraft.node.broker_values import FetchedPartition, FetchRequest, PartitionFetch
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.fetch_sessions import FINAL_EPOCH, NO_SESSION, FetchKind, FetchPlan, Served, Wanted
from kraft.protocol.batch import decode_batch
from kraft.protocol.kafka.message_sets import encode_message_set
from kraft.protocol.kafka.records import decode_kafka_batch, native_to_kafka
from kraft.state.acls import Operation
from kraft.state.leader_epochs import epoch_at

API_KEY = 1
MIN_VERSION = 0
MAX_VERSION = 12
SESSIONS_FROM = 7  # the first version with fetch sessions
MESSAGE_SETS_BELOW = 4  # v0-3 carry legacy message sets (magic 0/1), not v2 batches
RACK_FROM = 11  # the first version with rack_id and preferred_read_replica (KIP-392)
MAX_BYTES = 52428800  # Kafka's fetch.max.bytes default, for a request that names none


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    wanted = [Wanted(t["topic"], p["partition"], p["fetch_offset"], p["partition_max_bytes"],
                     p.get("current_leader_epoch", -1))
              for t in request["topics"] for p in t["partitions"]]
    sessions = ctx.fetch_sessions
    if ctx.version >= SESSIONS_FROM:
        forgotten = [(t["topic"], p) for t in request.get("forgotten_topics_data") or () for p in t["partitions"]]
        try:
            plan = sessions.begin(request.get("session_id", NO_SESSION), request.get("session_epoch", FINAL_EPOCH),
                                  wanted, forgotten, _now_ms())
        except (errors.FetchSessionIdNotFound, errors.InvalidFetchSessionEpoch) as e:
            return {"error_code": kafka_code(e), "session_id": NO_SESSION, "responses": []}
    else:
        plan = FetchPlan(FetchKind.SESSIONLESS, tuple(wanted))
    parts = tuple(PartitionFetch(w.topic, w.partition, w.fetch_offset, w.max_bytes, w.current_leader_epoch)
                  for w in plan.partitions)
    # Kafka's limits: only the first non-empty partition may go over them (KIP-74), so an answer
    # stays within what the client is ready to receive.
    fetch = FetchRequest(parts, max_wait_ms=max(request["max_wait"], 0), min_bytes=max(request["min_bytes"], 0),
                         max_bytes=request.get("max_bytes", MAX_BYTES), strict_max_bytes=True,
                         client_rack=(request.get("rack_id") or "") if ctx.version >= RACK_FROM else None)
    # Kafka: a partition of a topic this client may not READ answers TOPIC_AUTHORIZATION_FAILED
    denied = _auth.topics_denied(ctx, Operation.READ, (p.topic for p in parts))
    if denied:
        fetch = replace(fetch, partitions=tuple(p for p in parts if p.topic not in denied))
    results = list(await ctx.broker.fetch(fetch)) if fetch.partitions else []
    if denied:
        read = iter(results)
        results = [_denied(p) if p.topic in denied else next(read) for p in parts]
    if ctx.version < MESSAGE_SETS_BELOW:
        magic = 0 if ctx.version < 2 else 1
        answers = [_legacy_partition(r, p.offset, magic) for r, p in zip(results, parts, strict=True)]
    else:
        answers = [_partition(r) for r in results]
    session_id, include = sessions.finish(plan, [
        Served(a["error_code"], a["high_watermark"], a["log_start_offset"], bool(a["records"])) for a in answers],
        _now_ms())
    responses: dict[str, list[dict[str, Any]]] = {}  # by topic, in the plan's order
    for r, answer, sent in zip(results, answers, include, strict=True):
        if sent:
            responses.setdefault(r.topic, []).append(answer)
    return {"error_code": 0, "session_id": session_id,
            "responses": [{"topic": topic, "partitions": out} for topic, out in responses.items()]}


def _partition(r: FetchedPartition) -> dict[str, Any]:
    # a batch holding the log start may begin below it, where the epochs no longer reach
    records = b"".join(batch if not is_native(batch) else
                       native_to_kafka(batch, base, epoch_at(r.leader_epochs, max(base, r.log_start_offset)))
                       for base, batch in r.batches)
    return _answer(r, records)


def _answer(r: FetchedPartition, records: bytes) -> dict[str, Any]:
    return {"partition_index": r.partition, "error_code": 0 if r.error is None else kafka_code(r.error),
            "high_watermark": r.high_watermark, "last_stable_offset": r.high_watermark,
            "log_start_offset": r.log_start_offset, "aborted_transactions": None,
            "preferred_read_replica": r.preferred_read_replica, "records": records}


def _legacy_partition(r: FetchedPartition, fetch_offset: int, magic: int) -> dict[str, Any]:
    """``_partition``'s answer with its records as a message set of ``magic``, from ``fetch_offset``
    (a batch may begin below it, or below the log start)."""
    first = max(fetch_offset, r.log_start_offset)
    records = ((offset, ts, key, value)
               for base, batch in r.batches
               for offset, ts, key, value, _headers in (decode_batch(batch, base) if is_native(batch)
                                                        else decode_kafka_batch(batch, base))
               if offset >= first)
    return _answer(r, encode_message_set(records, magic))


def _denied(p: PartitionFetch) -> FetchedPartition:
    return FetchedPartition(p.topic, p.partition, -1, -1, (),
                            errors.TopicAuthorizationFailed(f"READ on topic {p.topic!r} is not allowed"))


def _now_ms() -> int:
    return int(time.monotonic() * 1000)
