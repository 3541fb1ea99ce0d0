"""Unmodified Kafka clients (kafka-python, confluent-kafka/librdkafka, kcat) against a real kraft node's
Kafka listener: admin, produce, consume, groups, commits, compression, and records crossing between
the Kafka front end and kraft's native one."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import KafkaException
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KPTopicPartition
from kafka.admin import NewTopic as KPNewTopic

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.partitioner import partition_for_key
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

N = 1000
PARTITIONS = 3


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("kafka"), 1, rf=1, partitions=PARTITIONS)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _create(c: Cluster, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    c.wait_leaders(topic)


def _records(n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]], int]]:
    base = 1_700_000_000_000
    return [(b"key-%d" % (i % 97), b"value-%d" % i, [("n", b"%d" % i), ("src", b"kafka")], base + i * 7)
            for i in range(n)]


def _consume_confluent(c: Cluster, topic: str, n: int, **conf: Any) -> list[Any]:
    consumer = CKConsumer({"bootstrap.servers": c.kafka_bootstrap, "group.id": conf.pop("group", "reader"),
                           "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    try:
        consumer.assign([CKTopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got: list[Any] = []
        deadline = time.monotonic() + 60
        while len(got) < n and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None:
                assert m.error() is None, m.error()
                got.append(m)
        assert len(got) == n, f"consumed {len(got)} of {n}"
        return got
    finally:
        consumer.close()


def test_kafka_python_admin_produce_consume_with_headers_and_timestamps(node: Cluster) -> None:
    admin = KafkaAdminClient(bootstrap_servers=node.kafka_bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([KPNewTopic("kp", PARTITIONS, 1)])
        assert "kp" in admin.list_topics()
    finally:
        admin.close()
    node.wait_leaders("kp")
    sent = _records(N)
    for acks, idempotent in ((1, False), ("all", True)):
        producer = KafkaProducer(bootstrap_servers=node.kafka_bootstrap, acks=acks, enable_idempotence=idempotent,
                                 linger_ms=5)
        futures = [producer.send("kp", key=k, value=v, headers=h, timestamp_ms=ts) for k, v, h, ts in sent]
        producer.flush(60)
        metas = [f.get(timeout=60) for f in futures]
        producer.close()
        # kafka-python's default partitioner is murmur2, as kraft's: the same key, the same partition.
        for (key, *_), meta in zip(sent, metas, strict=True):
            assert meta.partition == partition_for_key(key, PARTITIONS)
    consumer = KafkaConsumer(bootstrap_servers=node.kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=15000)
    consumer.assign([KPTopicPartition("kp", p) for p in range(PARTITIONS)])
    got = []
    for m in consumer:
        got.append(m)
        if len(got) == 2 * N:
            break
    consumer.close()
    assert len(got) == 2 * N
    by_partition: dict[int, list[Any]] = {}
    for m in got:
        by_partition.setdefault(m.partition, []).append(m)
    expected = {p: [r for r in sent if partition_for_key(r[0], PARTITIONS) == p] * 2 for p in range(PARTITIONS)}
    for p, msgs in by_partition.items():
        assert [m.offset for m in msgs] == list(range(len(msgs)))  # dense, in order
        assert [(m.key, m.value, list(m.headers), m.timestamp) for m in msgs] == [
            (k, v, h, ts) for k, v, h, ts in expected[p]]


def test_confluent_idempotent_produce_and_librdkafka_partitioners(node: Cluster) -> None:
    _create(node, "ck")
    sent = _records(N)
    delivered: list[tuple[Any, Any]] = []
    for acks, partitioner in (("1", "consistent_random"), ("all", "murmur2_random")):
        producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "acks": acks,
                               "enable.idempotence": acks == "all", "partitioner": partitioner,
                               "linger.ms": 5})
        for k, v, h, ts in sent:
            producer.produce("ck", key=k, value=v, headers=h, timestamp=ts,
                             on_delivery=lambda err, msg, part=partitioner: delivered.append((err, msg, part)))
        assert producer.flush(60) == 0
    assert len(delivered) == 2 * N
    for err, msg, partitioner in delivered:
        assert err is None, err
        key = msg.key()
        # librdkafka's default (consistent_random) is CRC32 of the key; murmur2_random is Java's, and kraft's.
        want = zlib.crc32(key) % PARTITIONS if partitioner == "consistent_random" else partition_for_key(
            key, PARTITIONS)
        assert msg.partition() == want
    got = _consume_confluent(node, "ck", 2 * N)
    acked = {(msg.partition(), msg.offset()): msg.value() for _, msg, _ in delivered}
    assert {(m.partition(), m.offset()): m.value() for m in got} == acked
    first = next(m for m in got if m.value() == b"value-0")
    assert first.headers() == [("n", b"0"), ("src", b"kafka")]
    assert first.timestamp() == (1, sent[0][3])


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_pass_through_and_every_client_reads_them(node: Cluster, codec: str) -> None:
    topic = f"codec-{codec}"
    _create(node, topic)
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "compression.type": codec, "linger.ms": 20})
    values = [b"%s-%d-" % (codec.encode(), i) + b"x" * 200 for i in range(300)]
    for i, v in enumerate(values):
        producer.produce(topic, key=b"k%d" % i, value=v, headers=[("i", b"%d" % i)])
    assert producer.flush(30) == 0
    assert sorted(m.value() for m in _consume_confluent(node, topic, len(values))) == sorted(values)
    kp = KafkaConsumer(bootstrap_servers=node.kafka_bootstrap, auto_offset_reset="earliest",
                       enable_auto_commit=False, consumer_timeout_ms=10000)
    kp.assign([KPTopicPartition(topic, p) for p in range(PARTITIONS)])
    read: list[bytes] = []
    for m in kp:
        read.append(m.value)
        if len(read) == len(values):
            break
    kp.close()
    assert sorted(read) == sorted(values)
    with Consumer(node.bootstrap) as native:
        native.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        got: list[Any] = []
        wait_for(lambda: got.extend(native.poll(200)) or len(got) >= len(values), 30, "native reads")
    assert sorted(r.value for r in got) == sorted(values)
    assert all(r.headers == (("i", r.key[1:]),) for r in got)


def test_records_cross_between_the_native_and_kafka_front_ends(node: Cluster) -> None:
    with Admin(node.bootstrap) as admin:
        admin.create_topic("cross", partitions=PARTITIONS, replication_factor=1)
    node.wait_leaders("cross")
    with Producer(node.bootstrap) as producer:
        native_meta = [producer.send("cross", key=b"n%d" % i, value=b"native-%d" % i,
                                     headers=[("from", b"native")], timestamp_ms=1_600_000_000_000 + i)
                       for i in range(200)]
        producer.flush()
        native_meta = [f.result(30) for f in native_meta]
    ck = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "enable.idempotence": True})
    kafka_acks: list[Any] = []
    for i in range(200):
        ck.produce("cross", key=b"c%d" % i, value=b"kafka-%d" % i, headers=[("from", b"kafka")],
                   timestamp=1_650_000_000_000 + i, on_delivery=lambda err, msg: kafka_acks.append((err, msg)))
    assert ck.flush(30) == 0
    # Kafka consumers see the native records where the native producer was told they are.
    seen = {(m.partition(), m.offset()): m for m in _consume_confluent(node, "cross", 400)}
    for i, meta in enumerate(native_meta):
        m = seen[(meta.partition, meta.offset)]
        assert (m.key(), m.value(), m.headers(), m.timestamp()[1]) == (
            b"n%d" % i, b"native-%d" % i, [("from", b"native")], 1_600_000_000_000 + i)
    # The native consumer sees the Kafka records where librdkafka was told they are.
    with Consumer(node.bootstrap) as native:
        native.assign([TopicPartition("cross", p) for p in range(PARTITIONS)])
        got: list[Any] = []
        wait_for(lambda: got.extend(native.poll(200)) or len(got) >= 400, 30, "native reads")
    by_pos = {(r.partition, r.offset): r for r in got}
    for err, msg in kafka_acks:
        assert err is None
        r = by_pos[(msg.partition(), msg.offset())]
        assert (r.key, r.value, r.headers, r.timestamp_ms) == (msg.key(), msg.value(), (("from", b"kafka"),),
                                                                 msg.timestamp()[1])


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_group_of_two_splits_partitions_and_resumes_at_the_commit(node: Cluster, strategy: str) -> None:
    topic, group = f"grp-{strategy}", f"two-{strategy}"
    _create(node, topic, partitions=4)
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap})
    for i in range(400):
        producer.produce(topic, key=b"k%d" % i, value=b"%d" % i)
    assert producer.flush(30) == 0

    def member() -> CKConsumer:
        c = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                        "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                        "partition.assignment.strategy": strategy})
        c.subscribe([topic])
        return c

    a, b = member(), member()
    try:
        def split() -> bool:
            for c in (a, b):
                c.poll(0.2)
            pa = {tp.partition for tp in a.assignment()}
            pb = {tp.partition for tp in b.assignment()}
            return bool(pa) and bool(pb) and not pa & pb and pa | pb == {0, 1, 2, 3}
        wait_for(split, 60, "two members splitting four partitions")
    finally:
        b.close()
    # a takes every partition after b leaves; it reads some records and commits them, then closes.
    consumed: list[Any] = []

    def a_reads() -> bool:
        messages = [m for m in a.consume(500, 0.2) if m.error() is None]
        if len(a.assignment()) < 4:
            consumed.clear()  # records of the old generation: their positions are not a's to commit
        else:
            consumed.extend(messages)
        return len(consumed) >= 150

    wait_for(a_reads, 60, "a owning every partition and consuming")
    a.commit(asynchronous=False)
    positions = {tp.partition: tp.offset for tp in a.position(a.assignment())}
    a.close()
    ends = {p: 0 for p in range(4)}
    for i in range(400):
        ends[zlib.crc32(b"k%d" % i) % 4] += 1  # librdkafka's default partitioner
    # A new member of the group resumes exactly at the committed positions.
    c = member()
    try:
        committed = {tp.partition: tp.offset for tp in c.committed(
            [CKTopicPartition(topic, p) for p in range(4)], timeout=20)}
        assert committed == {p: (o if o >= 0 else -1001) for p, o in positions.items()}
        rest: dict[int, list[int]] = {p: [] for p in range(4)}

        def c_reads() -> bool:
            for m in c.consume(500, 0.2):
                if m.error() is None:
                    rest[m.partition()].append(m.offset())
            return sum(map(len, rest.values())) >= 400 - sum(max(o, 0) for o in positions.values())

        wait_for(c_reads, 60, "the resumed member reading the rest")
        for p in range(4):
            start_at = max(positions[p], 0)
            assert rest[p] == list(range(start_at, ends[p])), f"partition {p}"
    finally:
        c.close()


def test_kafka_python_group_commit_close_resume(node: Cluster) -> None:
    _create(node, "kpg")
    producer = KafkaProducer(bootstrap_servers=node.kafka_bootstrap)
    for i in range(300):
        producer.send("kpg", key=b"k%d" % i, value=b"%d" % i)
    producer.flush(30)
    producer.close()
    first = KafkaConsumer("kpg", bootstrap_servers=node.kafka_bootstrap, group_id="kpg-group",
                          auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10000,
                          max_poll_records=50)
    seen: set[bytes] = set()
    while len(seen) < 120:
        for records in first.poll(timeout_ms=1000).values():
            seen.update(r.value for r in records)
    first.commit()
    first.close()
    second = KafkaConsumer("kpg", bootstrap_servers=node.kafka_bootstrap, group_id="kpg-group",
                           auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=8000)
    rest: set[bytes] = set()
    for m in second:
        rest.add(m.value)
        if len(rest) >= 300 - len(seen):
            break
    second.close()
    assert not seen & rest, "records before the commit were delivered again"
    assert seen | rest == {b"%d" % i for i in range(300)}


def test_kcat_metadata_and_round_trip(node: Cluster) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:
        why = "kcat is not installed (Debian package kcat; `make test` installs it when run as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    _create(node, "kc")
    listing = subprocess.run([kcat, "-b", node.kafka_bootstrap, "-L", "-t", "kc"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    assert 'topic "kc" with 3 partitions' in listing
    assert "partition 2, leader 1" in listing
    lines = "".join(f"key{i}:value{i}\n" for i in range(50))
    subprocess.run([kcat, "-b", node.kafka_bootstrap, "-P", "-t", "kc", "-p", "1", "-K:"], input=lines, text=True,
                   timeout=30, check=True, capture_output=True)
    out = subprocess.run([kcat, "-b", node.kafka_bootstrap, "-C", "-t", "kc", "-p", "1", "-o", "beginning", "-e",
                          "-f", "%k=%s@%o\n"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.splitlines() == [f"key{i}=value{i}@{i}" for i in range(50)]


def test_oversized_batch_gets_message_too_large(node: Cluster) -> None:
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "message.max.bytes": 4_000_000})
    errors: list[Any] = []
    _create(node, "big")
    producer.produce("big", value=b"x" * 2_000_000, partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(15)
    assert errors and errors[0] is not None and errors[0].name() == "MSG_SIZE_TOO_LARGE"
    # the node still serves
    producer.produce("big", value=b"small", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(15) == 0 and errors[-1] is None


def test_confluent_admin_deletes_and_lists(node: Cluster) -> None:
    _create(node, "doomed")
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.delete_topics(["doomed"])["doomed"].result(30)
    wait_for(lambda: "doomed" not in admin.list_topics(timeout=10).topics, 30, "topic gone")
    with pytest.raises(KafkaException):
        admin.create_topics([NewTopic("bad/name", 1, 1)])["bad/name"].result(30)


def test_aiokafka_idempotent_gzip_produce_and_group_consume_commit(node: Cluster) -> None:
    """aiokafka is the fourth client the README names: admin, an idempotent gzip producer, and a
    group consumer that commits."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin import NewTopic as AIONewTopic

    async def scenario() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=node.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([AIONewTopic("aio", 2, 1)])
        finally:
            await admin.close()
        await asyncio.to_thread(node.wait_leaders, "aio")
        producer = AIOKafkaProducer(bootstrap_servers=node.kafka_bootstrap, enable_idempotence=True,
                                    compression_type="gzip")
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait("aio", b"v%d" % i, key=b"k%d" % i, headers=[("h", b"x")])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("aio", bootstrap_servers=node.kafka_bootstrap, group_id="aio-group",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            got: list[Any] = []
            deadline = time.monotonic() + 30
            while len(got) < 20 and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    got += messages
            assert sorted(m.value for m in got) == sorted(b"v%d" % i for i in range(20))
            assert all(m.headers == (("h", b"x"),) for m in got)
            await consumer.commit()
            assert sum([await consumer.committed(tp) or 0 for tp in consumer.assignment()]) == 20
        finally:
            await consumer.stop()

    asyncio.run(asyncio.wait_for(scenario(), 90))
