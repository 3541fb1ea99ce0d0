"""Preferred-leader elections on request, for any set of partitions of the cluster.

Owns: taking a request that any node received (Kafka's ElectLeaders, the native ``elect_leaders``) to
each partition's current leader, and one answer per partition by a deadline. A partition this node
leads is handed over by its broker (``Broker.elect_preferred_leader``); one led elsewhere is asked of
its leader's node with an internal native request, ``elect_leaders`` with ``local`` set, which that
node answers for the partitions it leads only (one request per partition, pipelined on one
connection per node, so each partition is answered on its own). A partition whose leadership moved
meanwhile (NOT_LEADER with the new leader), or that is electing a leader, or whose leader's node did
not answer, is asked again of its leader as this node then knows it, until the deadline.
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
PEER_IN_FLIGHT = 64  # requests at once on one connection to a leader's node (and at most max_in_flight_requests)
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
    results: dict[Partition, LeaderElection] = {}
    await _attempt(broker, list(dict.fromkeys(partitions)), loop.time() + timeout_s, results)
    return [results[key] for key in partitions]


async def elect_local(broker: Broker, partitions: Sequence[Partition], timeout_s: float) -> list[LeaderElection]:
    """The partitions this node leads, each handed to its preferred replica (concurrently); any other
    partition is answered with its error (NOT_LEADER_OR_FOLLOWER with the leader as known here ...)."""
    return list(await asyncio.gather(*(_elect_here(broker, t, p, timeout_s) for t, p in partitions)))


async def _attempt(broker: Broker, partitions: Sequence[Partition], deadline: float,
                   results: dict[Partition, LeaderElection]) -> None:
    """Ask each partition at its leader as this node knows it now (over one connection per other
    leader); a partition that comes back to be asked again (a leader that moved, none yet, no answer)
    is asked again after ``RETRY_S``, whatever the others do (one may wait for its deadline)."""
    loop = asyncio.get_running_loop()
    meta = broker.metadata(sorted({t for t, _ in partitions}))
    known = {(t.name, p.partition): p for t in meta.topics for p in t.partitions}
    addresses = {n.node_id: n for n in meta.nodes}
    leaderless: list[LeaderElection] = []
    by_leader: dict[int, list[Partition]] = defaultdict(list)
    for topic, partition in partitions:
        p = known.get((topic, partition))
        if p is None:
            results[(topic, partition)] = LeaderElection(
                topic, partition, None, None, errors.UnknownTopicOrPartition(f"{topic}/{partition} does not exist"))
        elif p.leader is None:
            leaderless.append(LeaderElection(topic, partition, p.replicas[0], None,
                                             errors.LeaderNotAvailable(f"{topic}/{partition} is electing a leader")))
        else:
            by_leader[p.leader].append((topic, partition))

    async def settle(answers: Sequence[LeaderElection]) -> None:
        again: list[Partition] = []
        for e in answers:
            key = (e.topic, e.partition)
            p = known.get(key)
            if e.preferred is None and p is not None:
                e = dataclasses.replace(e, preferred=p.replicas[0])
            results[key] = e
            if isinstance(e.error, _AGAIN):
                again.append(key)
        if again and loop.time() + RETRY_S < deadline:
            await asyncio.sleep(RETRY_S)
            await _attempt(broker, again, deadline, results)

    async def here(part: Partition) -> None:
        await settle([await _elect_here(broker, *part, max(0.0, deadline - loop.time()))])

    async def at(leader: int, parts: list[Partition]) -> None:
        try:
            conn = await _connect(addresses.get(leader), leader, broker.config.max_frame_bytes)
        except errors.KraftError as e:
            await settle([LeaderElection(t, p, None, leader, e) for t, p in parts])
            return
        unanswered = len(parts)
        in_flight = asyncio.Semaphore(min(PEER_IN_FLIGHT, broker.config.max_in_flight_requests))

        async def one(part: Partition) -> None:
            nonlocal unanswered
            try:
                async with in_flight:
                    answer = await _ask(conn, leader, part, max(0.0, deadline - loop.time()))
            finally:
                unanswered -= 1
                if not unanswered:
                    conn.close()
            await settle([answer])

        await asyncio.gather(*(one(part) for part in parts))

    await asyncio.gather(settle(leaderless), *(here(part) for part in by_leader.pop(broker.node_id, [])),
                         *(at(leader, parts) for leader, parts in by_leader.items()))


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


async def _connect(address: NodeAddress | None, node_id: int, max_frame_bytes: int) -> Connection:
    if address is None:
        raise errors.LeaderNotAvailable(f"node {node_id}'s address is not known here")
    try:
        return await Connection.open(address.host, address.port, connect_timeout_ms=CONNECT_TIMEOUT_MS,
                                     max_frame_bytes=max_frame_bytes)
    except errors.KraftConnectionError as e:
        raise errors.RequestTimedOut(f"node {node_id}, the leader, did not answer ({e.message})") from None


async def _ask(conn: Connection, node_id: int, part: Partition, timeout_s: float) -> LeaderElection:
    """The internal request to node ``node_id``, the leader of ``part``: elect it if it leads it."""
    try:
        code, body = await conn.request(API, request_body([part], timeout_s, local=True),
                                        (timeout_s + ANSWER_GRACE_S) * 1000)
        if code:
            raise errors.error_for_code(code, str(body.get("message", "")))
        (answer,) = parse_results(body)
        return answer
    except errors.KraftConnectionError as e:
        error = errors.RequestTimedOut(f"node {node_id}, the leader, did not answer ({e.message})")
        return LeaderElection(*part, None, node_id, error)
    except errors.KraftError as e:
        return LeaderElection(*part, None, node_id, e)


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
