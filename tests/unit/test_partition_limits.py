"""The partition limits (``max_partitions_per_topic``, ``max_partitions_per_node``): the pure
checks, and ``Admin.create_topic`` / ``create_partitions`` against an in-process cluster with small
limits — refused at once with INVALID_PARTITIONS / POLICY_VIOLATION naming the limit, and nothing
created. tests/cluster/test_partition_limits.py: the CLI and Kafka clients against node processes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from kraft import Admin
from kraft.errors import InvalidPartitions, PolicyViolation, UnknownTopicOrPartition
from kraft.node.partition_limits import check_node_replicas, check_topic_partitions, replicas_per_node
from kraft.testing import InProcessCluster

pytestmark = pytest.mark.timeout(60)


@dataclass
class _P:
    replicas: list[int]


@dataclass
class _T:
    partitions: list[_P]


def test_a_topic_is_refused_above_its_limit_and_below_one() -> None:
    check_topic_partitions("t", 1000, 1000)
    with pytest.raises(InvalidPartitions, match=r"1001 partitions is above max_partitions_per_topic = 1000"):
        check_topic_partitions("t", 1001, 1000)
    with pytest.raises(InvalidPartitions, match="at least 1"):
        check_topic_partitions("t", 0, 1000)


def test_replicas_are_counted_per_node_and_the_fullest_node_is_named() -> None:
    topics = {"a": _T([_P([1, 2]), _P([2, 3])]), "b": _T([_P([2])])}
    held = replicas_per_node(topics.values())
    assert held == {1: 1, 2: 3, 3: 1}
    check_node_replicas(held, [[1, 3], [3, 1]], 3)  # nodes 1 and 3 reach 3: allowed
    check_node_replicas(held, [], 0)  # nothing added: nothing to refuse
    with pytest.raises(PolicyViolation, match=r"node 2 would host 4 partition replicas \(3 now \+ 1 new\), "
                                              r"above max_partitions_per_node = 3"):
        check_node_replicas(held, [[2, 1]], 3)
    with pytest.raises(PolicyViolation, match=r"node 2 would host 5 .*; 2 nodes would be over it"):
        check_node_replicas(held, [[2, 1], [2, 1], [1, 3]], 3)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=2, max_partitions_per_topic=8, max_partitions_per_node=10) as c:
        yield c


def _refused_fast(call, error: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    with pytest.raises(error, match=match):
        call()
    assert time.monotonic() - start < 3, "a request beyond a limit is answered at once"


def test_create_topic_and_create_partitions_are_refused_beyond_the_limits(cluster) -> None:  # type: ignore[no-untyped-def]
    with Admin(cluster.bootstrap, request_timeout_ms=10000) as admin:
        _refused_fast(lambda: admin.create_topic("big", partitions=9, replication_factor=1), InvalidPartitions,
                      "max_partitions_per_topic = 8")
        admin.create_topic("a", partitions=8, replication_factor=2)  # 8 replicas on each of the 2 nodes
        _refused_fast(lambda: admin.create_partitions("a", 9), InvalidPartitions, "max_partitions_per_topic = 8")
        _refused_fast(lambda: admin.create_topic("b", partitions=3, replication_factor=2), PolicyViolation,
                      "max_partitions_per_node = 10")
        admin.create_topic("b", partitions=2, replication_factor=2)  # exactly at the limit: allowed
        _refused_fast(lambda: admin.create_partitions("b", 3), PolicyViolation, "max_partitions_per_node = 10")
        cluster.wait_for_metadata()
        assert sorted(admin.list_topics()) == ["a", "b"], "nothing of a refused request was created"
        assert len(admin.describe_topic("b").partitions) == 2
        with pytest.raises(UnknownTopicOrPartition):
            admin.describe_topic("big")
