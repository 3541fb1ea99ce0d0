"""Quiescent partition groups on real nodes: once idle, their groups stop ticking (``/metrics`` counts
them), and a kill -9 of the node leading them still moves every partition to a new leader within
seconds (the followers wake when their leader's connection goes), with nothing acknowledged lost."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC, PARTITIONS = "idle", 6


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3, http=True)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def quiescent(c: Cluster, node: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{c.http_ports[node]}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = re.search(r"^kraft_raft_groups_quiescent (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else -1


def test_idle_groups_go_quiet_and_fail_over_after_kill_9(cluster: Cluster) -> None:
    admin = Admin(cluster.bootstrap)
    try:
        admin.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
    finally:
        admin.close()
    cluster.wait_leaders(TOPIC)
    producer = Producer(cluster.bootstrap, acks="all")
    try:
        for p in range(PARTITIONS):
            producer.send(TOPIC, value=b"before-%d" % p, partition=p).result(timeout=30)
        wait_for(lambda: all(quiescent(cluster, n) == PARTITIONS for n in (1, 2, 3)), 30,
                 "every replica of the idle topic quiescent on every node")
        leaders = cluster.wait_leaders(TOPIC)
        victim = max((1, 2, 3), key=lambda n: sum(1 for v in leaders.values() if v == n))
        cluster.kill(victim)
        killed_at = time.monotonic()
        cluster.wait_leaders(TOPIC, timeout_s=30, exclude={victim})
        failover_s = time.monotonic() - killed_at
        # Two election timeouts at most once the peers see the connection go (they see it at once
        # after a kill -9); a quiescent follower that missed it would wait for a restart instead.
        assert failover_s < 10, f"failover took {failover_s:.1f}s"
        for p in range(PARTITIONS):
            producer.send(TOPIC, value=b"after-%d" % p, partition=p).result(timeout=30)
    finally:
        producer.close()
    consumer = Consumer(cluster.bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        got: list[bytes] = []
        wait_for(lambda: got.extend(r.value for r in consumer.poll(0.5) if r.value is not None) or
                 len(got) >= 2 * PARTITIONS, 60, "every record read back")
        assert sorted(got) == sorted([b"before-%d" % p for p in range(PARTITIONS)]
                                     + [b"after-%d" % p for p in range(PARTITIONS)])
    finally:
        consumer.close()
