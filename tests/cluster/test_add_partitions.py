"""Placing a new topic's replicas by hand (CreateTopics ``assignments``) and adding partitions to a
topic on a real 3-node cluster: ``kraft topic add-partitions``, confluent-kafka's
``AdminClient.create_partitions`` and kafka-python's ``KafkaAdminClient.create_partitions`` (Kafka's
CreatePartitions, with its errors and validate_only); every replica node hosting the new partitions'
Raft groups; producers (kraft's and librdkafka's) sending keyed records by the new count after their
metadata refresh; a group of two kraft consumers and a confluent-kafka consumer group both
rebalancing onto the new partitions and reading what is written there.

Consumers run as threads of the test process (``Member``), librdkafka's polled from the test's own
thread; every wait has a deadline, and everything started here is closed in ``finally``."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import KafkaException
from confluent_kafka import Producer as CKProducer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import NewTopic as KPNewTopic
from kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidRequestError,
    UnknownTopicOrPartitionError,
)

from kraft import Admin, Producer
from kraft.partitioner import partition_for_key
from kraft.placement import assign_replicas
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_groups import Member

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

KRAFT = str(Path(sys.executable).parent / "kraft")
NODES = [(1, None), (2, None), (3, None)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("addparts"), 3, rf=2, partitions=2)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def kraft(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KRAFT, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"kraft {' '.join(args)} failed: {out.stdout}\n{out.stderr}"
    return out


def create(cluster: Cluster, topic: str, partitions: int = 2) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=partitions)
    cluster.wait_leaders(topic)


def replicas(cluster: Cluster, topic: str) -> list[list[int]]:
    with Admin(cluster.bootstrap) as admin:
        return [list(p.replicas) for p in admin.describe_topic(topic).partitions]


def hosted(cluster: Cluster, node: int, topic: str) -> set[int]:
    return {g["partition"] for g in cluster.node_status(node)["groups"] if g["topic"] == topic}


def grown(cluster: Cluster, topic: str, total: int) -> dict[int, int]:
    """Wait until every node knows ``total`` partitions of ``topic``, hosts its replicas of them, and
    each has a leader; the leaders."""
    def every_node_knows() -> bool:
        for node in cluster.alive():
            code, md = cluster.call(node, "metadata", {"topics": [topic]})
            if code or len(md["topics"][0]["partitions"]) != total:
                return False
        return True

    wait_for(every_node_knows, 30, f"every node knowing {total} partitions of {topic}")
    placed = replicas(cluster, topic)
    for node in cluster.alive():
        wanted = {p for p, r in enumerate(placed) if node in r}
        wait_for(lambda n=node, w=wanted: hosted(cluster, n, topic) == w, 30,
                 f"node {node} hosting its replicas of {topic}")
    return cluster.wait_leaders(topic)


def test_cli_add_partitions(cluster: Cluster) -> None:
    ini = str(cluster.config_path)
    kraft("topic", "create", "cli", "--partitions", "2", "--config", ini)
    cluster.wait_leaders("cli")
    out = kraft("topic", "add-partitions", "cli", "--to", "5", "--config", ini)
    assert out.stdout.strip() == "topic cli now has 5 partitions"
    assert "murmur2(key) % 5" in out.stderr
    grown(cluster, "cli", 5)
    placed = replicas(cluster, "cli")
    assert placed == assign_replicas(NODES, 5, 2, offset=zlib.crc32(b"cli"))
    wait_for(lambda: cluster.leaders("cli") == {p: r[0] for p, r in enumerate(placed)}, 30,
             "each partition led by its preferred replica")
    described = json.loads(kraft("topic", "describe", "cli", "--config", ini, "--json").stdout)
    assert [p["partition"] for p in described["partitions"]] == list(range(5))

    out = kraft("topic", "add-partitions", "cli", "--to", "7", "--validate-only", "--config", ini, "--json")
    assert json.loads(out.stdout) == {"topic": "cli", "partitions": 7, "validate_only": True}
    refused = kraft("topic", "add-partitions", "cli", "--to", "5", "--config", ini, "--json", check=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"] == "INVALID_PARTITIONS"
    refused = kraft("topic", "add-partitions", "nope", "--to", "5", "--config", ini, check=False)
    assert refused.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in refused.stdout + refused.stderr
    assert len(replicas(cluster, "cli")) == 5


def test_confluent_admin_create_partitions(cluster: Cluster) -> None:
    create(cluster, "ck")
    admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})

    def error_of(new: NewPartitions, **options: Any) -> str | None:
        try:
            admin.create_partitions([new], **options)[new.topic].result(30)
        except KafkaException as e:
            return str(e.args[0].name())
        return None

    assert error_of(NewPartitions("ck", 4), validate_only=True) is None
    assert len(replicas(cluster, "ck")) == 2, "validate_only changes nothing"
    assert error_of(NewPartitions("ck", 4)) is None
    grown(cluster, "ck", 4)
    assert replicas(cluster, "ck") == assign_replicas(NODES, 4, 2, offset=zlib.crc32(b"ck"))
    assert error_of(NewPartitions("ck", 5, replica_assignment=[[3, 2]])) is None
    grown(cluster, "ck", 5)
    assert replicas(cluster, "ck")[4] == [3, 2]
    assert error_of(NewPartitions("ck", 5)) == "INVALID_PARTITIONS"
    assert error_of(NewPartitions("ck", 3)) == "INVALID_PARTITIONS"
    assert error_of(NewPartitions("ck", 6, replica_assignment=[[1, 9]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("ck", 6, replica_assignment=[[1]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("missing", 6)) == "UNKNOWN_TOPIC_OR_PART"
    assert len(replicas(cluster, "ck")) == 5


def test_kafka_python_create_partitions(cluster: Cluster) -> None:
    create(cluster, "kp")
    admin = KafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap, request_timeout_ms=30000)
    try:
        admin.create_partitions({"kp": 3}, validate_only=True)
        admin.create_partitions({"kp": 3})
        grown(cluster, "kp", 3)
        admin.create_partitions({"kp": {"count": 5, "assignments": [[1, 3], [3, 1]]}})
        grown(cluster, "kp", 5)
        assert replicas(cluster, "kp")[3:] == [[1, 3], [3, 1]]
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({"kp": 4})
        with pytest.raises(InvalidReplicationAssignmentError):
            admin.create_partitions({"kp": {"count": 6, "assignments": [[2, 2]]}})
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.create_partitions({"missing": 2})
    finally:
        admin.close()
    assert len(replicas(cluster, "kp")) == 5


def test_producers_and_groups_move_onto_the_new_partitions(cluster: Cluster) -> None:
    topic = "orders"  # Member (tests/cluster/test_groups.py) subscribes to this name
    create(cluster, topic)
    kraft_group = [Member(cluster, "kraft-g", f"m{i}", auto_offset_reset="earliest").start() for i in range(2)]
    ck_conf = {"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "ck-g", "auto.offset.reset": "earliest",
               "session.timeout.ms": 6000, "heartbeat.interval.ms": 300, "topic.metadata.refresh.interval.ms": 1000}
    ck_group = [CKConsumer(ck_conf) for _ in range(2)]
    ck_seen: list[tuple[int, bytes]] = []
    try:
        for c in ck_group:
            c.subscribe([topic])

        def ck_assigned() -> set[int]:
            for c in ck_group:
                for m in c.consume(100, 0.1):
                    if m.error() is None:
                        ck_seen.append((m.partition(), m.value()))
            return {tp.partition for c in ck_group for tp in c.assignment()}

        def kraft_assigned() -> set[int]:
            return {tp.partition for m in kraft_group for tp in m.assigned}

        wait_for(lambda: ck_assigned() == {0, 1} and kraft_assigned() == {0, 1}, 60, "both groups on 2 partitions")
        with Admin(cluster.bootstrap) as admin:
            admin.create_partitions(topic, 5)
        grown(cluster, topic, 5)
        # Two ways to get there: the coordinator sees a subscribed topic grow and makes its groups
        # rebalance (heartbeats answer REBALANCE_IN_PROGRESS), and a member that refreshes its metadata
        # (librdkafka every topic.metadata.refresh.interval.ms, kraft's every metadata_max_age_ms)
        # sees the new count and rejoins, as with Kafka, where only the latter exists. The latter also
        # covers a librdkafka group leader that assigned from metadata asked of a node a heartbeat behind.
        wait_for(lambda: ck_assigned() == set(range(5)) and kraft_assigned() == set(range(5)), 60,
                 "both groups on 5 partitions")
        assert all(m.assigned for m in kraft_group), "both kraft members share the partitions"
        assert all(c.assignment() for c in ck_group), "both librdkafka members share the partitions"

        # kraft's producer maps keys by the new count once its metadata is refreshed.
        keys = [b"key-%d" % i for i in range(30)]
        with Producer(cluster.bootstrap, metadata_max_age_ms=500, linger_ms=0) as producer:
            def kraft_maps_by_five() -> bool:
                sent = [(k, producer.send(topic, b"kraft", key=k)) for k in keys]
                return all(f.result(30).partition == partition_for_key(k, 5) for k, f in sent)
            wait_for(kraft_maps_by_five, 30, "kraft's producer partitioning keys by 5")
        # librdkafka's too (its default partitioner: crc32 of the key).
        ck_producer = CKProducer({"bootstrap.servers": cluster.kafka_bootstrap,
                                  "topic.metadata.refresh.interval.ms": 500})
        reports: list[tuple[bytes, int]] = []

        def ck_maps_by_five() -> bool:
            reports.clear()
            for k in keys:
                ck_producer.produce(topic, key=k, value=b"ck",
                                    on_delivery=lambda err, msg: err is None and reports.append((msg.key(),
                                                                                               msg.partition())))
            assert ck_producer.flush(30) == 0
            return len(reports) == len(keys) and all(p == zlib.crc32(k) % 5 for k, p in reports)
        wait_for(ck_maps_by_five, 30, "librdkafka's producer partitioning keys by 5")

        # Both groups read records written to the new partitions.
        with Producer(cluster.bootstrap) as producer:
            for p in range(2, 5):
                producer.send(topic, b"new-%d" % p, partition=p).result(30)
        news = {(p, b"new-%d" % p) for p in range(2, 5)}
        wait_for(lambda: news <= {(p, v) for m in kraft_group for p, _, v in m.seen}, 60,
                 "the kraft group reading the new partitions")

        def ck_read_news() -> bool:
            ck_assigned()  # polls both members
            return news <= set(ck_seen)
        wait_for(ck_read_news, 60, "the confluent group reading the new partitions")
    finally:
        for c in ck_group:
            c.close()
        for m in kraft_group:
            m.close()


def test_create_topics_with_a_manual_replica_assignment(cluster: Cluster) -> None:
    """Kafka's CreateTopics ``assignments`` (librdkafka's 0081 sends them): the topic's replicas are
    the ones named, in their order (the first leads), checked as Kafka does."""
    admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})
    wanted = [[3, 1, 2], [1, 2, 3], [2, 3, 1], [3, 2, 1]]
    admin.create_topics([NewTopic("manual", len(wanted), replica_assignment=wanted)])["manual"].result(30)
    cluster.wait_leaders("manual")
    meta = admin.list_topics("manual", timeout=10).topics["manual"]
    assert [meta.partitions[p].replicas for p in sorted(meta.partitions)] == wanted
    with Admin(cluster.bootstrap) as kadmin:
        assert kadmin.describe_configs("manual")  # an ordinary topic from then on

    bad = {"rf-differs": [[1, 2], [3]], "twice": [[1, 1]], "unknown": [[1, 9]]}
    futures = admin.create_topics([NewTopic(name, len(a), replica_assignment=a) for name, a in bad.items()])
    for name, future in futures.items():
        with pytest.raises(KafkaException) as info:
            future.result(30)
        assert info.value.args[0].code() == 39, name  # INVALID_REPLICA_ASSIGNMENT
    checked = admin.create_topics([NewTopic("manual-check", 1, replica_assignment=[[2, 3]])], validate_only=True)
    checked["manual-check"].result(30)
    assert "manual-check" not in admin.list_topics(timeout=10).topics, "validate_only creates nothing"

    # kafka-python sends num_partitions and replication_factor beside the assignment: Kafka refuses both.
    kp = KafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap, request_timeout_ms=30000)
    try:
        with pytest.raises(InvalidRequestError):
            kp.create_topics([KPNewTopic("manual-both", 1, 2, replica_assignments={0: [1, 2]})])
    finally:
        kp.close()
