"""Preferred-leader elections on request, for any set of partitions of the cluster.

Owns: taking a request that any node received (Kafka's ElectLeaders, the native ``elect_leaders``) to
each partition's current leader, and one answer per partition by a deadline. A partition this node
leads is handed over by its broker (``Broker.elect_preferred_leader``); one led elsewhere is asked of
its leader's node with an internal native request, ``elect_leaders`` with ``local`` set, which that
node answers for the partitions it leads only. A partition whose leadership moved meanwhile (NOT_LEADER
with the new leader), or that is electing a leader, or whose leader's node did not answer, is asked
again of its leader as this node then knows it, until the deadline.
Also owns that internal request's body and the ``elect_leaders`` answer (``request_body``,
``results_body``, ``parse_results``); the native handler answers with them.
Must not: touch Raft groups (the leader's broker does), or know Kafka's shapes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from kraft import errors
from kraft.apis.connection import Connection
from kraft.node.broker import Broker
from kraft.node.broker_values import LeaderElection, NodeAddress

API = "elect_leaders"
RETRY_S = 0.1  # before asking again for partitions whose leader moved or is being elected
CONNECT_TIMEOUT_MS = 2000
ANSWER_GRACE_S = 2.0  # a leader's node answers by the deadline; allow this much more on the wire
_AGAIN = (errors.NotLeader, errors.LeaderNotAvailable, errors.RequestTimedOut)

Partition = tuple[str, int]


def every_partition(broker: Broker) -> list[Partition]:
    """Every partition of every topic, as this node's metadata has them."""
    return [(t.name, p.partition) for t in broker.metadata(None).topics for p in t.partitions]


async def elect_preferred_leaders(broker: Broker, partitions: Sequence[Partition],
                                  timeout_s: float) -> list[LeaderElection]:
    """Ask each partition's leader to hand it to its preferred replica; one answer per partition, in
    the order given, by ``timeout_s`` (a partition still unanswered then gets its last error)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    results: dict[Partition, LeaderElection] = {}
    pending = list(dict.fromkeys(partitions))
    while True:
        answers = await _round(broker, pending, deadline - loop.time())
        pending = []
        for election in answers:
            key = (election.topic, election.partition)
            results[key] = election
            if isinstance(election.error, _AGAIN):
                pending.append(key)
        if not pending or loop.time() + RETRY_S >= deadline:
            break
        await asyncio.sleep(RETRY_S)
    return [results[key] for key in partitions]


async def elect_local(broker: Broker, partitions: Sequence[Partition], timeout_s: float) -> list[LeaderElection]:
    """The partitions this node leads, each handed to its preferred replica (concurrently); any other
    partition is answered with its error (NOT_LEADER_OR_FOLLOWER with the leader as known here ...)."""
    return list(await asyncio.gather(*(_elect_here(broker, t, p, timeout_s) for t, p in partitions)))


async def _round(broker: Broker, partitions: Sequence[Partition], timeout_s: float) -> list[LeaderElection]:
    """One attempt at each partition, at its leader as this node knows it now."""
    meta = broker.metadata(sorted({t for t, _ in partitions}))
    known = {(t.name, p.partition): p for t in meta.topics for p in t.partitions}
    addresses = {n.node_id: n for n in meta.nodes}
    out: list[LeaderElection] = []
    by_leader: dict[int, list[Partition]] = defaultdict(list)
    for topic, partition in partitions:
        p = known.get((topic, partition))
        if p is None:
            out.append(LeaderElection(topic, partition, None, None,
                                      errors.UnknownTopicOrPartition(f"{topic}/{partition} does not exist")))
        elif p.leader is None:
            out.append(LeaderElection(topic, partition, p.replicas[0], None,
                                      errors.LeaderNotAvailable(f"{topic}/{partition} is electing a leader")))
        else:
            by_leader[p.leader].append((topic, partition))
    asks = [elect_local(broker, parts, timeout_s) if leader == broker.node_id
            else _ask_node(addresses.get(leader), leader, parts, timeout_s, broker.config.max_frame_bytes)
            for leader, parts in by_leader.items()]
    for answers in await asyncio.gather(*asks):
        for e in answers:
            p = known.get((e.topic, e.partition))
            out.append(e if e.preferred is not None or p is None else dataclasses.replace(e, preferred=p.replicas[0]))
    return out


async def _elect_here(broker: Broker, topic: str, partition: int, timeout_s: float) -> LeaderElection:
    try:
        return await broker.elect_preferred_leader(topic, partition, timeout_s)
    except errors.KraftError as e:
        meta = broker.metadata([topic]).topics[0]
        p = next((q for q in meta.partitions if q.partition == partition), None)
        leader = e.details.get("leader") if isinstance(e, errors.NotLeader) else None
        if p is not None and leader is None:
            leader = p.leader
        return LeaderElection(topic, partition, None if p is None else p.replicas[0],
                              leader if isinstance(leader, int) else None, e)


async def _ask_node(address: NodeAddress | None, node_id: int, partitions: list[Partition], timeout_s: float,
                    max_frame_bytes: int) -> list[LeaderElection]:
    """The internal request to node ``node_id``: elect what it leads of ``partitions``."""
    try:
        if address is None:
            raise errors.LeaderNotAvailable(f"node {node_id}'s address is not known here")
        conn = await Connection.open(address.host, address.port, connect_timeout_ms=CONNECT_TIMEOUT_MS,
                                     max_frame_bytes=max_frame_bytes)
        try:
            code, body = await conn.request(API, request_body(partitions, timeout_s, local=True),
                                            (timeout_s + ANSWER_GRACE_S) * 1000)
        finally:
            conn.close()
        if code:
            raise errors.error_for_code(code, str(body.get("message", "")))
        return parse_results(body)
    except errors.KraftConnectionError as e:
        error = errors.RequestTimedOut(f"node {node_id}, the leader, did not answer ({e.message})")
        return [LeaderElection(t, p, None, node_id, error) for t, p in partitions]
    except errors.KraftError as e:
        return [LeaderElection(t, p, None, node_id, e) for t, p in partitions]


# --- the wire shape of ``elect_leaders`` ------------------------------------------------------------

def request_body(partitions: Sequence[Partition] | None, timeout_s: float, *, local: bool = False) -> dict[str, Any]:
    return {"partitions": None if partitions is None else [{"topic": t, "partition": p} for t, p in partitions],
            "timeout_ms": int(timeout_s * 1000), "local": local}


def results_body(results: Sequence[LeaderElection]) -> dict[str, Any]:
    return {"partitions": [
        {"topic": r.topic, "partition": r.partition, "preferred": r.preferred, "leader": r.leader,
         "error_code": 0 if r.error is None else r.error.code, "message": "" if r.error is None else r.error.message}
        for r in results]}


def parse_results(body: dict[str, Any]) -> list[LeaderElection]:
    """An ``elect_leaders`` answer (as ``results_body`` makes it) back into values."""
    out = []
    for r in body["partitions"]:
        code = int(r.get("error_code") or 0)
        error = None if not code else errors.error_for_code(code, str(r.get("message") or ""))
        out.append(LeaderElection(str(r["topic"]), int(r["partition"]), r.get("preferred"), r.get("leader"), error))
    return out
