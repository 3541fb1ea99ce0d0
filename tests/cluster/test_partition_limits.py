"""The partition limits against a node process, as a user meets them: ``kraft topic create t
--partitions 100000`` answered at once with INVALID_PARTITIONS (before, the client timed out while
the node went on creating 100,000 groups); kafka-python's CreateTopics / CreatePartitions beyond
``max_partitions_per_topic`` / ``max_partitions_per_node``; and a topic at the default per-topic
limit created within the request timeout, with the node agreeing with the client's answer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import InvalidPartitionsError, PolicyViolationError

from kraft import Admin
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = pytest.mark.cluster
KRAFT = str(Path(sys.executable).parent / "kraft")


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 1, rf=1, extra="max_partitions_per_topic = 12\nmax_partitions_per_node = 20")
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _topics(cluster: Cluster) -> list[str]:
    with Admin(cluster.bootstrap) as admin:
        return sorted(admin.list_topics())


@pytest.mark.timeout(60)
def test_the_cli_refuses_100000_partitions_at_once(cluster1: Cluster) -> None:
    start = time.monotonic()
    out = subprocess.run([KRAFT, "topic", "create", "t", "--partitions", "100000", "--bootstrap",
                          cluster1.bootstrap], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout
    assert time.monotonic() - start < 10, "answered at once, not after the request timeout"
    assert "INVALID_PARTITIONS" in out.stderr and "max_partitions_per_topic = 3000" in out.stderr, out.stderr
    assert "t" not in _topics(cluster1)


@pytest.mark.timeout(90)
def test_kafka_python_create_topics_and_partitions_beyond_the_limits(small: Cluster) -> None:
    admin = KafkaAdminClient(bootstrap_servers=small.kafka_bootstrap, request_timeout_ms=30000)
    try:
        with pytest.raises(InvalidPartitionsError, match="max_partitions_per_topic = 12"):
            admin.create_topics([NewTopic("big", 13, 1)])
        admin.create_topics([NewTopic("a", 12, 1)])
        with pytest.raises(InvalidPartitionsError, match="max_partitions_per_topic = 12"):
            admin.create_partitions({"a": NewPartitions(13)})
        with pytest.raises(PolicyViolationError, match="max_partitions_per_node = 20"):
            admin.create_topics([NewTopic("b", 9, 1)])
        admin.create_topics([NewTopic("b", 6, 1)])
        with pytest.raises(PolicyViolationError, match="max_partitions_per_node = 20"):
            admin.create_partitions({"b": NewPartitions(9)})
    finally:
        admin.close()
    assert _topics(small) == ["a", "b"]
    with Admin(small.bootstrap) as kraft_admin:
        assert len(kraft_admin.describe_topic("b").partitions) == 6


@pytest.mark.timeout(120)
def test_a_topic_at_the_default_limit_is_created_within_the_request_timeout(cluster1: Cluster) -> None:
    with Admin(cluster1.bootstrap, request_timeout_ms=30000) as admin:
        start = time.monotonic()
        admin.create_topic("wide", partitions=1000, replication_factor=1)  # raises if not answered in 30 s
        answered_s = time.monotonic() - start
        assert answered_s < 30
        assert len(admin.describe_topic("wide").partitions) == 1000, "the node agrees with the answer"
    cluster1.wait_leaders("wide", timeout_s=90)
    wait_for(lambda: "wide" in _topics(cluster1), 10, "the topic listed")
