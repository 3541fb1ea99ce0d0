"""Kafka batches without a producer id that wait in a partition group's queue together become one Raft
entry (kraft.state.produce_sets) on real nodes: librdkafka's producer sends many small batches to one
partition, the leader joins them (``kraft_produce_sets`` counts it), and every record is read back
exactly once at dense offsets, each at the offset its delivery report gave, by a Kafka consumer and
by kraft's own. Real node processes on 127.0.0.1, deadlines, every node stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition

from kraft import Admin, Consumer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_metrics import total

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC = "sets"
ROUND = 3000  # records per round; rounds go on until the leader has joined some batches
MAX_ROUNDS = 10


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3, http=True)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def test_queued_kafka_batches_join_and_every_record_reads_back_once_where_it_was_acknowledged(
        cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(TOPIC, partitions=1, replication_factor=3)
    cluster.wait_leaders(TOPIC)
    # Batches of five records, sent as soon as they are full, many requests in flight: the leader's
    # queue holds several of them whenever its driver is busy with the last.
    producer = CKProducer({"bootstrap.servers": cluster.kafka_bootstrap, "acks": "all", "linger.ms": 0,
                           "batch.num.messages": 5, "enable.idempotence": False})
    acked: dict[bytes, int] = {}
    failed: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(err)
        else:
            acked[msg.value()] = msg.offset()

    sent = 0
    for _ in range(MAX_ROUNDS):
        for _ in range(ROUND):
            producer.produce(TOPIC, value=b"r%d" % sent, partition=0, on_delivery=delivered)
            sent += 1
            producer.poll(0)
        assert producer.flush(60) == 0 and not failed, failed[:3]
        if total(cluster, "kraft_produce_sets_total") > 0:
            break
    assert total(cluster, "kraft_produce_sets_total") > 0, f"no batches joined in {sent} records"
    assert total(cluster, "kraft_produce_set_batches_total") >= 2 * total(cluster, "kraft_produce_sets_total")
    assert len(acked) == sent and sorted(acked.values()) == list(range(sent)), "one dense offset per record"

    consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "sets-reader",
                           "enable.auto.commit": False})
    try:
        consumer.assign([CKTopicPartition(TOPIC, 0, 0)])
        read: dict[bytes, int] = {}

        def kafka_read_all() -> bool:
            for m in consumer.consume(1000, 0.5):
                assert m.error() is None, m.error()
                assert m.value() not in read, f"{m.value()!r} read twice"
                read[m.value()] = m.offset()
            return len(read) >= sent

        wait_for(kafka_read_all, 60, "the Kafka consumer reading every record")
    finally:
        consumer.close()
    assert read == acked

    with Consumer(cluster.bootstrap) as native:
        native.assign([TopicPartition(TOPIC, 0)])
        got: dict[bytes, int] = {}

        def native_read_all() -> bool:
            for record in native.poll(200):
                assert record.value not in got, f"{record.value!r} read twice"
                got[record.value] = record.offset
            return len(got) >= sent

        wait_for(native_read_all, 60, "kraft's consumer reading every record")
    assert got == acked
