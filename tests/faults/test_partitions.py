"""Network partitions between real nodes (the Raft transport's fault hook): nothing acknowledged is
lost, the majority side keeps serving, and after healing every replica holds the same log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.state.metadata import partition_gid
from kraft.testing.local_cluster import Cluster, RawClient, wait_for
from tests.cluster.replica_log import read_replica

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3, faults=True)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


class Writer:
    """Sends numbered values to partition 0 until stopped; keeps the acknowledged ones."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer(bootstrap, acks="all", linger_ms=2, request_timeout_ms=3000,
                                 delivery_timeout_ms=120_000)
        self.topic = topic
        self.acked: list[tuple[int, bytes, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            window = []
            for _ in range(20):
                value = b"w%07d" % i
                window.append((value, self.producer.send(self.topic, value=value, partition=0)))
                i += 1
            for value, fut in window:
                try:
                    meta = fut.result(timeout=150)
                    self.acked.append((meta.offset, value, time.monotonic()))
                except Exception:
                    pass  # not acknowledged: may or may not be in the log

    def acked_after(self, t: float) -> int:
        return sum(1 for a in self.acked if a[2] > t)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=200)
        self.producer.close()


def leader_seen_by(cluster: Cluster, node: int, topic: str) -> int | None:
    c = RawClient(cluster.client_ports[node])
    try:
        _, md = c.call("metadata", {"topics": [topic]})
        return md["topics"][0]["partitions"][0]["leader"]
    finally:
        c.close()


def check_log(cluster: Cluster, topic: str, acked: list[tuple[int, bytes, float]]) -> None:
    # Everything acknowledged must be readable: wait for a leader whose high watermark covers the last
    # acknowledged offset (right after a heal a node may answer "no leader", and so a watermark of 0).
    last = max((o for o, _, _ in acked), default=-1)
    with Admin(cluster.bootstrap) as admin:
        end = wait_for(lambda: (hw := admin.describe_topic(topic).partitions[0].high_watermark) > last and hw,
                       30, f"a leader with a high watermark above offset {last}")
    consumer = Consumer(cluster.bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning()
        seen: dict[int, bytes | None] = {}
        deadline = time.monotonic() + 60
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for rec in consumer.poll(timeout_ms=500):
                seen[rec.offset] = rec.value
    finally:
        consumer.close()
    lost = [(o, v) for o, v, _ in acked if seen.get(o) != v]
    assert not lost, f"{len(lost)} acknowledged records lost or moved, e.g. {lost[:3]}"


@pytest.mark.parametrize("isolate", ["partition_leader", "metadata_leader"])
def test_isolated_leader_loses_nothing_and_replicas_converge(cluster: Cluster, isolate: str) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("p", partitions=1, replication_factor=3)
    leader = cluster.wait_leaders("p", preferred=True)[0]
    if isolate == "metadata_leader":
        _, md = cluster.call(1, "metadata", {"topics": []})
        leader = md["controller"]
    writer = Writer(cluster.bootstrap, "p")
    try:
        wait_for(lambda: len(writer.acked) >= 300, 60, "writes before the partition")
        cluster.partition({leader})
        cut_at = time.monotonic()
        wait_for(lambda: not any(cluster.node_status(leader)["peers"].values()), 10, "the cut to take effect")
        majority = [n for n in cluster.procs if n != leader]
        wait_for(lambda: leader_seen_by(cluster, majority[0], "p") in majority, 30, "a leader on the majority side")
        wait_for(lambda: writer.acked_after(cut_at) >= 300, 60, "writes acknowledged by the majority side")
        cluster.heal()
        healed_at = time.monotonic()
        wait_for(lambda: writer.acked_after(healed_at) >= 300, 60, "writes after healing")
    finally:
        writer.stop()
    check_log(cluster, "p", writer.acked)

    with Admin(cluster.bootstrap) as admin:
        end = admin.describe_topic("p").partitions[0].high_watermark

    def all_caught_up() -> bool:
        return all(g["high_watermark"] >= end for n in cluster.procs
                   for g in cluster.node_status(n)["groups"])

    wait_for(all_caught_up, 60, "every replica to reach the high watermark")
    cluster.stop_all()
    logs: list[Any] = [read_replica(cluster.root / "data" / str(n), partition_gid(1, 0)) for n in (1, 2, 3)]
    shortest = min(len(x) for x in logs)
    assert shortest >= end
    assert logs[0][:end] == logs[1][:end] == logs[2][:end], "replicas disagree on committed offsets"


def test_lossy_duplicating_network_loses_nothing_and_replicas_converge(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("p", partitions=1, replication_factor=3)
    cluster.wait_leaders("p")
    seed = int(time.time())
    print(f"fault seed {seed}")  # pytest shows it when the test fails
    for node in cluster.alive():
        code, body = cluster.call(node, "debug_faults", {"loss": 0.1, "duplicate": 0.1, "seed": seed + node})
        assert code == 0, body
    writer = Writer(cluster.bootstrap, "p")
    try:
        wait_for(lambda: len(writer.acked) >= 1500, 120, "writes over a lossy network")
        cluster.heal()
    finally:
        writer.stop()
    check_log(cluster, "p", writer.acked)
    with Admin(cluster.bootstrap) as admin:
        end = admin.describe_topic("p").partitions[0].high_watermark
    wait_for(lambda: all(g["high_watermark"] >= end for n in cluster.procs
                         for g in cluster.node_status(n)["groups"]), 60, "every replica to catch up")
    cluster.stop_all()
    logs = [read_replica(cluster.root / "data" / str(n), partition_gid(1, 0)) for n in (1, 2, 3)]
    assert logs[0][:end] == logs[1][:end] == logs[2][:end], "replicas disagree on committed offsets"


def test_slow_network_keeps_order_and_loses_nothing(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("p", partitions=1, replication_factor=3)
    cluster.wait_leaders("p")
    for node in cluster.alive():
        code, body = cluster.call(node, "debug_faults", {"delay_ms": 100})
        assert code == 0, body
    writer = Writer(cluster.bootstrap, "p")
    try:
        wait_for(lambda: len(writer.acked) >= 500, 120, "writes over a slow network")
    finally:
        writer.stop()
        cluster.heal()
    acked_offsets = [o for o, _, _ in writer.acked]
    assert acked_offsets == sorted(acked_offsets), "acknowledged in the order sent"
    check_log(cluster, "p", writer.acked)
