"""Topic configs on a real node whose cluster.ini sets a cluster-wide default: the kraft CLI, and
unmodified Kafka clients (confluent-kafka's AdminClient, kafka-python's KafkaAdminClient) creating
topics with configs, describing them (Kafka's sources), altering them (AlterConfigs and
IncrementalAlterConfigs) and getting INVALID_CONFIG, naming the key, for bad ones; and what topic
configs enforce on their producers and consumers (LogAppendTime, compaction's keys, max.message.bytes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, KafkaException
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource as KPConfigResource
from kafka.admin import NewTopic as KPNewTopic
from kafka.errors import InvalidConfigurationError

from kraft import Admin, Consumer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

KRAFT = str(Path(sys.executable).parent / "kraft")
HOUR_MS = 3600000
# Kafka's ConfigSource numbers
TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # Compaction looks every 0.5 s, retention at its default 30 s: a topic compacts on the cleaner's clock.
    c = Cluster(tmp_path_factory.mktemp("configs"), 1, rf=1, partitions=1,
                extra=f"log_retention_ms = {HOUR_MS}\nlog_cleaner_backoff_ms = 500")
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def kraft(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KRAFT, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, f"kraft {' '.join(args)} failed: {out.stdout}\n{out.stderr}"
    return out


def test_cli_create_alter_describe(node: Cluster) -> None:
    b = ["--bootstrap", node.bootstrap]
    kraft("topic", "create", "cli", "--config", "cleanup.policy=compact", "--config", "retention.bytes=1000", *b)
    kraft("topic", "alter", "cli", "--config", "segment.ms=60000", "--delete-config", "retention.bytes", *b)
    described = json.loads(kraft("topic", "describe", "cli", *b, "--json").stdout)
    configs = {c["name"]: (c["value"], c["source"]) for c in described["configs"]}
    assert configs["cleanup.policy"] == ("compact", "topic")
    assert configs["segment.ms"] == (60000, "topic")
    assert configs["retention.bytes"] == (-1, "default")
    assert configs["retention.ms"] == (HOUR_MS, "cluster")  # cluster.ini's log_retention_ms
    table = kraft("topic", "describe", "cli", *b).stdout.splitlines()
    assert "retention.ms               3600000              cluster" in table
    refused = kraft("topic", "alter", "cli", "--config", "retention.ms=soon", "--config", "segment.ms=1", *b,
                    check=False)
    assert refused.returncode == 1
    assert refused.stderr == "error: INVALID_CONFIG: retention.ms: 'soon' is not an integer\n"
    with Admin(node.bootstrap) as admin:
        assert admin.describe_configs("cli")["segment.ms"].value == 60000, "a refused alter changes nothing"


def _result(futures: dict[Any, Any]) -> Any:
    (future,) = futures.values()
    return future.result(30)


def test_confluent_admin_client(node: Cluster) -> None:
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    created = admin.create_topics([NewTopic("ck-cfg", 1, 1, config={"cleanup.policy": "compact",
                                                                     "retention.ms": "1000"}),
                                   NewTopic("ck-bad", 1, 1, config={"cleanup.policy": "shred"})])
    created["ck-cfg"].result(30)
    with pytest.raises(KafkaException) as info:
        created["ck-bad"].result(30)
    assert info.value.args[0].code() == 40 and "cleanup.policy: 'shred' is not one of" in info.value.args[0].str()
    node.wait_leaders("ck-cfg")

    topic = ConfigResource("TOPIC", "ck-cfg")
    described = _result(admin.describe_configs([topic]))
    assert (described["cleanup.policy"].value, described["cleanup.policy"].source) == ("compact", TOPIC_CONFIG)
    assert (described["retention.ms"].value, described["retention.ms"].source) == ("1000", TOPIC_CONFIG)
    assert (described["retention.bytes"].value, described["retention.bytes"].source) == ("-1", DEFAULT_CONFIG)
    assert described["retention.bytes"].is_default and not described["retention.bytes"].is_read_only

    _result(admin.incremental_alter_configs([ConfigResource("TOPIC", "ck-cfg", incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])]))
    described = _result(admin.describe_configs([topic]))
    assert described["cleanup.policy"].value == "compact,delete"
    assert (described["retention.ms"].value, described["retention.ms"].source) == (str(HOUR_MS), STATIC_BROKER_CONFIG)

    with pytest.raises(KafkaException) as info:
        _result(admin.incremental_alter_configs([ConfigResource("TOPIC", "ck-cfg", incremental_configs=[
            ConfigEntry("min.cleanable.dirty.ratio", "2", incremental_operation=AlterConfigOpType.SET)])]))
    assert info.value.args[0].code() == 40 and "min.cleanable.dirty.ratio" in info.value.args[0].str()

    # Kafka's non-incremental AlterConfigs replaces the topic's configs: what is not given goes back.
    # (confluent-kafka deprecates it, but clients still send it, so kraft serves it.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _result(admin.alter_configs([ConfigResource("TOPIC", "ck-cfg", set_config={"segment.ms": "60000"})]))
    described = _result(admin.describe_configs([topic]))
    assert {n for n, c in described.items() if c.source == TOPIC_CONFIG} == {"segment.ms"}

    broker = _result(admin.describe_configs([ConfigResource("BROKER", "1")]))
    assert (broker["log.retention.ms"].value, broker["log.retention.ms"].source) == (str(HOUR_MS),
                                                                                     STATIC_BROKER_CONFIG)
    assert not broker["log.retention.ms"].is_read_only, "a dynamic broker config (README, Dynamic broker configs)"
    assert broker["broker.id"].is_read_only
    with pytest.raises(KafkaException) as info:
        _result(admin.describe_configs([ConfigResource("TOPIC", "nope")]))
    assert info.value.args[0].code() == 3  # UNKNOWN_TOPIC_OR_PARTITION


def test_kafka_python_admin_client(node: Cluster) -> None:
    admin = KafkaAdminClient(bootstrap_servers=node.kafka_bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([KPNewTopic("kp-cfg", 1, 1, topic_configs={"retention.bytes": "1000",
                                                                       "message.timestamp.type": "LogAppendTime"})])
        node.wait_leaders("kp-cfg")
        resource = KPConfigResource("TOPIC", "kp-cfg")
        modified = admin.describe_configs([resource])["topic"]["kp-cfg"]
        assert {n: c["value"] for n, c in modified.items()} == {"retention.bytes": "1000",
                                                                "message.timestamp.type": "LogAppendTime"}
        every = admin.describe_configs([resource], config_filter="all", include_synonyms=True)["topic"]["kp-cfg"]
        assert every["retention.ms"]["config_source"] == "STATIC_BROKER_CONFIG"
        assert every["retention.ms"]["synonyms"][0] == {"name": "log.retention.ms", "value": str(HOUR_MS),
                                                        "source": "STATIC_BROKER_CONFIG"}
        assert admin.alter_configs([KPConfigResource("TOPIC", "kp-cfg", configs={"retention.ms": "7"})]) == {
            "topic": {"kp-cfg": "OK"}}  # IncrementalAlterConfigs
        result = admin.alter_configs([KPConfigResource("TOPIC", "kp-cfg", configs={"retention.ms": "x"})],
                                     raise_on_unknown=False)
        assert "InvalidConfigurationError" in result["topic"]["kp-cfg"] and "retention.ms" in result["topic"]["kp-cfg"]
        modified = admin.describe_configs([resource])["topic"]["kp-cfg"]
        assert modified["retention.ms"]["value"] == "7"
        with pytest.raises(InvalidConfigurationError):
            admin.create_topics([KPNewTopic("kp-bad", 1, 1, topic_configs={"retention.ms": "-5"})])
    finally:
        admin.close()


def test_kafka_clients_meet_the_topic_rules(node: Cluster) -> None:
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    topics = {"lat": {"message.timestamp.type": "LogAppendTime"}, "cmp": {"cleanup.policy": "compact"},
              "tiny": {"max.message.bytes": "1000"}}
    for future in admin.create_topics([NewTopic(t, 1, 1, config=c) for t, c in topics.items()]).values():
        future.result(30)
    for t in topics:
        node.wait_leaders(t)

    delivered: list[Any] = []
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "linger.ms": 0,
                           "message.send.max.retries": 0})
    before = time.time_ns() // 1_000_000
    producer.produce("lat", key=b"k", value=b"v", timestamp=1000, on_delivery=lambda e, m: delivered.append((e, m)))
    producer.produce("cmp", value=b"no key", on_delivery=lambda e, m: delivered.append((e, m)))
    producer.produce("tiny", key=b"k", value=b"x" * 2000, on_delivery=lambda e, m: delivered.append((e, m)))
    assert producer.flush(30) == 0
    after = time.time_ns() // 1_000_000
    # Delivery reports of different topics come in any order: take each by its topic.
    by_topic = {m.topic(): (e, m) for e, m in delivered}
    (ok_err, ok), (cmp_err, _), (tiny_err, _) = by_topic["lat"], by_topic["cmp"], by_topic["tiny"]
    assert ok_err is None
    kind, stamp = ok.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME and before <= stamp <= after  # ProduceResponse.log_append_time
    assert cmp_err is not None and cmp_err.code() == 87  # INVALID_RECORD
    assert tiny_err is not None and tiny_err.code() == 10  # MESSAGE_TOO_LARGE

    kp = KafkaProducer(bootstrap_servers=node.kafka_bootstrap)
    try:
        meta = kp.send("lat", key=b"k2", value=b"v2", timestamp_ms=2000).get(timeout=30)
        assert meta.timestamp > stamp
    finally:
        kp.close()

    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "lat-reader",
                           "enable.auto.commit": False})
    try:
        consumer.assign([CKTopicPartition("lat", 0, 0)])
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
    finally:
        consumer.close()
    assert [m.timestamp() for m in got] == [(TIMESTAMP_LOG_APPEND_TIME, stamp),
                                            (TIMESTAMP_LOG_APPEND_TIME, meta.timestamp)]
    with Consumer(node.bootstrap) as native:  # kraft's consumer reads the stamps of Kafka batches too
        native.assign([TopicPartition("lat", 0)])
        native.seek(TopicPartition("lat", 0), 0)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while len(records) < 2 and time.monotonic() < deadline:
            records += native.poll(timeout_ms=500)
    assert [r.timestamp_ms for r in records] == [stamp, meta.timestamp]


def test_a_compacted_topic_names_the_keyless_records_of_a_batch(node: Cluster) -> None:
    """KIP-467: the batch is refused whole, but the answer names the keyless records, so librdkafka
    fails those with INVALID_RECORD and the batch's others with _INVALID_DIFFERENT_RECORD (not all
    with INVALID_RECORD: librdkafka's test 0011 counts them)."""
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic("cmp-mixed", 1, 1, config={"cleanup.policy": "compact"})])["cmp-mixed"].result(30)
    node.wait_leaders("cmp-mixed")
    delivered: dict[int, Any] = {}
    # One batch of 10 (a long linger): records 0, 3, 6 and 9 have no key.
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "linger.ms": 1000,
                           "message.send.max.retries": 0})
    for i in range(10):
        producer.produce("cmp-mixed", key=None if i % 3 == 0 else f"k{i}".encode(), value=f"v{i}".encode(),
                         partition=0, on_delivery=lambda e, m, i=i: delivered.__setitem__(i, e))
    assert producer.flush(30) == 0
    codes = {i: (e.code() if e is not None else None) for i, e in sorted(delivered.items())}
    assert codes == {i: 87 if i % 3 == 0 else -138 for i in range(10)}  # INVALID_RECORD / _INVALID_DIFFERENT_RECORD


def test_librdkafka_0077s_topic_is_created_described_and_compacted_within_seconds(node: Cluster) -> None:
    """librdkafka's 0077 creates its topic with Kafka configs kraft only stores (segment.bytes far
    below a MiB, file.delete.delay.ms) and expects compaction within seconds of
    max.compaction.lag.ms=100: the leader looks every log_cleaner_backoff_ms, not only at the
    (30 s) retention check, and keeps the latest record of each key."""
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    configs = {"cleanup.policy": "compact", "segment.ms": "10000", "segment.bytes": "10000",
               "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "86400",
               "file.delete.delay.ms": "10000", "max.compaction.lag.ms": "100"}
    admin.create_topics([NewTopic("cmp-0077", 1, 1, config=configs)])["cmp-0077"].result(30)
    node.wait_leaders("cmp-0077")
    described = _result(admin.describe_configs([ConfigResource("TOPIC", "cmp-0077")]))
    for name, value in configs.items():
        assert (described[name].value, described[name].source) == (value, TOPIC_CONFIG), name
    assert described["compression.type"].value == "producer" and described["compression.type"].is_default

    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "batch.num.messages": 1})
    for i in range(30):
        producer.produce("cmp-0077", key=f"k{i % 3}".encode(), value=f"v{i}".encode(), partition=0)
        producer.flush(30)  # a batch each, as 0077's producer (batch.num.messages=1)
    producer.produce("cmp-0077", key=b"last", value=b"head", partition=0)  # the active head is never compacted
    assert producer.flush(30) == 0

    def compacted() -> list[tuple[bytes, bytes]] | None:
        records = _read_all(node, "cmp-0077")
        return records if len(records) == 4 else None

    started = time.monotonic()
    records = wait_for(compacted, 15, "the log compacted to one record per key")
    assert records == [(b"k0", b"v27"), (b"k1", b"v28"), (b"k2", b"v29"), (b"last", b"head")]
    assert time.monotonic() - started < 15, "compacted before the 30 s retention check came round"


def _read_all(node: Cluster, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "read-all",
                           "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([CKTopicPartition(topic, 0, 0)])
        out: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF: read to the end
                    return out
                raise AssertionError(msg.error())
            out.append((msg.key(), msg.value()))
        raise AssertionError(f"{topic} not read to its end within 20 s")
    finally:
        consumer.close()
