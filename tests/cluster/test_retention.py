"""Retention on a real 3-node cluster: leaders trim by size and by time on their own, every replica
ends with the same log, and a follower that was down across retention passes catches up by snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft import Admin, Producer
from kraft.state.metadata import partition_gid
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.replica_log import read_replica

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

CHECK_INTERVAL = "log_retention_check_interval_ms = 200"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3, extra=CHECK_INTERVAL)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def replica_of(cluster: Cluster, node: int, topic: str) -> dict[str, Any] | None:
    for group in cluster.node_status(node)["groups"]:
        if group["topic"] == topic and group["partition"] == 0:
            return dict(group)
    return None


def produce(cluster: Cluster, topic: str, batches: int, timestamp_ms: int | None = None, size: int = 200) -> None:
    with Producer(cluster.bootstrap, acks="all") as producer:
        for i in range(batches):
            producer.send(topic, value=b"%06d" % i + b"x" * size, timestamp_ms=timestamp_ms)
            producer.flush(30)  # one batch each


def same_on_every_node(cluster: Cluster, topic: str, nodes: list[int]) -> dict[str, Any] | None:
    """The partition's log start, high watermark and size, once every node's replica agrees, also on
    its Raft commit index (a replica that installed a snapshot has the state at once, its log's
    entries after the snapshot's base only when they arrive), and has finished the compaction passes
    it applied (a pass rewrites the rows in slices after its command is applied)."""
    seen = [replica_of(cluster, n, topic) for n in nodes]
    if any(s is None or not s["compaction_settled"] for s in seen):
        return None
    keys = ("log_start_offset", "high_watermark", "size_bytes", "commit_index")
    first = {k: seen[0][k] for k in keys}  # type: ignore[index]
    return first if all({k: s[k] for k in keys} == first for s in seen) else None  # type: ignore[index]


def test_size_retention_trims_every_replica_and_a_returning_follower_catches_up(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("sized", partitions=1, replication_factor=3, configs={"retention.bytes": "3000"})
    leaders = cluster.wait_leaders("sized")
    produce(cluster, "sized", 40)

    def trimmed() -> dict[str, Any] | None:
        agreed = same_on_every_node(cluster, "sized", [1, 2, 3])
        return agreed if agreed and agreed["log_start_offset"] > 0 and agreed["size_bytes"] <= 3000 else None

    first = wait_for(trimmed, 30, "every replica trimmed to retention.bytes")
    assert first["high_watermark"] == 40 and first["size_bytes"] > 2000, first

    follower = next(n for n in (1, 2, 3) if n != leaders[0])
    cluster.kill(follower)
    produce(cluster, "sized", 40)  # several retention passes while it is down
    others = [n for n in (1, 2, 3) if n != follower]
    wait_for(lambda: (a := same_on_every_node(cluster, "sized", others)) and a["high_watermark"] == 80
             and a["log_start_offset"] > first["high_watermark"], 30, "the others trimmed past what it holds")
    cluster.start(follower)
    agreed = wait_for(lambda: (a := same_on_every_node(cluster, "sized", [1, 2, 3])) and a["high_watermark"] == 80
                      and a, 60, "the returning follower caught up (by snapshot)")
    assert "installing a snapshot" in cluster.log(follower), (follower, agreed, cluster.log(follower)[-3000:])
    start = agreed["log_start_offset"]
    cluster.stop_all()
    gid = partition_gid(1, 0)
    logs = [[r for r in read_replica(cluster.root / "data" / str(n), gid) if r[0] >= start] for n in (1, 2, 3)]
    assert logs[0] == logs[1] == logs[2], ("every replica holds the same records from the log start",
                                           [len(log) for log in logs], start)
    assert [r[0] for r in logs[0]] == list(range(start, 80)), (start, [r[0] for r in logs[0]][:5])


def test_time_retention_drops_batches_older_than_retention_ms(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("timed", partitions=1, replication_factor=3, configs={"retention.ms": "600000"})
    cluster.wait_leaders("timed")
    hour_ago = int(time.time() * 1000) - 3_600_000
    produce(cluster, "timed", 5, timestamp_ms=hour_ago)
    produce(cluster, "timed", 3)
    agreed = wait_for(lambda: (a := same_on_every_node(cluster, "timed", [1, 2, 3])) and a["log_start_offset"] == 5
                      and a, 30, "the hour-old batches removed")
    assert agreed["high_watermark"] == 8
    with Admin(cluster.bootstrap) as admin:
        part = admin.describe_topic("timed").partitions[0]
        assert part.high_watermark == 8


def read_topic(cluster: Cluster, topic: str) -> dict[int, tuple[bytes | None, bytes | None]]:
    """offset -> (key, value) of partition 0 from its log start to its end, through a consumer."""
    from kraft import Consumer, TopicPartition

    tp = TopicPartition(topic, 0)
    consumer = Consumer(cluster.bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning()
        end = consumer.end_offsets([tp])[tp]
        out: dict[int, tuple[bytes | None, bytes | None]] = {}
        deadline = time.monotonic() + 30
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for rec in consumer.poll(timeout_ms=300):
                out[rec.offset] = (rec.key, rec.value)
        return out
    finally:
        consumer.close()


def test_compaction_keeps_the_latest_value_of_every_key_on_every_replica(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("table", partitions=1, replication_factor=3, configs={
            "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})
    leaders = cluster.wait_leaders("table")
    with Producer(cluster.bootstrap, acks="all") as producer:
        for i in range(120):
            value = None if i == 100 else b"value-%d" % i  # key 0's last word (offset 100) is a tombstone
            producer.send("table", key=b"key-%d" % (i % 10), value=value)
            producer.flush(30)
            if i == 60:
                follower = next(n for n in (1, 2, 3) if n != leaders[0])
                cluster.kill(follower)  # down across compaction passes: comes back by snapshot
    cluster.start(follower)
    latest = {b"key-%d" % k: b"value-%d" % (110 + k) for k in range(10)}

    def compacted() -> dict[int, tuple[bytes | None, bytes | None]] | None:
        agreed = same_on_every_node(cluster, "table", [1, 2, 3])
        if not agreed or agreed["high_watermark"] != 120:
            return None
        records = read_topic(cluster, "table")
        return records if len(records) <= 11 else None  # the active head (last batch) is never compacted

    records = wait_for(compacted, 60, "the log compacted to one record per key")
    assert {k: v for k, v in records.values() if k != b"key-9"} == {k: v for k, v in latest.items() if k != b"key-9"}
    assert all(o >= 100 for o in records), "only the latest record of each key is left"
    assert 100 not in records, "the tombstone is gone (delete.retention.ms = 0)"
    cluster.stop_all()
    gid = partition_gid(1, 0)
    logs = [read_replica(cluster.root / "data" / str(n), gid) for n in (1, 2, 3)]
    assert logs[0] == logs[1] == logs[2], "every replica holds the same compacted records"
