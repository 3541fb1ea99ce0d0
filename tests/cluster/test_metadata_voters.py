"""The metadata group's voters (issue 13): a 7-node cluster runs 3 metadata voters, replaces a dead
one with another node and keeps working after a second original voter dies; a node added after the
cluster formed (in no other node's cluster.ini) registers, follows the metadata group as a learner
and can host a partition once one is moved to it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin, Consumer, Producer
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_cli import kraft
from tests.cluster.test_replication import create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

# Faster failure detection than the defaults, so that 7 nodes on 2 shared cores settle quickly.
FAST = "\n".join([
    "metadata_voters = 3",
    "metadata_voter_replace_ms = 2000",
    "heartbeat_interval_ms = 250",
    "election_timeout_min_ms = 1000",
    "election_timeout_max_ms = 2000",
    "leader_balance_interval_ms = 0",
])


def metadata_members(cluster: Cluster) -> tuple[list[int], list[int]] | None:
    """(voters, learners) of the metadata group as its leader has them (None: no leader now)."""
    for node in cluster.alive():
        try:
            code, md = cluster.call(node, "metadata", {"topics": []})
        except OSError:
            continue
        if code != 0 or md["controller"] is None or md["controller"] not in cluster.alive():
            continue
        try:
            code, md = cluster.call(md["controller"], "metadata", {"topics": []})
        except OSError:
            return None
        if code == 0:
            return list(md["metadata_voters"]), list(md["metadata_learners"])
    return None


def voters_alive(cluster: Cluster, gone: set[int], count: int) -> list[int] | None:
    members = metadata_members(cluster)
    if members is None:
        return None
    voters = members[0]
    return voters if len(voters) == count and not set(voters) & gone else None


@pytest.fixture
def cluster7(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 7, extra=FAST)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def test_seven_nodes_keep_three_metadata_voters_through_two_failures(cluster7: Cluster) -> None:
    wait_for(lambda: metadata_members(cluster7) == ([1, 2, 3], [4, 5, 6, 7]), 60,
             "voters 1, 2, 3 and learners 4-7")
    status = json.loads(kraft("cluster", "status", "--config", str(cluster7.config_path), "--json").stdout)
    assert status["metadata_voters"] == [1, 2, 3] and status["metadata_learners"] == [4, 5, 6, 7]

    cluster7.kill(1)  # the preferred metadata leader, most likely the leader itself
    killed_at = time.monotonic()
    voters = wait_for(lambda: voters_alive(cluster7, {1}, 3), 60, "another node to replace voter 1")
    assert {2, 3} < set(voters)
    # an election (1-2 s), the replace delay (2 s), two changes; generous for 7 nodes on 2 busy cores
    assert time.monotonic() - killed_at < 30, "voter 1 was replaced too late"

    cluster7.kill(2)
    wait_for(lambda: voters_alive(cluster7, {1, 2}, 3), 60, "another node to replace voter 2")
    with Admin(cluster7.bootstrap) as admin:
        # (placement does not avoid dead nodes: some partitions may have no leader; the topic exists)
        admin.create_topic("after-two-failures", partitions=6, replication_factor=3)
        # Any node may answer a list: a learner applies the create a moment after the leader did.
        wait_for(lambda: "after-two-failures" in admin.list_topics(), 10, "the topic in every node's list")
        assert len(admin.describe_topic("after-two-failures").partitions) == 6
        assert admin.describe_cluster().controller in cluster7.alive()
    assert voters_alive(cluster7, {1, 2}, 3) is not None


def test_a_node_added_later_registers_learns_and_hosts_a_moved_partition(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3, extra=FAST)
    try:
        cluster.start_all()
        create_topic(cluster, "moving", 1, 3)
        with Producer(cluster.bootstrap, acks="all") as producer:
            for i in range(100):
                producer.send("moving", value=b"before-%d" % i, partition=0)
            producer.flush()
        node = cluster.add_node()
        wait_for(lambda: metadata_members(cluster) == ([1, 2, 3], [node]), 45,
                 f"node {node} to register and follow the metadata group")
        wait_for(lambda: cluster.node_status(node)["rejoining"] is False, 30, f"node {node} to catch up")
        assert cluster.node_status(node)["groups"] == []  # nothing moves until asked
        with Admin(cluster.bootstrap) as admin:
            assert node in [n.node_id for n in admin.describe_cluster().nodes]
            admin.reassign_partitions({("moving", 0): [2, 3, node]})
            wait_for(lambda: ("moving", 0) not in admin.list_partition_reassignments(), 60, "the move to finish")
            described = admin.describe_topic("moving")
            assert sorted(described.partitions[0].replicas) == [2, 3, node]
        cluster.kill(1)
        with Producer(cluster.bootstrap, acks="all") as producer:
            for i in range(100):
                producer.send("moving", value=b"after-%d" % i, partition=0)
            producer.flush()
        with Consumer(cluster.bootstrap) as consumer:
            consumer.assign([("moving", 0)])
            consumer.seek_to_beginning()
            values: list[bytes] = []
            wait_for(lambda: values.extend(r.value for r in consumer.poll(timeout_ms=200)) or len(values) >= 200,
                     30, "every record read back")
        assert values[:100] == [b"before-%d" % i for i in range(100)]
        assert values[100:200] == [b"after-%d" % i for i in range(100)]
    finally:
        cluster.stop_all()


def test_nodes_without_a_majority_of_the_metadata_voters_wait_to_found_the_cluster(tmp_path: Path) -> None:
    """5 nodes, metadata voters 1-3: nodes 3, 4 and 5, started first, are a majority of the cluster
    but hold one voter of three. Founding then would make nodes 1 and 2 learners on arrival (their
    disks look lost) and the metadata group could never elect; so they wait for node 1 or 2."""
    cluster = Cluster(tmp_path, 5, extra=FAST)
    try:
        for node in (3, 4, 5):
            cluster.start(node)
        wait_for(lambda: all("waiting" in cluster.log(n) for n in (3, 4, 5)), 30, "nodes 3-5 to say they wait")
        assert not any("founds the cluster" in cluster.log(n) for n in (3, 4, 5))
        cluster.start_nodes([1])
        wait_for(lambda: cluster.registered([1, 3, 4, 5]), 30, "nodes 1, 3, 4 and 5 to register")
        cluster.start_nodes([2])
        assert "joining as a learner" in cluster.log(2)  # the cluster existed: node 2 rejoins
        wait_for(lambda: metadata_members(cluster) == ([1, 2, 3], [4, 5]), 60, "voters 1, 2, 3 and learners 4, 5")
        wait_for(lambda: cluster.node_status(2)["rejoining"] is False, 30, "node 2 to catch up")
        create_topic(cluster, "formed", 3, 3)
        with Producer(cluster.bootstrap, acks="all") as producer:
            producer.send("formed", value=b"v", partition=0)
            producer.flush()
    finally:
        cluster.stop_all()
