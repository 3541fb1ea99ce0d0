"""Admin against an in-process cluster: topic lifecycle, defaults, errors, controller moves."""

from __future__ import annotations

import pytest

import kraft
from kraft import Admin, PartitionInfo, TopicAlreadyExists, TopicDescription, UnknownTopicOrPartition
from kraft.errors import InvalidReplicationFactor, NotLeader, OffsetOutOfRange
from kraft.testing import InProcessCluster, wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=3, default_partitions=2, default_replication_factor=3) as c:
        yield c


@pytest.fixture
def admin(cluster):
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as a:
        yield a


def test_public_names():
    for name in ["Admin", "Producer", "Consumer", "TopicPartition", "RecordMetadata", "ConsumerRecord",
                 "TopicDescription", "PartitionInfo", "KraftError"]:
        assert name in kraft.__all__
        assert hasattr(kraft, name)


def test_create_list_describe_delete(cluster, admin):
    admin.create_topic("orders", partitions=3, replication_factor=2)
    admin.create_topic("audit")
    cluster.wait_for_leaders("orders")  # a node answers a create before every node has the topic
    assert admin.list_topics() == ["audit", "orders"]
    cluster.append("orders", 1, [b"a", b"b", b"c"])
    desc = admin.describe_topic("orders")
    assert isinstance(desc, TopicDescription)
    assert desc.name == "orders"
    assert [p.partition for p in desc.partitions] == [0, 1, 2]
    size = desc.partitions[1].size_bytes
    assert size is not None and size > 0
    leader = cluster.leader("orders", 1)
    replicas = desc.partitions[1].replicas
    states = desc.partitions[1].replica_states
    assert desc.partitions[1] == PartitionInfo(1, leader, replicas, 3, 0, size, states)
    assert states[leader] == "leader" and set(states) == set(replicas), "the leader's view of each replica"
    assert all(len(p.replicas) == 2 and p.leader in p.replicas for p in desc.partitions)
    assert [p.high_watermark for p in desc.partitions] == [0, 3, 0]
    admin.delete_topic("orders")
    cluster.wait_for_metadata()
    assert admin.list_topics() == ["audit"]


def test_defaults_come_from_the_cluster(cluster, admin):
    admin.create_topic("d")
    cluster.wait_for_metadata()
    desc = admin.describe_topic("d")
    assert len(desc.partitions) == 2
    assert all(len(p.replicas) == 3 for p in desc.partitions)


def test_leaderless_partition_has_none_leader_and_zero_watermark(cluster, admin):
    admin.create_topic("x", partitions=2)
    cluster.append("x", 0, [b"1"])
    cluster.set_leader("x", 0, None)
    desc = admin.describe_topic("x")
    assert desc.partitions[0].leader is None
    assert desc.partitions[0].high_watermark == 0


def test_typed_errors(admin):
    admin.create_topic("t", partitions=1)
    with pytest.raises(TopicAlreadyExists):
        admin.create_topic("t")
    with pytest.raises(InvalidReplicationFactor):
        admin.create_topic("u", replication_factor=4)
    with pytest.raises(UnknownTopicOrPartition):
        admin.describe_topic("missing")
    with pytest.raises(UnknownTopicOrPartition):
        admin.delete_topic("missing")


def test_controller_move_is_retried(cluster, admin):
    admin.list_topics()  # metadata cached: controller 1
    cluster.set_controller(2)
    admin.create_topic("moved", partitions=1)
    cluster.wait_for_metadata()
    assert "moved" in admin.list_topics()


def test_retriable_request_error_is_retried(cluster, admin):
    cluster.fail_next_request("create_topic", kraft.errors.NotEnoughReplicas.code, times=2)
    admin.create_topic("later", partitions=1)
    assert cluster.requests["create_topic"] == 3


def test_bootstrap_skips_dead_addresses(cluster):
    dead = "127.0.0.1:1"  # nothing listens on port 1
    with Admin(f"{dead},{cluster.bootstrap}", request_timeout_ms=5000) as a:
        a.create_topic("t", partitions=1)
        cluster.wait_for_metadata()
        assert a.list_topics() == ["t"]


def test_node_status(cluster, admin):
    admin.create_topic("s", partitions=3, replication_factor=1)
    status = admin.node_status(2)
    assert status["node_id"] == 2
    assert status["peers"] == {1: True, 3: True}


def test_delete_records_moves_log_starts_and_describe_shows_them(cluster, admin):
    admin.create_topic("d", partitions=2)
    cluster.wait_for_leaders("d")
    for i in range(4):
        cluster.append("d", 0, [b"%d-a" % i, b"%d-b" % i])  # batches of 2: offsets 0-1, 2-3, 4-5, 6-7
    cluster.append("d", 1, [b"x"])
    before = admin.describe_topic("d").partitions[0]
    assert (before.log_start_offset, before.high_watermark) == (0, 8)
    assert admin.delete_records("d", {0: 3, 1: -1}) == {0: 3, 1: 1}
    after = admin.describe_topic("d").partitions
    assert [(p.log_start_offset, p.high_watermark) for p in after] == [(3, 8), (1, 1)]
    assert before.size_bytes is not None and after[0].size_bytes is not None
    assert 0 < after[0].size_bytes < before.size_bytes  # the first whole batch went; the one holding 3 stays
    assert after[1].size_bytes == 0
    assert [r[0] for r in cluster.records("d", 0)] == [3, 4, 5, 6, 7]  # readers skip 2 in the kept batch
    assert admin.delete_records("d", {0: 1}) == {0: 3}  # below the log start: nothing changes
    with pytest.raises(OffsetOutOfRange):
        admin.delete_records("d", {0: 9})
    with pytest.raises(UnknownTopicOrPartition):
        admin.delete_records("d", {2: 0})
    with pytest.raises(UnknownTopicOrPartition):
        admin.delete_records("missing", {0: 0})
    with pytest.raises(ValueError):
        admin.delete_records("d", {0: -2})


def test_delete_records_follows_a_leader_change(cluster, admin):
    admin.create_topic("m", partitions=1)
    cluster.wait_for_leaders("m")
    cluster.append("m", 0, [b"a", b"b", b"c"])
    admin.describe_topic("m")  # metadata cached with the old leader
    old = cluster.leader("m", 0)
    cluster.set_leader("m", 0, 3 if old != 3 else 2)
    assert admin.delete_records("m", {0: 2}) == {0: 2}
    cluster.fail_next_request("delete_records", NotLeader.code)
    assert admin.delete_records("m", {0: 3}) == {0: 3}
    assert cluster.requests["delete_records"] >= 4
    assert cluster.log_start_offset("m", 0) == 3


def test_describe_log_dirs_has_every_replica_on_every_node(cluster, admin):
    admin.create_topic("s", partitions=2, replication_factor=2)
    cluster.wait_for_leaders("s")
    cluster.append("s", 0, [b"x" * 100])
    replicas = {p.partition: p.replicas for p in admin.describe_topic("s").partitions}

    def sizes_of(partition: int) -> set[int]:
        dirs = admin.describe_log_dirs()
        return {dirs[n][("s", partition)] for n in replicas[partition]}

    dirs = admin.describe_log_dirs()
    assert sorted(dirs) == [1, 2, 3]
    hosted = sorted((node, tp) for node, sizes in dirs.items() for tp in sizes)
    assert hosted == sorted((n, ("s", p)) for p, nodes in replicas.items() for n in nodes)
    wait_until(lambda: len(sizes_of(0)) == 1)  # a follower applies the batch a heartbeat after the leader
    (size0,) = sizes_of(0)
    assert size0 > 100 and sizes_of(1) == {0}
    cluster.node_down(1)
    assert sorted(admin.describe_log_dirs()) == [2, 3]  # a node that does not answer is left out
