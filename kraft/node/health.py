"""``/health/live`` and ``/health/ready``: the decisions, as pure functions over facts.

Live: the node's two working threads still turn: the Raft driver iterated and the asyncio loop
(clients) ran its heartbeat within ``STALL_S``. Ready: the node knows the metadata (the cluster's id,
and the metadata group has a leader) and every partition replica it hosts is led by this node or
follows a leader it knows. Both answer JSON with 200 or 503, for process supervisors and load
balancers.
Owns: those rules and the bodies. Must not: read node state (``kraft.node.observe`` gathers the
facts) or serve HTTP (``kraft.node.http``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from kraft import __version__
from kraft.node.http import Response

STALL_S = 10.0  # a thread that has not turned for this long is stuck
LISTED_MAX = 20  # replicas without a leader named in the body (the count is always there)


@dataclass(frozen=True, slots=True)
class Liveness:
    node_id: int
    driver_idle_s: float  # since the Raft driver's last iteration
    loop_idle_s: float  # since the asyncio loop's last heartbeat


@dataclass(frozen=True, slots=True)
class Readiness:
    node_id: int
    cluster_id: str | None
    metadata_leader: int | None
    replicas: int
    without_leader: Sequence[str]  # "topic/partition" of hosted replicas that know no leader


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(status, (json.dumps(body, sort_keys=True) + "\n").encode(), "application/json")


def live(facts: Liveness) -> Response:
    stuck = [name for name, idle in (("raft driver", facts.driver_idle_s), ("client loop", facts.loop_idle_s))
             if idle > STALL_S]
    body: dict[str, object] = {"status": "stuck" if stuck else "live", "node": facts.node_id,
                               "raft_driver_idle_s": round(facts.driver_idle_s, 3),
                               "client_loop_idle_s": round(facts.loop_idle_s, 3)}
    if stuck:
        body["reason"] = f"{' and '.join(stuck)} has not run for over {STALL_S:g} s"
    return _json(503 if stuck else 200, body)


def ready(facts: Readiness) -> Response:
    reasons = []
    if facts.cluster_id is None:
        reasons.append("the cluster's id is not known yet (metadata not applied)")
    if facts.metadata_leader is None:
        reasons.append("the metadata group has no leader")
    if facts.without_leader:
        reasons.append(f"{len(facts.without_leader)} of {facts.replicas} partition replicas here know no leader")
    body: dict[str, object] = {
        "status": "not ready" if reasons else "ready", "node": facts.node_id, "version": __version__,
        "cluster_id": facts.cluster_id,
        "metadata_leader": facts.metadata_leader, "replicas": facts.replicas,
        "replicas_without_leader": len(facts.without_leader),
        "without_leader": sorted(facts.without_leader)[:LISTED_MAX],
    }
    if reasons:
        body["reasons"] = reasons
    return _json(503 if reasons else 200, body)
