"""A confluent-kafka (librdkafka) idempotent producer keeps writing while the leader of a partition is
killed with kill -9: the client follows the new leader (NOT_LEADER_OR_FOLLOWER, metadata refresh) and
every record it was told is written is there, at its acknowledged offset, exactly once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.testing.local_cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC = "failover"
PARTITIONS = 3


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
        c.wait_leaders(TOPIC)
        yield c
    finally:
        c.stop_all()


def test_kill_9_of_a_leader_loses_no_acknowledged_record(cluster: Cluster) -> None:
    producer = CKProducer({"bootstrap.servers": cluster.kafka_bootstrap, "enable.idempotence": True,
                           "acks": "all", "linger.ms": 2, "topic.metadata.refresh.interval.ms": 1000})
    acked: list[tuple[int, int, bytes]] = []
    failed: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            failed.append(err)

    sent = 0

    def produce_until(cond: Any, timeout_s: float, what: str) -> None:
        nonlocal sent
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what} ({len(acked)} acked, {failed[:3]})"
            for _ in range(50):
                producer.produce(TOPIC, value=b"v%08d" % sent, partition=sent % PARTITIONS, on_delivery=delivered)
                sent += 1
            producer.poll(0.01)

    produce_until(lambda: len(acked) >= 1500, 60, "records before the kill")
    victim = cluster.leaders(TOPIC)[0]
    assert victim is not None
    cluster.kill(victim, signal.SIGKILL)
    before = len(acked)
    produce_until(lambda: sum(1 for p, _, _ in acked[before:] if p == 0) >= 500, 90,
                  "partition 0 accepting writes under its new leader")
    assert producer.flush(60) == 0
    assert not failed, failed[:5]
    assert len(acked) == sent

    ends = {}
    consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "checker",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        for p in range(PARTITIONS):
            ends[p] = consumer.get_watermark_offsets(CKTopicPartition(TOPIC, p), timeout=30)[1]
        consumer.assign([CKTopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        stored: dict[tuple[int, int], bytes] = {}
        deadline = time.monotonic() + 90
        while len(stored) < sum(ends.values()):
            assert time.monotonic() < deadline, f"read {len(stored)} of {sum(ends.values())}"
            for m in consumer.consume(1000, 0.5):
                assert m.error() is None, m.error()
                stored[(m.partition(), m.offset())] = m.value()
    finally:
        consumer.close()
    for partition, offset, value in acked:
        assert stored.get((partition, offset)) == value, f"acknowledged {value!r} at {partition}/{offset} is lost"
    duplicates = [v for v, n in Counter(stored.values()).items() if n > 1]
    assert not duplicates, f"written twice: {duplicates[:5]}"
