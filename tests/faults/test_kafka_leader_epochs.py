"""Leader epochs across a leader change on 3 real nodes: kill -9 of a partition's leader makes a new
leader with a higher epoch; a confluent-kafka (librdkafka) consumer that was reading goes on from its
position (it validates it with OffsetForLeaderEpoch, KIP-320) without an offset reset, and the new
leader says where the old epoch ended; the ISR the cluster reports drops the killed node."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC = "epochs"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 3)])[TOPIC].result(30)
        c.wait_leaders(TOPIC)
        yield c
    finally:
        c.stop_all()


def _partition(c: Cluster, node: int) -> dict[str, Any]:
    k = RawKafka(c.kafka_ports[node])
    try:
        res = k.call(3, 7, {"topics": [{"name": TOPIC}], "allow_auto_topic_creation": False})
        return dict(res["topics"][0]["partitions"][0])
    finally:
        k.close()


def _produce(c: Cluster, start: int, n: int) -> None:
    producer = CKProducer({"bootstrap.servers": c.kafka_bootstrap, "enable.idempotence": True,
                           "topic.metadata.refresh.interval.ms": 500})
    failed: list[Any] = []
    for i in range(start, start + n):
        producer.produce(TOPIC, value=b"%d" % i, partition=0,
                         on_delivery=lambda err, _msg: failed.append(err) if err is not None else None)
    assert producer.flush(60) == 0 and not failed, failed[:3]


def test_a_new_leader_has_a_higher_epoch_and_a_consumer_goes_on(cluster: Cluster) -> None:
    _produce(cluster, 0, 100)
    before = wait_for(lambda: (p := _partition(cluster, 1))["isr_nodes"] and len(p["isr_nodes"]) == 3 and p,
                      30, "the full ISR")
    old_leader, old_epoch = before["leader_id"], before["leader_epoch"]
    assert old_epoch >= 1 and sorted(before["isr_nodes"]) == [1, 2, 3]

    errors: list[Any] = []
    consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "epoch-reader",
                           "enable.auto.commit": False, "auto.offset.reset": "error",
                           "topic.metadata.refresh.interval.ms": 500, "error_cb": errors.append})
    got: list[tuple[int, int]] = []  # (offset, leader epoch of its batch)

    def read_until(n: int) -> None:
        deadline = time.monotonic() + 90
        while len(got) < n:
            assert time.monotonic() < deadline, f"read {len(got)} of {n}"
            m = consumer.poll(0.5)
            if m is not None:
                # auto.offset.reset=error: a reset after the leader change would show up here
                assert m.error() is None, m.error()
                got.append((m.offset(), m.leader_epoch()))

    try:
        consumer.assign([CKTopicPartition(TOPIC, 0, 0)])
        read_until(100)
        assert {e for _, e in got} == {old_epoch}
        cluster.kill(old_leader)
        alive = [n for n in (1, 2, 3) if n != old_leader]
        after = wait_for(lambda: (p := _partition(cluster, alive[0]))["leader_id"] in alive
                         and p["leader_epoch"] > old_epoch and p, 60, "a new leader")
        new_epoch = after["leader_epoch"]
        _produce(cluster, 100, 100)
        read_until(200)
        assert [o for o, _ in got] == list(range(200))  # no gap, no repeat: the position held
        assert all(e >= new_epoch for _, e in got[100:])  # (a hand-over to the preferred replica: later ones)

        now = _partition(cluster, alive[0])
        k = RawKafka(cluster.kafka_ports[now["leader_id"]])
        try:
            res = k.call(23, 3, {"replica_id": -1, "topics": [{"topic": TOPIC, "partitions": [
                {"partition": 0, "current_leader_epoch": now["leader_epoch"], "leader_epoch": old_epoch}]}]})
            p = res["topics"][0]["partitions"][0]
            assert (p["error_code"], p["leader_epoch"], p["end_offset"]) == (0, old_epoch, 100)
        finally:
            k.close()

        # The ISR drops the killed node once the leader has not heard from it (and says so to all).
        for node in alive:
            wait_for(lambda n=node: sorted(_partition(cluster, n)["isr_nodes"]) == sorted(alive), 30,
                     f"node {node} to report the ISR without node {old_leader}")
    finally:
        consumer.close()


def test_a_kafka_python_consumer_with_a_fetch_session_goes_on_after_a_leader_change(cluster: Cluster) -> None:
    """kafka-python 3.0 fetches through a fetch session (KIP-227): its session lives on the old
    leader, so after the kill it fetches from the new leader in a new session, from its position
    (auto_offset_reset="none": a reset would raise), every record once."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KPTopicPartition

    _produce(cluster, 0, 100)
    old = wait_for(lambda: (p := _partition(cluster, 1))["leader_id"] in (1, 2, 3) and p, 30, "a leader")
    consumer = KafkaConsumer(bootstrap_servers=cluster.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="none", fetch_max_wait_ms=100, metadata_max_age_ms=500,
                             request_timeout_ms=15000)
    got: list[int] = []

    def read_until(n: int) -> None:
        deadline = time.monotonic() + 90
        while len(got) < n:
            assert time.monotonic() < deadline, f"read {len(got)} of {n}"
            for records in consumer.poll(500).values():
                got.extend(r.offset for r in records)

    try:
        tp = KPTopicPartition(TOPIC, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        read_until(100)
        for _ in range(3):  # idle incremental fetches in the session on the old leader
            consumer.poll(200)
        cluster.kill(old["leader_id"])
        alive = [n for n in (1, 2, 3) if n != old["leader_id"]]
        wait_for(lambda: (p := _partition(cluster, alive[0]))["leader_id"] in alive
                 and p["leader_epoch"] > old["leader_epoch"] and p, 60, "a new leader")
        _produce(cluster, 100, 100)
        read_until(200)
        assert got == list(range(200)), "no gap, no repeat: the position held across sessions"
    finally:
        consumer.close()
