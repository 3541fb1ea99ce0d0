"""Fetch from follower (KIP-392) on a real 3-node cluster with racks and ``fetch_from_follower = true``
(Kafka's replica.selector.class=RackAwareReplicaSelector, as librdkafka's test clusters set it):
the leader sends a consumer whose client.rack is a follower's rack to that follower (Fetch v11's
preferred_read_replica, no records), the follower serves Fetch v11+ up to what it has applied, older
versions still only from the leader, and librdkafka's consumer (0101's check) reads most bytes from
the replica in its rack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

NOT_LEADER_OR_FOLLOWER = 6
RECORDS = 300
VALUE = b"x" * 100


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(Path(tmp_path_factory.mktemp("fff")), 3, rf=3, partitions=1, extra="fetch_from_follower = true")
    text = c.config_path.read_text()
    for node in (1, 2, 3):
        text = text.replace(f"[node.{node}]\n", f"[node.{node}]\nrack = RACK{node}\n")
    c.config_path.write_text(text)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        admin.create_topics([NewTopic("fff", 1, 3)])["fff"].result(30)
        c.wait_leaders("fff")
        producer = CKProducer({"bootstrap.servers": c.kafka_bootstrap})
        for i in range(RECORDS):
            producer.produce("fff", value=VALUE, key=b"%d" % i, partition=0)
        assert producer.flush(60) == 0
        yield c
    finally:
        c.stop_all()


def _leader_and_follower(cluster: Cluster) -> tuple[int, int]:
    meta = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap}).list_topics("fff", timeout=10)
    p = meta.topics["fff"].partitions[0]
    return p.leader, next(n for n in p.replicas if n != p.leader)


def _fetch(k: RawKafka, version: int, rack: str, offset: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20,
                            "isolation_level": 0, "session_id": 0, "session_epoch": -1, "topics": [
                                {"topic": "fff", "partitions": [
                                    {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset,
                                     "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}],
                            "forgotten_topics_data": []}
    if version >= 11:
        body["rack_id"] = rack
    return dict(k.call(1, version, body)["responses"][0]["partitions"][0])


def test_the_leader_names_the_replica_in_the_clients_rack_and_the_follower_serves(cluster: Cluster) -> None:
    leader, follower = _leader_and_follower(cluster)
    at_leader, at_follower = RawKafka(cluster.kafka_ports[leader]), RawKafka(cluster.kafka_ports[follower])
    try:
        def sent_on() -> dict[str, Any] | None:  # once the follower counts as in sync
            answer = _fetch(at_leader, 11, f"RACK{follower}")
            return answer if answer["preferred_read_replica"] == follower else None

        redirected = wait_for(sent_on, 20, "the leader to name the follower in the client's rack")
        assert redirected["error_code"] == 0 and not redirected["records"]
        assert redirected["high_watermark"] == RECORDS
        served = _fetch(at_leader, 11, f"RACK{leader}")  # the leader's own rack: it serves
        assert (served["preferred_read_replica"], bool(served["records"])) == (-1, True)
        assert _fetch(at_leader, 11, "")["preferred_read_replica"] == -1, "no client.rack: the leader serves"

        from_follower = _fetch(at_follower, 11, f"RACK{follower}")
        assert from_follower["error_code"] == 0 and from_follower["records"]
        assert from_follower["high_watermark"] == RECORDS, "a follower's high watermark: what it has applied"
        assert _fetch(at_follower, 12, "")["records"], "any v11+ consumer fetch, as Kafka's followers"
        assert _fetch(at_follower, 10, "")["error_code"] == NOT_LEADER_OR_FOLLOWER, "before v11: leader only"
        assert _fetch(at_follower, 11, "", offset=RECORDS + 5)["error_code"] == 1  # OFFSET_OUT_OF_RANGE
    finally:
        at_leader.close()
        at_follower.close()


def test_librdkafka_reads_from_the_replica_in_its_rack(cluster: Cluster) -> None:
    """librdkafka's 0101: broker.rack of every replica, then a consumer with client.rack set to a
    follower's rack gets most of its bytes from that follower."""
    _leader, follower = _leader_and_follower(cluster)
    admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})
    racks = set()
    for node in (1, 2, 3):
        (future,) = admin.describe_configs([ConfigResource("BROKER", str(node))]).values()
        racks.add(future.result(30)["broker.rack"].value)
    assert racks == {"RACK1", "RACK2", "RACK3"}

    stats: list[dict[str, Any]] = []
    consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "fff-group",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False,
                           "client.rack": f"RACK{follower}", "statistics.interval.ms": 500,
                           "stats_cb": lambda s: stats.append(json.loads(s))})
    try:
        consumer.subscribe(["fff"])
        got = 0

        def read_all() -> bool:
            nonlocal got
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got += 1
            return got >= RECORDS

        wait_for(read_all, 60, f"{RECORDS} records", interval_s=0)
        seen = len(stats)

        def fresh_statistics() -> bool:  # stats_cb runs inside poll
            consumer.poll(0.2)
            return len(stats) > seen

        wait_for(fresh_statistics, 10, "statistics after the last record", interval_s=0)
    finally:
        consumer.close()
    rx = {b["nodeid"]: b["rxbytes"] for b in stats[-1]["brokers"].values() if b["nodeid"] >= 0}
    assert rx[follower] > RECORDS * len(VALUE), rx
    assert rx[follower] == max(rx.values()), f"most bytes from the follower in RACK{follower}: {rx}"


def test_off_a_follower_sends_the_client_to_the_leader(tmp_path: Path) -> None:
    """Without fetch_from_follower (the default, as Kafka without a replica selector) nothing changes:
    no preferred read replica, and a follower answers NOT_LEADER_OR_FOLLOWER, so a client that
    comes to it by mistake (a stale leader) refreshes its metadata."""
    c = Cluster(tmp_path, 3, rf=3, partitions=1)
    text = c.config_path.read_text()
    for node in (1, 2, 3):
        text = text.replace(f"[node.{node}]\n", f"[node.{node}]\nrack = RACK{node}\n")
    c.config_path.write_text(text)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        admin.create_topics([NewTopic("fff", 1, 3)])["fff"].result(30)
        c.wait_leaders("fff")
        leader, follower = _leader_and_follower(c)
        at_leader, at_follower = RawKafka(c.kafka_ports[leader]), RawKafka(c.kafka_ports[follower])
        try:
            assert _fetch(at_leader, 11, f"RACK{follower}")["preferred_read_replica"] == -1
            assert _fetch(at_follower, 11, f"RACK{follower}")["error_code"] == NOT_LEADER_OR_FOLLOWER
        finally:
            at_leader.close()
            at_follower.close()
    finally:
        c.stop_all()
