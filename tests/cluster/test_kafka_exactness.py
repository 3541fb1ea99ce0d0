"""What Kafka clients can tell apart from a Kafka broker, on a real node: topics created on first use
(by a produce, by a Metadata request that allows it) and not when cluster.ini turns it off; leader
epochs in Metadata, fetched batches, ListOffsets and OffsetForLeaderEpoch, and a stale one fenced;
ListOffsets by timestamp answering the record inside a batch; commit metadata strings kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition

from kraft import Admin
from kraft.protocol.kafka.records import encode_kafka_batch
from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

LEADER_NOT_AVAILABLE = 5
UNKNOWN_TOPIC_OR_PARTITION = 3
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(Path(tmp_path_factory.mktemp("kafka-exact")), 1, rf=1, partitions=2)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def kafka(node: Cluster) -> Iterator[RawKafka]:
    k = RawKafka(node.kafka_ports[1])
    try:
        yield k
    finally:
        k.close()


def _metadata(k: RawKafka, topic: str, allow: bool = True) -> dict[str, Any]:
    res = k.call(3, 7, {"topics": [{"name": topic}], "allow_auto_topic_creation": allow})
    return dict(res["topics"][0])


def _ready(k: RawKafka, topic: str) -> dict[str, Any]:
    """The topic's Metadata v7 once every partition has a leader."""
    def ready() -> dict[str, Any] | None:
        t = _metadata(k, topic, allow=False)
        ok = t["error_code"] == 0 and t["partitions"] and all(p["error_code"] == 0 for p in t["partitions"])
        return t if ok else None
    found: dict[str, Any] = wait_for(ready, 30, f"leaders of {topic}")
    return found


def _produce(k: RawKafka, topic: str, batch: bytes) -> dict[str, Any]:
    res = k.call(0, 7, {"acks": -1, "timeout": 10000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": batch}]}]})
    return dict(res["responses"][0]["partition_responses"][0])


def test_metadata_that_allows_it_creates_the_topic_with_the_cluster_defaults(node: Cluster, kafka: RawKafka) -> None:
    first = _metadata(kafka, "auto-meta")
    assert first["error_code"] in (0, LEADER_NOT_AVAILABLE)  # being created: the client asks again
    t = _ready(kafka, "auto-meta")
    assert len(t["partitions"]) == 2  # cluster.ini's partitions
    assert all(p["leader_epoch"] >= 1 and p["isr_nodes"] == [1] for p in t["partitions"])
    assert _metadata(kafka, "never-made", allow=False)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert _metadata(kafka, "__internal")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert _metadata(kafka, "bad/name")["error_code"] == 17  # INVALID_TOPIC_EXCEPTION
    with Admin(node.bootstrap) as admin:
        topics = admin.list_topics()
    assert "auto-meta" in topics and "never-made" not in topics and "__internal" not in topics


def test_confluent_producer_to_a_missing_topic_creates_it_and_delivers(node: Cluster) -> None:
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "message.timeout.ms": 30000})
    delivered: list[Any] = []
    for i in range(10):
        producer.produce("auto-produce", value=b"v%d" % i, partition=0,
                         on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    assert producer.flush(40) == 0
    assert [err for err, _ in delivered] == [None] * 10
    assert sorted(o for _, o in delivered) == list(range(10))


def test_a_raw_produce_to_a_missing_topic_answers_unknown_and_creates_it(kafka: RawKafka) -> None:
    batch = encode_kafka_batch([(1_700_000_000_000, b"k", b"v", [])])
    assert _produce(kafka, "auto-raw", batch)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION  # as Kafka answers
    _ready(kafka, "auto-raw")
    assert _produce(kafka, "auto-raw", batch)["error_code"] == 0  # the producer's retry lands


def test_auto_creation_off_answers_unknown_topic(tmp_path: Path) -> None:
    c = Cluster(tmp_path, 1, rf=1, extra="auto_create_topics = false")
    try:
        c.start_all()
        k = RawKafka(c.kafka_ports[1])
        try:
            assert _metadata(k, "nope")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
            batch = encode_kafka_batch([(1_700_000_000_000, b"k", b"v", [])])
            assert _produce(k, "nope", batch)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
            assert _metadata(k, "nope")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
            with Admin(c.bootstrap) as admin:
                assert "nope" not in admin.list_topics()
        finally:
            k.close()
    finally:
        c.stop_all()


def test_list_offsets_by_timestamp_finds_the_record_inside_a_batch(kafka: RawKafka) -> None:
    _metadata(kafka, "ts")
    t = _ready(kafka, "ts")
    epoch = t["partitions"][0]["leader_epoch"]
    base = 1_700_000_000_000
    batch = encode_kafka_batch([(base + 1000 * i, b"k", b"v%d" % i, []) for i in range(5)])
    assert _produce(kafka, "ts", batch)["base_offset"] == 0

    def list_offset(ts: int, current_epoch: int = -1) -> dict[str, Any]:
        res = kafka.call(2, 4, {"replica_id": -1, "isolation_level": 0, "topics": [{"name": "ts", "partitions": [
            {"partition_index": 0, "current_leader_epoch": current_epoch, "timestamp": ts}]}]})
        return dict(res["topics"][0]["partitions"][0])

    inside = list_offset(base + 2500)
    assert (inside["offset"], inside["timestamp"], inside["leader_epoch"]) == (3, base + 3000, epoch)
    assert (list_offset(base)["offset"], list_offset(base + 4000)["offset"]) == (0, 4)
    assert (list_offset(base + 4001)["offset"], list_offset(base + 4001)["timestamp"]) == (-1, -1)
    latest = list_offset(-1, current_epoch=epoch)
    assert (latest["offset"], latest["leader_epoch"]) == (5, epoch)
    assert list_offset(-1, current_epoch=epoch - 1)["error_code"] == FENCED_LEADER_EPOCH
    assert list_offset(-1, current_epoch=epoch + 1)["error_code"] == UNKNOWN_LEADER_EPOCH


def test_leader_epochs_in_fetched_batches_and_offset_for_leader_epoch(kafka: RawKafka) -> None:
    _metadata(kafka, "epochs")
    epoch = _ready(kafka, "epochs")["partitions"][0]["leader_epoch"]
    for i in range(3):
        _produce(kafka, "epochs", encode_kafka_batch([(1_700_000_000_000 + i, b"k", b"v", [])]))

    def fetch(current_epoch: int) -> dict[str, Any]:
        res = kafka.call(1, 11, {"replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20,
                                 "isolation_level": 0, "session_id": 0, "session_epoch": -1, "topics": [
                                     {"topic": "epochs", "partitions": [
                                         {"partition": 0, "current_leader_epoch": current_epoch, "fetch_offset": 0,
                                          "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}],
                                 "forgotten_topics_data": [], "rack_id": ""})
        return dict(res["responses"][0]["partitions"][0])

    served = fetch(epoch)
    assert served["error_code"] == 0 and served["records"]
    records = served["records"]
    epochs, at = [], 0
    while at < len(records):  # each batch: base offset (8), length (4), partition leader epoch (4)
        length = int.from_bytes(records[at + 8:at + 12], "big")
        epochs.append(int.from_bytes(records[at + 12:at + 16], "big", signed=True))
        at += 12 + length
    assert epochs == [epoch] * 3
    assert fetch(epoch - 1)["error_code"] == FENCED_LEADER_EPOCH
    assert fetch(epoch + 1)["error_code"] == UNKNOWN_LEADER_EPOCH

    def offset_for(leader_epoch: int) -> tuple[int, int, int]:
        res = kafka.call(23, 3, {"replica_id": -1, "topics": [{"topic": "epochs", "partitions": [
            {"partition": 0, "current_leader_epoch": epoch, "leader_epoch": leader_epoch}]}]})
        p = res["topics"][0]["partitions"][0]
        return p["error_code"], p["leader_epoch"], p["end_offset"]

    assert offset_for(epoch) == (0, epoch, 3)  # the current epoch ends at the log end
    assert offset_for(epoch + 1) == (0, -1, -1)  # an epoch the partition has not had


def test_commit_metadata_round_trip(node: Cluster) -> None:
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap})
    for i in range(5):
        producer.produce("meta", value=b"v%d" % i, partition=0)
    assert producer.flush(40) == 0
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "meta-group",
                           "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[CKTopicPartition("meta", 0, 3, metadata="checkpoint-7")], asynchronous=False)
        committed = consumer.committed([CKTopicPartition("meta", 0)], timeout=30)[0]
        assert (committed.offset, committed.metadata) == (3, "checkpoint-7")
        consumer.commit(offsets=[CKTopicPartition("meta", 0, 4)], asynchronous=False)
        committed = consumer.committed([CKTopicPartition("meta", 0)], timeout=30)[0]
        assert (committed.offset, committed.metadata or "") == (4, "")  # a commit without one clears it
    finally:
        consumer.close()


def test_a_commit_beyond_the_end_is_stored_as_kafka_does(node: Cluster) -> None:
    """librdkafka's 0099 commits offset 42 on an empty partition. Kafka stores any offset; kraft's
    coordinator once refused one beyond the high watermark when its node led the partition (on this
    one-node cluster it leads every partition, so the old rule would answer OFFSET_OUT_OF_RANGE)."""
    with Admin(node.bootstrap) as admin:
        admin.create_topic("commit-far", partitions=1)
    node.wait_leaders("commit-far")
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "far-group",
                           "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[CKTopicPartition("commit-far", 0, 42, metadata="ahead")], asynchronous=False)
        committed = consumer.committed([CKTopicPartition("commit-far", 0)], timeout=30)[0]
        assert (committed.offset, committed.metadata) == (42, "ahead")
    finally:
        consumer.close()
