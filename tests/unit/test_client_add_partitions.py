"""Adding partitions to a topic, against an in-process cluster of real nodes: ``Admin.create_partitions``
(placement, errors, validate_only, a retry after a lost answer), every node hosting the new
partitions' Raft groups, kraft's producer sending keyed records by the new count after its next
metadata refresh, and a group of two kraft consumers rebalancing onto the new partitions.
tests/cluster/test_add_partitions.py runs the same against node processes, with Kafka clients."""

from __future__ import annotations

import concurrent.futures
import zlib

import pytest

from kraft import (
    Admin,
    Consumer,
    InvalidPartitions,
    InvalidReplicaAssignment,
    Producer,
    TopicPartition,
    UnknownTopicOrPartition,
)
from kraft.partitioner import partition_for_key
from kraft.placement import assign_replicas
from kraft.testing import InProcessCluster, wait_until
from tests.unit.test_client_groups import Reader

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=3, group_initial_rebalance_delay_ms=100) as c:
        c.create_topic("t", partitions=2, replication_factor=2)
        yield c


@pytest.fixture
def admin(cluster):
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as a:
        yield a


def replicas_of(admin: Admin, topic: str) -> list[list[int]]:
    return [list(p.replicas) for p in admin.describe_topic(topic).partitions]


def test_new_partitions_are_placed_as_a_topic_created_with_them(cluster, admin):
    nodes = [(n, None) for n in cluster.node_ids]
    before = replicas_of(admin, "t")
    admin.create_partitions("t", 5)
    cluster.wait_for_metadata()
    cluster.wait_for_leaders("t")
    after = replicas_of(admin, "t")
    assert after[:2] == before, "existing partitions stay where they are"
    assert after == assign_replicas(nodes, 5, 2, offset=zlib.crc32(b"t"))
    assert all(p.leader == p.replicas[0] for p in admin.describe_topic("t").partitions)
    cluster.append("t", 4, [b"x", b"y"])
    assert [r[3] for r in cluster.records("t", 4)] == [b"x", b"y"]
    assert [len(p.replicas) for p in admin.describe_topic("t").partitions] == [2] * 5


def test_an_explicit_assignment_and_validate_only(cluster, admin):
    admin.create_partitions("t", 4, validate_only=True)
    admin.create_partitions("t", 3, assignment=[[3, 1]], validate_only=True)
    cluster.wait_for_metadata()
    assert len(admin.describe_topic("t").partitions) == 2, "validate_only changes nothing"
    admin.create_partitions("t", 4, assignment=[[3, 1], (1, 2)])
    cluster.wait_for_metadata()
    cluster.wait_for_leaders("t")
    assert replicas_of(admin, "t")[2:] == [[3, 1], [1, 2]]


@pytest.mark.parametrize(("total", "assignment", "error", "message"), [
    (2, None, InvalidPartitions, "has 2 partitions already"),
    (1, None, InvalidPartitions, "can only grow"),
    (3001, None, InvalidPartitions, "above max_partitions_per_topic = 3000"),
    (3, [[1, 2], [2, 3]], InvalidReplicaAssignment, "1 partitions are added but 2"),
    (3, [[1]], InvalidReplicaAssignment, "replication factor is 2"),
    (3, [[4, 1]], InvalidReplicaAssignment, "does not have: [4]"),
])
def test_refusals_change_nothing(cluster, admin, total, assignment, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace(".", r"\.")):
        admin.create_partitions("t", total, assignment=assignment)
    with pytest.raises(UnknownTopicOrPartition):
        admin.create_partitions("missing", 3)
    cluster.wait_for_metadata()
    assert len(admin.describe_topic("t").partitions) == 2


def test_a_retry_after_a_lost_answer_counts_as_done(cluster, admin):
    cluster.drop_next_answer("create_partitions")  # made, but the answer never comes
    done = concurrent.futures.ThreadPoolExecutor(1).submit(admin.create_partitions, "t", 3)
    with Admin(cluster.bootstrap) as other:
        wait_until(lambda: len(other.describe_topic("t").partitions) == 3, 10)
    cluster.drop_connections()  # the connection is lost with the answer: Admin asks again
    done.result(10)
    assert cluster.requests["create_partitions"] == 2
    with pytest.raises(InvalidPartitions):
        admin.create_partitions("t", 3)  # asked once: the count is already there, as Kafka answers


def test_the_producer_maps_keys_by_the_new_count_after_a_metadata_refresh(cluster):
    with Producer(cluster.bootstrap, metadata_max_age_ms=200, linger_ms=0) as producer:
        assert producer.send("t", b"v", key=b"k0").result(10).partition == partition_for_key(b"k0", 2)
        cluster.create_partitions("t", 6)
        keys = [b"key-%d" % i for i in range(40)]
        assert any(partition_for_key(k, 6) >= 2 for k in keys)

        def maps_by_six() -> bool:
            sent = [(k, producer.send("t", b"v", key=k)) for k in keys]
            return all(f.result(10).partition == partition_for_key(k, 6) for k, f in sent)

        wait_until(maps_by_six, 10, interval_s=0.05)
        assert producer.partitions_for("t") == list(range(6))


def test_a_producer_sending_one_record_at_a_time_learns_of_new_partitions(cluster):
    """Each send answered before the next, so nothing ever waits in the sender's queue: its
    metadata still goes stale after metadata_max_age_ms, and the next send refreshes it."""
    key = next(k for k in (b"key-%d" % i for i in range(100)) if partition_for_key(k, 6) >= 2)
    with Producer(cluster.bootstrap, metadata_max_age_ms=200, linger_ms=0) as producer:
        assert producer.send("t", b"v", key=key).result(10).partition == partition_for_key(key, 2)
        cluster.create_partitions("t", 6)
        wait_until(lambda: producer.send("t", b"v", key=key).result(10).partition == partition_for_key(key, 6),
                   10, interval_s=0.05)


def test_a_group_of_two_rebalances_onto_the_new_partitions(cluster):
    readers = [Reader(Consumer(cluster.bootstrap, group_id="g", fetch_max_wait_ms=50, request_timeout_ms=5000,
                               session_timeout_ms=2000, heartbeat_interval_ms=50, max_poll_interval_ms=5000,
                               metadata_max_age_ms=30_000, auto_offset_reset="earliest"), ["t"]).start()
               for _ in range(2)]
    try:
        wait_until(lambda: sorted(tp for r in readers for tp in r.assigned()) == [TopicPartition("t", p)
                                                                                  for p in range(2)], 10)
        # The coordinator notices: it assigns from its own metadata (the members' is 30 s old) and
        # rebalances a group whose subscribed topic grew a tick after it applied the change.
        cluster.create_partitions("t", 5)
        every = [TopicPartition("t", p) for p in range(5)]
        wait_until(lambda: sorted(tp for r in readers for tp in r.assigned()) == every, 10)
        assert all(r.assigned() for r in readers), "both members share the partitions"
        for p in range(5):
            cluster.append("t", p, [b"p%d" % p])
        wait_until(lambda: sorted(v for r in readers for *_, v in r.seen) == [b"p%d" % p for p in range(5)], 10)
        assert {p for r in readers for _, p, _, _ in r.seen} == set(range(5))
    finally:
        for r in readers:
            r.close()
