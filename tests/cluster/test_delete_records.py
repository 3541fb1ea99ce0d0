"""DeleteRecords on a real 3-node cluster (RF 3): log starts moved through the native protocol, the CLI
and Kafka clients; readers below the start get OFFSET_OUT_OF_RANGE and consumers reset; a follower
killed while records are deleted and produced catches up by a snapshot over real sockets, to the
leader's log start, high watermark and bytes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KPTopicPartition

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.errors import OffsetOutOfRange
from kraft.state.metadata import partition_gid
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.replica_log import read_replica

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

KRAFT = str(Path(sys.executable).parent / "kraft")
TOPIC = "dr"
TP = TopicPartition(TOPIC, 0)
BATCH = 10  # records per produced batch: offsets 0-9, 10-19, ...


def produce_batches(bootstrap: str, start: int, batches: int) -> None:
    """``batches`` batches of BATCH records to partition 0, values ``v<offset>``; one flush per batch
    (and a linger longer than the test) so each is exactly one batch."""
    with Producer(bootstrap, acks="all", linger_ms=60_000) as producer:
        offset = start
        for _ in range(batches):
            futures = [producer.send(TOPIC, value=b"v%d" % (offset + i), partition=0) for i in range(BATCH)]
            producer.flush()
            assert [f.result(30).offset for f in futures] == list(range(offset, offset + BATCH))
            offset += BATCH


def kraft(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KRAFT, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"kraft {' '.join(args)} failed: {out.stdout}\n{out.stderr}"
    return out


def replica(cluster: Cluster, node: int) -> dict[str, Any] | None:
    """This node's view of partition 0: log start, high watermark, bytes (None: not hosted)."""
    for g in cluster.node_status(node)["groups"]:
        if g["topic"] == TOPIC and g["partition"] == 0:
            return {k: g[k] for k in ("log_start_offset", "high_watermark", "size_bytes")}
    return None


def commit_index(cluster: Cluster, node: int) -> int | None:
    for g in cluster.node_status(node)["groups"]:
        if g["topic"] == TOPIC and g["partition"] == 0:
            return int(g["commit_index"])
    return None


def earliest(cluster: Cluster, node: int) -> int:
    code, body = cluster.call(node, "list_offsets", {"partitions": [{"topic": TOPIC, "partition": 0, "timestamp": -2}]})
    assert code == 0 and body["partitions"][0]["error_code"] == 0, body
    return int(body["partitions"][0]["offset"])


def fetch(cluster: Cluster, node: int, offset: int) -> dict[str, Any]:
    code, body = cluster.call(node, "fetch", {"max_wait_ms": 0, "partitions": [
        {"topic": TOPIC, "partition": 0, "offset": offset}]})
    assert code == 0, body
    return dict(body["partitions"][0])


def consume_from_earliest(bootstrap: str, n: int) -> list[int]:
    """The offsets a new kraft consumer (auto_offset_reset earliest, first at a position below the log
    start) reads."""
    with Consumer(bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=100) as consumer:
        consumer.assign([TP])
        consumer.seek(TP, 0)  # below the log start: OFFSET_OUT_OF_RANGE, then the reset
        got: list[int] = []
        deadline = time.monotonic() + 30
        while len(got) < n:
            assert time.monotonic() < deadline, f"read {got}"
            got += [r.offset for r in consumer.poll(200)]
        return got


def create_topic(cluster: Cluster) -> int:
    """The topic, and its partition's leader once that is its preferred replica (the first), which
    then keeps it: another replica may lead first (a node that started late joins as a learner and
    cannot be elected until it caught up), and leader balancing hands the partition to the preferred
    one some seconds later, under a test that asks the first leader directly."""
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(TOPIC, partitions=1, replication_factor=3)
    cluster.wait_leaders(TOPIC)
    code, md = cluster.call(cluster.alive()[0], "metadata", {"topics": [TOPIC]})
    assert code == 0, md
    preferred = int(md["topics"][0]["partitions"][0]["replicas"][0])
    wait_for(lambda: cluster.leaders(TOPIC).get(0) == preferred, 30, f"its preferred replica, {preferred}, to lead")
    return preferred


def test_delete_records_then_a_follower_catches_up_by_snapshot(cluster3: Cluster) -> None:
    leader = create_topic(cluster3)
    produce_batches(cluster3.bootstrap, 0, 10)
    assert [base for base, _ in fetch(cluster3, leader, 0)["batches"]] == list(range(0, 100, BATCH))

    # Mid-batch: the batch 20-29 stays, readers start at 25.
    with Admin(cluster3.bootstrap) as admin:
        assert admin.delete_records(TOPIC, {0: 25}) == {0: 25}
    assert earliest(cluster3, leader) == 25
    below = fetch(cluster3, leader, 10)
    assert below["error_code"] == OffsetOutOfRange.code and below["log_start_offset"] == 25
    assert [base for base, _ in fetch(cluster3, leader, 25)["batches"]][:1] == [20]  # the batch holding 25
    assert consume_from_earliest(cluster3.bootstrap, 75) == list(range(25, 100))
    described = json.loads(kraft("topic", "describe", TOPIC, "-b", cluster3.bootstrap, "--json").stdout)
    (part,) = described["partitions"]
    assert (part["log_start_offset"], part["high_watermark"]) == (25, 100) and part["size_bytes"] > 0
    table = kraft("topic", "describe", TOPIC, "-b", cluster3.bootstrap).stdout.splitlines()
    assert table[0].split() == ["partition", "leader", "replicas", "replica", "states", "log", "start", "high",
                                "watermark", "size"]
    assert table[1].split()[-4:-2] == ["25", "100"]  # then the size: a number and its unit

    # Before the high watermark (-1), through the CLI: nothing is left to read.
    out = kraft("topic", "delete-records", TOPIC, "--partition", "0", "--before", "-1", "-b", cluster3.bootstrap,
                "--json")
    assert json.loads(out.stdout) == {"topic": TOPIC, "partition": 0, "low_watermark": 100}
    assert earliest(cluster3, leader) == 100
    assert fetch(cluster3, leader, 99)["error_code"] == OffsetOutOfRange.code
    beyond = kraft("topic", "delete-records", TOPIC, "-p", "0", "--before", "101", "-b", cluster3.bootstrap,
                   check=False)
    assert beyond.returncode == 1 and beyond.stderr.startswith("error: OFFSET_OUT_OF_RANGE:")
    produce_batches(cluster3.bootstrap, 100, 2)
    assert consume_from_earliest(cluster3.bootstrap, 20) == list(range(100, 120))

    # A follower (not the metadata leader, when it can be helped) misses deletions and appends.
    wait_for(lambda: len({json.dumps(replica(cluster3, n)) for n in (1, 2, 3)}) == 1, 30, "replicas to agree")
    controller = cluster3.call(leader, "metadata", {"topics": []})[1]["controller"]
    victim = next(n for n in (3, 2, 1) if n not in (leader, controller)) if controller != leader else (
        next(n for n in (3, 2, 1) if n != leader))
    cluster3.kill(victim, signal.SIGKILL)
    produce_batches(cluster3.bootstrap, 120, 3)
    with Admin(cluster3.bootstrap) as admin:
        assert admin.delete_records(TOPIC, {0: -1}) == {0: 150}  # the follower's log ends below every entry kept
        produce_batches(cluster3.bootstrap, 150, 3)
        assert admin.delete_records(TOPIC, {0: 165}) == {0: 165}
    produce_batches(cluster3.bootstrap, 180, 2)
    live = [n for n in (1, 2, 3) if n != victim]
    wait_for(lambda: replica(cluster3, live[0]) == replica(cluster3, live[1]), 30, "the live replicas to agree")
    expected = replica(cluster3, live[0])
    assert expected is not None and (expected["log_start_offset"], expected["high_watermark"]) == (165, 200)

    cluster3.start(victim)
    wait_for(lambda: replica(cluster3, victim) == expected, 60,
             f"node {victim}'s replica to catch up to {expected} (it has {_safe(cluster3, victim)})")
    assert "installing a snapshot" in cluster3.log(victim)  # the path this test is for
    assert all(replica(cluster3, n) == expected for n in (1, 2, 3))
    assert consume_from_earliest(cluster3.bootstrap, 35) == list(range(165, 200))

    # A replica that installed a snapshot has the state at once, its log's entries after the
    # snapshot's base only when they arrive: wait for the same commit index everywhere.
    wait_for(lambda: len({commit_index(cluster3, n) for n in (1, 2, 3)}) == 1, 30, "every log caught up")
    # Every replica holds the same records from the log start on, byte for byte in their values.
    cluster3.stop_all()
    gid = partition_gid(1, 0)  # the first topic of this cluster
    logs = [[r for r in read_replica(cluster3.root / "data" / str(n), gid) if r[0] >= 165] for n in (1, 2, 3)]
    assert logs[0] == logs[1] == logs[2]
    assert [(o, v) for o, _, v in logs[0]] == [(o, b"v%d" % o) for o in range(165, 200)]


def _safe(cluster: Cluster, node: int) -> Any:
    try:
        return replica(cluster, node)
    except Exception as e:  # the node is starting
        return repr(e)


def test_kafka_clients_delete_records_and_describe_log_dirs(cluster3: Cluster) -> None:
    create_topic(cluster3)
    produce_batches(cluster3.bootstrap, 0, 5)
    # kafka-python: sent to the partition's leader (found through Metadata) over the Kafka listeners.
    admin = KafkaAdminClient(bootstrap_servers=cluster3.kafka_bootstrap, request_timeout_ms=30000)
    try:
        result = admin.delete_records({KPTopicPartition(TOPIC, 0): 12})
        assert result[KPTopicPartition(TOPIC, 0)]["low_watermark"] == 12
        dirs = admin.describe_log_dirs()
        assert sorted(d["broker"] for d in dirs) == [1, 2, 3]
        for d in dirs:
            (log_dir,) = d["log_dirs"]
            assert log_dir["log_dir"] == str(cluster3.root / "data" / str(d["broker"]))
            (topic,) = [t for t in log_dir["topics"] if t["name"] == TOPIC]
            (p,) = topic["partitions"]
            status = replica(cluster3, d["broker"])
            assert status is not None and p["partition_size"] == status["size_bytes"] > 0
    finally:
        admin.close()
    assert earliest(cluster3, cluster3.wait_leaders(TOPIC)[0]) == 12

    # confluent-kafka (librdkafka): DeleteRecords, and a consumer below the start resets to it.
    ck = AdminClient({"bootstrap.servers": cluster3.kafka_bootstrap})
    if not hasattr(ck, "delete_records"):
        pytest.skip("this confluent-kafka has no AdminClient.delete_records")
    futures = ck.delete_records([CKTopicPartition(TOPIC, 0, 33)])
    deleted = futures[CKTopicPartition(TOPIC, 0)].result(30)
    assert deleted.low_watermark == 33
    beyond = ck.delete_records([CKTopicPartition(TOPIC, 0, 51)])[CKTopicPartition(TOPIC, 0)]
    with pytest.raises(KafkaException) as refused:
        beyond.result(30)
    assert refused.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    consumer = CKConsumer({"bootstrap.servers": cluster3.kafka_bootstrap, "group.id": "dr-reader",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([CKTopicPartition(TOPIC, 0, 5)])  # below the start: the consumer resets to 33
        got: list[int] = []
        deadline = time.monotonic() + 60
        while len(got) < 17 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None:
                assert m.error() is None, m.error()
                got.append(m.offset())
        assert got == list(range(33, 50))
    finally:
        consumer.close()
