"""ElectLeaders (43): make partitions' preferred replicas (the first of each one's replicas) their leaders.

PREFERRED elections (v0's only kind): each partition's current leader hands leadership to the
preferred replica once that one's log matches its own (``kraft.node.elections`` takes the request to
each leader, on this node or another); each partition is answered when the preferred replica leads, or
with why not by the request's ``timeout`` (capped by the node's ``request_timeout_ms``):
ELECTION_NOT_NEEDED when it led already, PREFERRED_LEADER_NOT_AVAILABLE when it did not take over
(down, cut off, catching up), UNKNOWN_TOPIC_OR_PARTITION. ``topic_partitions`` null means every
partition, and then, as Kafka does, partitions that needed no election are left out of the answer.
UNCLEAN elections: a Raft group elects a leader only with a majority of its replicas, and then it
needs no unclean one, so a partition with a leader is ELECTION_NOT_NEEDED and one without is
ELIGIBLE_LEADERS_NOT_AVAILABLE (what Kafka answers when no replica may lead). Another election type
is INVALID_REQUEST. Versions 0-2 (v2 flexible; v1 adds the type and a top-level error code).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node import elections
from kraft.node.broker import Broker
from kraft.node.broker_values import LeaderElection
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 43
MIN_VERSION = 0
MAX_VERSION = 2
PREFERRED = 0
UNCLEAN = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    _auth.require_cluster(ctx, Operation.ALTER)
    broker = ctx.broker
    election_type = request.get("election_type", PREFERRED)
    if election_type not in (PREFERRED, UNCLEAN):
        return {"throttle_time": 0, "error_code": kafka_code(errors.InvalidRequest), "replica_election_results": []}
    wanted: list[dict[str, Any]] | None = request.get("topic_partitions")
    every = wanted is None
    partitions = (elections.every_partition(broker) if wanted is None
                  else [(t["topic"], p) for t in wanted for p in t["partitions"]])
    timeout_s = min(max(0, int(request.get("timeout") or 0)), broker.request_timeout_ms) / 1000
    if election_type == PREFERRED:
        results = await elections.elect_preferred_leaders(broker, partitions, timeout_s)
    else:
        results = _unclean(broker, partitions)
    if every:
        results = [r for r in results if not isinstance(r.error, errors.ElectionNotNeeded)]
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_topic.setdefault(r.topic, []).append({
            "partition_id": r.partition, "error_code": 0 if r.error is None else kafka_code(r.error),
            "error_message": None if r.error is None else r.error.message})
    return {"throttle_time": 0, "error_code": 0, "replica_election_results": [
        {"topic": topic, "partition_result": parts} for topic, parts in by_topic.items()]}


def _unclean(broker: Broker, partitions: list[tuple[str, int]]) -> list[LeaderElection]:
    meta = broker.metadata(sorted({t for t, _ in partitions}))
    known = {(t.name, p.partition): p for t in meta.topics for p in t.partitions}
    out = []
    for topic, partition in partitions:
        p = known.get((topic, partition))
        if p is None:
            error: errors.KraftError = errors.UnknownTopicOrPartition(f"{topic}/{partition} does not exist")
        elif p.leader is not None:
            error = errors.ElectionNotNeeded(f"node {p.leader} leads {topic}/{partition}")
        else:
            error = errors.EligibleLeadersNotAvailable(
                f"{topic}/{partition} has no leader: a majority of its replicas is needed to elect one, and "
                "kraft never elects an unclean leader")
        out.append(LeaderElection(topic, partition, None if p is None else p.replicas[0],
                                  None if p is None else p.leader, error))
    return out
