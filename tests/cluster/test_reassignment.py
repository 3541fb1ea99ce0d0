"""Moving a partition between nodes under load (issue 13): a learner added, caught up, promoted,
the old replica removed; nothing acknowledged is lost, also when the leader dies mid-move."""

from __future__ import annotations

import time

import pytest

from kraft import Admin
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_replication import BackgroundProducer, check_acked_present, create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def replicas_of(cluster: Cluster, topic: str, partition: int) -> list[int]:
    with Admin(cluster.bootstrap) as admin:
        return list(admin.describe_topic(topic).partitions[partition].replicas)


def moved(cluster: Cluster, topic: str, partition: int, target: list[int]) -> bool:
    with Admin(cluster.bootstrap) as admin:
        if (topic, partition) in admin.list_partition_reassignments():
            return False
        info = admin.describe_topic(topic).partitions[partition]
    return list(info.replicas) == target and all(info.replica_states.get(n) in ("leader", "in sync") for n in target)


def hosts(cluster: Cluster, node: int, topic: str) -> bool:
    return any(g["topic"] == topic for g in cluster.node_status(node)["groups"])


def test_a_partition_moves_to_another_node_under_load(cluster4: Cluster) -> None:
    create_topic(cluster4, "moving", 1, 3)
    start = replicas_of(cluster4, "moving", 0)
    spare = next(n for n in (1, 2, 3, 4) if n not in start)
    leaving = start[-1]
    target = [n for n in start if n != leaving] + [spare]
    bp = BackgroundProducer(cluster4.bootstrap, "moving", 1)
    bp.start()
    try:
        wait_for(lambda: len(bp.acked) >= 1000, 60, "1000 acknowledged records before the move")
        with Admin(cluster4.bootstrap) as admin:
            admin.reassign_partitions({("moving", 0): target})
        wait_for(lambda: moved(cluster4, "moving", 0, target), 90, f"the move to {target}")
        moved_at = time.monotonic()
        wait_for(lambda: bp.acked_after(moved_at) >= 500, 30, "writes after the move")
    finally:
        bp.stop()
    assert not bp.failed or all("timed out" not in str(e) for e in bp.failed)
    wait_for(lambda: not hosts(cluster4, leaving, "moving"), 30, f"node {leaving} to drop its replica")
    check_acked_present(cluster4, "moving", 1, bp.acked)


def test_the_leader_dies_mid_move_and_the_move_completes(cluster4: Cluster) -> None:
    create_topic(cluster4, "moving", 1, 3)
    start = replicas_of(cluster4, "moving", 0)
    spare = next(n for n in (1, 2, 3, 4) if n not in start)
    leader = cluster4.wait_leaders("moving", preferred=True)[0]
    target = [n for n in start if n != leader] + [spare]  # the leader itself leaves
    bp = BackgroundProducer(cluster4.bootstrap, "moving", 1)
    bp.start()
    try:
        wait_for(lambda: len(bp.acked) >= 1000, 60, "1000 acknowledged records before the move")
        with Admin(cluster4.bootstrap) as admin:
            admin.reassign_partitions({("moving", 0): target})
        wait_for(lambda: hosts(cluster4, spare, "moving"), 30, f"node {spare} to get its replica")
        cluster4.kill(leader)
        killed_at = time.monotonic()
        wait_for(lambda: bp.acked_after(killed_at) >= 300, 60, "writes after the leader died")
        cluster4.start(leader)
        wait_for(lambda: moved(cluster4, "moving", 0, target), 120, f"the move to {target}")
    finally:
        bp.stop()
    check_acked_present(cluster4, "moving", 1, bp.acked)


def test_bad_moves_are_refused(cluster4: Cluster) -> None:
    from kraft.errors import InvalidReplicaAssignment, NoReassignmentInProgress, UnknownTopicOrPartition

    create_topic(cluster4, "moving", 1, 3)
    with Admin(cluster4.bootstrap) as admin:
        with pytest.raises(InvalidReplicaAssignment, match="distinct nodes"):
            admin.reassign_partitions({("moving", 0): [1, 1, 2]})
        with pytest.raises(InvalidReplicaAssignment):
            admin.reassign_partitions({("moving", 0): [1, 2, 9]})
        with pytest.raises(UnknownTopicOrPartition):
            admin.reassign_partitions({("moving", 5): [1, 2, 3]})
        with pytest.raises(NoReassignmentInProgress):
            admin.reassign_partitions({("moving", 0): None})
        assert admin.list_partition_reassignments() == {}


def test_kafka_pythons_admin_moves_a_partition(cluster4: Cluster) -> None:
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.admin import KafkaAdminClient

    create_topic(cluster4, "moving", 2, 3)
    start = replicas_of(cluster4, "moving", 1)
    spare = next(n for n in (1, 2, 3, 4) if n not in start)
    target = [spare, *start[1:]]
    admin = KafkaAdminClient(bootstrap_servers=cluster4.kafka_bootstrap, request_timeout_ms=30_000)
    try:
        tp = KafkaTopicPartition("moving", 1)
        assert admin.alter_partition_reassignments({tp: target}) == {tp: None}
        wait_for(lambda: moved(cluster4, "moving", 1, target), 90, f"the move to {target}")
        assert admin.list_partition_reassignments() == {}
        bad = admin.alter_partition_reassignments({tp: [1, 1]})
        assert bad[tp].errno == 39, "INVALID_REPLICA_ASSIGNMENT"
    finally:
        admin.close()
    assert replicas_of(cluster4, "moving", 1) == target
