"""The cluster's id and its partitions' leaders, on real node processes (issue 13, day-2 operations):

- a new cluster gets an id once, every node and every client sees the same one (native metadata,
  ``kraft cluster status``, confluent-kafka's and kafka-python's describe_cluster), each node keeps it
  in its identity on disk, and it survives a restart of the whole cluster;
- a node whose cluster.ini points it at another cluster's node is refused there, and the cluster it
  was pointed at keeps its own connections;
- preferred-leader elections on request (``kraft cluster elect-leaders``, confluent-kafka's
  ElectLeaders) reach each partition's leader on whichever node it is;
- automatic leader balancing: after a node is killed and restarted, its preferred partitions are led
  by it again within one ``leader_balance_interval_ms``, and leaders are spread evenly.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import ElectionType, KafkaError
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient

from kraft import Admin
from kraft.log.lmdb_store import LmdbStore
from kraft.node import identity
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_cli import kraft
from tests.cluster.test_replication import create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

PARTITIONS = 6
BALANCE_INTERVAL_S = 5.0  # cluster.ini's leader_balance_interval_ms default
ELECTION_SLACK_S = 3.0  # a transfer's election, and the new leader's report reaching the metadata


def cluster_id_of(cluster: Cluster, node: int | None = None) -> str | None:
    bootstrap = cluster.bootstrap if node is None else f"127.0.0.1:{cluster.client_ports[node]}"
    with Admin(bootstrap, request_timeout_ms=5000) as admin:
        return admin.describe_cluster().cluster_id


def disk_identity(cluster: Cluster, node: int) -> identity.NodeIdentity | None:
    store = LmdbStore(cluster.root / "data" / str(node), fsync=False, map_size_mb=64)
    try:
        return identity.load(store)
    finally:
        store.close()


def preferred_of(cluster: Cluster, topic: str) -> dict[int, int]:
    code, md = cluster.call(cluster.alive()[0], "metadata", {"topics": [topic]})
    assert code == 0
    return {p["partition"]: p["replicas"][0] for p in md["topics"][0]["partitions"]}


def caught_up(cluster: Cluster, node: int, topic: str) -> bool:
    """Every partition of ``topic`` has a leader other than ``node`` that sees ``node`` as a voter
    with nothing missing, or is led by ``node`` itself."""
    for partition, leader in cluster.leaders(topic).items():
        if leader is None or leader not in cluster.alive():
            return False
        if leader == node:
            continue
        group = next(g for g in cluster.node_status(leader)["groups"]
                     if g["topic"] == topic and g["partition"] == partition)
        follower = group["followers"].get(node) or group["followers"].get(str(node))
        if follower is None or follower["state"] != "voter" or follower["behind"] != 0:
            return False
    return True


def test_the_cluster_id_is_one_everywhere_on_disk_and_after_a_restart(cluster3: Cluster) -> None:
    cluster_id = wait_for(lambda: cluster_id_of(cluster3), 20, "the cluster's id")
    assert len(cluster_id) == 22
    assert {cluster_id_of(cluster3, n) for n in (1, 2, 3)} == {cluster_id}
    status = json.loads(kraft("cluster", "status", "--bootstrap", cluster3.bootstrap, "--json").stdout)
    assert status["cluster_id"] == cluster_id

    confluent = AdminClient({"bootstrap.servers": cluster3.kafka_bootstrap})
    described = confluent.describe_cluster().result(30)  # librdkafka asks Metadata for it
    assert described.cluster_id == cluster_id
    assert described.controller.id == status["controller"]
    assert sorted(n.id for n in described.nodes) == [1, 2, 3]
    kp = KafkaAdminClient(bootstrap_servers=cluster3.kafka_bootstrap, request_timeout_ms=30000)
    try:
        answer = kp.describe_cluster()  # kafka-python sends DescribeCluster (60)
    finally:
        kp.close()
    assert answer["cluster_id"] == cluster_id and answer["controller_id"] == status["controller"]
    assert sorted((b["broker_id"], b["port"]) for b in answer["brokers"]) == sorted(cluster3.kafka_ports.items())
    assert "DESCRIBE" in answer["authorized_operations"]  # everything: kraft has no ACLs

    for node in (1, 2, 3):
        cluster3.kill(node, signal.SIGTERM)
    assert {n: disk_identity(cluster3, n).cluster_id for n in (1, 2, 3)} == {1: cluster_id, 2: cluster_id,  # type: ignore[union-attr]
                                                                               3: cluster_id}
    cluster3.start_all()
    assert wait_for(lambda: cluster_id_of(cluster3), 20, "the cluster's id after a restart") == cluster_id


def test_a_node_pointed_at_another_clusters_node_is_refused(tmp_path: Path) -> None:
    """Cluster B's cluster.ini points its node 2 at cluster A's node 2: B's node 1 dials it, says its
    cluster id in its hello, and A's node 2 refuses it, keeping its connection to A's own node 1."""
    a, b = Cluster(tmp_path / "a", 2, rf=2), Cluster(tmp_path / "b", 2, rf=2)
    try:
        a.start_all()
        b.start_all()
        id_a = wait_for(lambda: cluster_id_of(a), 20, "cluster A's id")
        id_b = wait_for(lambda: cluster_id_of(b), 20, "cluster B's id")
        assert id_a != id_b
        for node in (1, 2):
            b.kill(node, signal.SIGTERM)
        assert disk_identity(b, 1).cluster_id == id_b  # type: ignore[union-attr]
        b.config_path.write_text(b.config_path.read_text().replace(f"raft_port = {b.raft_ports[2]}",
                                                                   f"raft_port = {a.raft_ports[2]}"))
        b.start(1)
        refusal = f"node 1 belongs to cluster {id_b}, this node to cluster {id_a}: refusing its connection"
        wait_for(lambda: refusal in a.log(2), 20, "A's node 2 refusing B's node 1")

        down = sum(not a.node_status(2)["peers"][1] for _ in range(50))
        assert down == 0, f"A's own link dropped in {down} of 50 looks"
        assert b.node_status(1)["peers"] == {2: False}
        # B's node 1 dials again four times a second: refused each time, logged once a minute.
        assert a.log(2).count(refusal) == 1
        create_topic(a, "still-a", 2, 2)  # A works on: a majority of its 2 nodes is both
        with Admin(a.bootstrap) as admin:
            assert admin.describe_cluster().cluster_id == id_a
    finally:
        a.stop_all()
        b.stop_all()


def test_leaders_return_to_a_restarted_node_within_one_balance_interval(tmp_path: Path) -> None:
    c = Cluster(tmp_path, 3, extra=f"leader_balance_interval_ms = {int(BALANCE_INTERVAL_S * 1000)}")
    try:
        c.start_all()
        create_topic(c, "balanced", PARTITIONS, 3)
        preferred = preferred_of(c, "balanced")
        assert Counter(preferred.values()) == {1: 2, 2: 2, 3: 2}, "placement spreads preferred leaders"
        wait_for(lambda: c.leaders("balanced") == preferred, 30, "every preferred replica leading")

        c.kill(3)  # kill -9
        c.wait_leaders("balanced", exclude={3})
        c.start(3)
        wait_for(lambda: caught_up(c, 3, "balanced"), 60, "node 3 caught up in every partition")
        caught = time.monotonic()
        wait_for(lambda: c.leaders("balanced") == preferred, BALANCE_INTERVAL_S + ELECTION_SLACK_S + 5,
                 "node 3 leading its preferred partitions again")
        took = time.monotonic() - caught
        assert took <= BALANCE_INTERVAL_S + ELECTION_SLACK_S, f"{took:.1f}s after node 3 caught up"
        assert Counter(c.leaders("balanced").values()) == {1: 2, 2: 2, 3: 2}
    finally:
        c.stop_all()


def test_elect_leaders_on_request_from_the_cli_and_kafka_clients(tmp_path: Path) -> None:
    c = Cluster(tmp_path, 3, extra="leader_balance_interval_ms = 0")  # no hand-back but on request
    try:
        c.start_all()
        create_topic(c, "orders", PARTITIONS, 3)
        preferred = preferred_of(c, "orders")
        with Admin(c.bootstrap) as admin:  # preferred replicas stand first, but under load may not win
            assert all(e.preferred_leads for e in admin.elect_leaders("orders"))
        wait_for(lambda: c.leaders("orders") == preferred, 30, "every preferred replica leading")
        mine = {p for p, r in preferred.items() if r == 2}

        c.kill(2)
        c.wait_leaders("orders", exclude={2})
        c.start(2)
        wait_for(lambda: caught_up(c, 2, "orders"), 60, "node 2 caught up")
        moved = {p for p in mine if c.leaders("orders")[p] != 2}
        assert moved, "without balancing, node 2 got none of its partitions back"
        out = kraft("cluster", "elect-leaders", "--config", str(c.config_path), "--topic", "orders", "--json")
        doc = json.loads(out.stdout)
        assert {p["partition"]: p["result"] for p in doc["partitions"]} == {
            p: "elected" if p in moved else "not needed" for p in range(PARTITIONS)}
        assert (doc["elected"], doc["not_needed"], doc["failed"]) == (len(moved), PARTITIONS - len(moved), 0)
        wait_for(lambda: c.leaders("orders") == preferred, 10, "node 2 leading its partitions, as clients see")

        c.kill(3)
        c.wait_leaders("orders", exclude={3})
        c.start(3)
        wait_for(lambda: caught_up(c, 3, "orders"), 60, "node 3 caught up")
        confluent = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        tps = [CKTopicPartition("orders", p) for p in range(PARTITIONS)]
        results = confluent.elect_leaders(ElectionType.PREFERRED, tps).result(60)
        by_partition = {tp.partition: err for tp, err in results.items()}
        assert {p for p, err in by_partition.items() if err is None} == {p for p, r in preferred.items() if r == 3}
        assert all(err.code() == KafkaError.ELECTION_NOT_NEEDED for err in by_partition.values() if err is not None)
        assert confluent.elect_leaders(ElectionType.PREFERRED, None).result(60) == {}, "nothing left to elect"
        unclean = confluent.elect_leaders(ElectionType.UNCLEAN, tps[:1]).result(60)
        assert [e.code() for e in unclean.values()] == [KafkaError.ELECTION_NOT_NEEDED]
        wait_for(lambda: c.leaders("orders") == preferred, 10, "node 3 leading its partitions")

        c.kill(1)  # and not back: its partitions' preferred replica cannot lead
        c.wait_leaders("orders", exclude={1})
        out = kraft("cluster", "elect-leaders", "--config", str(c.config_path), "--timeout-s", "2", check=False)
        assert out.returncode == 1, out.stdout + out.stderr
        failed = [line for line in out.stdout.splitlines() if "PREFERRED_LEADER_NOT_AVAILABLE" in line]
        assert len(failed) == 2 and all("node 1, the preferred replica, is not connected" in f for f in failed)
        assert out.stdout.splitlines()[-1].endswith(", 2 failed")
    finally:
        c.stop_all()
