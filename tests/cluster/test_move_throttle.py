"""A move under ``reassignment_throttle_bytes_per_s`` (issue 13): the learner's catch-up is paced by
its leader's node throttle, the move still completes, and producers' acknowledgements keep coming
while the learner is behind (voters' replication is never throttled)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft import Admin, Producer
from kraft.raft.group import APPEND_MAX_BYTES
from kraft.raft.throttle import BURST_S
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_reassignment import moved, replicas_of
from tests.cluster.test_replication import BackgroundProducer, check_acked_present, create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RATE = 1_000_000  # bytes/s: the move of FILL_BYTES takes seconds, far longer than unthrottled
FILL_BYTES = 4_000_000


@pytest.fixture
def throttled4(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 4, extra=f"reassignment_throttle_bytes_per_s = {RATE}")
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def throttle_of(cluster: Cluster, node: int) -> dict[str, int]:
    stats: dict[str, int] = cluster.node_status(node)["learner_throttle"]
    return stats


def learner_behind(cluster: Cluster, leader: int, topic: str, node: int) -> bool:
    """The leader reports ``node`` as a learner that lacks entries."""
    groups: list[dict[str, Any]] = cluster.node_status(leader)["groups"]
    for g in groups:
        follower = g["followers"].get(str(node)) or g["followers"].get(node)
        if g["topic"] == topic and follower is not None:
            return bool(follower["state"] == "learner" and follower["behind"] > 0)
    return False


def test_a_throttled_move_completes_paced_and_acks_keep_coming(throttled4: Cluster) -> None:
    cluster = throttled4
    assert throttle_of(cluster, 1)["bytes_per_s"] == RATE
    create_topic(cluster, "moving", 1, 3)
    value = os.urandom(1000)
    with Producer(cluster.bootstrap, acks="all") as producer:
        for _ in range(FILL_BYTES // len(value)):
            producer.send("moving", value=value, partition=0)
        producer.flush()
    start = replicas_of(cluster, "moving", 0)
    leader = cluster.wait_leaders("moving", preferred=True)[0]
    spare = next(n for n in (1, 2, 3, 4) if n not in start)
    leaving = next(n for n in reversed(start) if n != leader)
    target = [spare if n == leaving else n for n in start]
    bp = BackgroundProducer(cluster.bootstrap, "moving", 1)
    bp.start()
    acked_while_behind: list[int] = []

    def done_or_sample() -> bool:
        if learner_behind(cluster, leader, "moving", spare):
            acked_while_behind.append(len(bp.acked))
        return moved(cluster, "moving", 0, target)

    try:
        wait_for(lambda: len(bp.acked) >= 200, 60, "acknowledged records before the move")
        began = time.monotonic()
        with Admin(cluster.bootstrap) as admin:
            admin.reassign_partitions({("moving", 0): target})
        wait_for(done_or_sample, 120, f"the throttled move to {target}", interval_s=0.2)
        elapsed = time.monotonic() - began
    finally:
        bp.stop()
    sent = {n: throttle_of(cluster, n) for n in (1, 2, 3, 4)}
    # The learner got the partition's log through its leader's throttle ...
    assert sum(s["sent_bytes"] for s in sent.values()) >= FILL_BYTES
    # ... paced: sends waited for tokens, and no node sent more than the bucket allows in the time
    # the move took (an upper bound: a slow machine only makes it hold more easily).
    assert sum(s["held"] for s in sent.values()) > 0
    for stats in sent.values():
        assert stats["sent_bytes"] <= RATE * (elapsed + BURST_S) + APPEND_MAX_BYTES
    # Producers' acknowledgements went on while the learner was still behind: they wait for the
    # voters only, whose replication is never throttled.
    assert len(acked_while_behind) >= 2, "the move was never seen in progress"
    assert acked_while_behind[-1] > acked_while_behind[0]
    assert not bp.failed, bp.failed[:3]
    check_acked_present(cluster, "moving", 1, bp.acked)
