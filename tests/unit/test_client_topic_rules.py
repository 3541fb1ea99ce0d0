"""What a topic's configs enforce on produce, through the native clients and an in-process cluster:
max.message.bytes (RECORD_TOO_LARGE), a key on every record of a compacted topic (INVALID_RECORD),
and LogAppendTime (the leader's clock in every replica's copy, the answer and what consumers read)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kraft import Admin, Consumer, Producer, RecordTooLarge, TopicPartition
from kraft.errors import InvalidRecord
from kraft.testing import InProcessCluster
from kraft.testing.local_cluster import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    with InProcessCluster(nodes=3, default_partitions=1) as c:
        yield c


@pytest.fixture
def admin(cluster: InProcessCluster) -> Iterator[Admin]:
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as a:
        yield a


def send(cluster: InProcessCluster, topic: str, value: bytes, key: bytes | None = None,
         timestamp_ms: int | None = None) -> object:
    with Producer(cluster.bootstrap, linger_ms=0, delivery_timeout_ms=10000) as p:
        future = p.send(topic, value=value, key=key, timestamp_ms=timestamp_ms)
        p.flush()
        return future.result(10)


def read(cluster: InProcessCluster, topic: str, n: int) -> list[object]:
    consumer = Consumer(cluster.bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek(TopicPartition(topic, 0), 0)
        got: list[object] = []
        deadline = time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            got += consumer.poll(timeout_ms=200)
        return got
    finally:
        consumer.close()


def test_max_message_bytes_refuses_a_larger_batch_with_record_too_large(cluster: InProcessCluster,
                                                                       admin: Admin) -> None:
    admin.create_topic("small", config={"max.message.bytes": 1000})
    cluster.wait_for_leaders("small")
    send(cluster, "small", b"x" * 500)
    with pytest.raises(RecordTooLarge, match=r"over small's max\.message\.bytes=1000"):
        send(cluster, "small", b"x" * 2000)
    admin.alter_configs("small", delete=["max.message.bytes"])  # back to the cluster's limit
    send(cluster, "small", b"x" * 2000)
    assert [len(r.value or b"") for r in read(cluster, "small", 2)] == [500, 2000]


def test_a_compacted_topic_refuses_records_without_a_key(cluster: InProcessCluster, admin: Admin) -> None:
    admin.create_topic("table", config={"cleanup.policy": "compact,delete"})
    cluster.wait_for_leaders("table")
    send(cluster, "table", b"v", key=b"k")
    with pytest.raises(InvalidRecord, match=r"compacted topic .* every record needs a key"):
        send(cluster, "table", b"no key")
    send(cluster, "table", None, key=b"k")  # a tombstone has a key and no value: fine
    assert [(r.key, r.value) for r in read(cluster, "table", 2)] == [(b"k", b"v"), (b"k", None)]


def test_log_append_time_stamps_the_leaders_clock(cluster: InProcessCluster, admin: Admin) -> None:
    admin.create_topic("stamped", config={"message.timestamp.type": "LogAppendTime"})
    cluster.wait_for_leaders("stamped")
    before = time.time_ns() // 1_000_000
    meta = send(cluster, "stamped", b"v", timestamp_ms=1000)
    after = time.time_ns() // 1_000_000
    assert before <= meta.timestamp_ms <= after, "the answer carries the leader's stamp, not the producer's"
    (record,) = read(cluster, "stamped", 1)
    assert record.timestamp_ms == meta.timestamp_ms
    # The leader stamped the batch before proposing it: its followers hold the same stamp.
    leader = cluster.leader("stamped", 0)
    assert leader is not None
    cluster.node_down(leader)
    try:
        on_followers = wait_for(lambda: cluster.records("stamped", 0), 10, "a follower's copy")
        assert on_followers[0][1] == meta.timestamp_ms
    finally:
        cluster.node_up(leader)


def test_create_time_is_the_default_and_a_change_applies_to_later_batches(cluster: InProcessCluster,
                                                                          admin: Admin) -> None:
    admin.create_topic("later")
    cluster.wait_for_leaders("later")
    assert send(cluster, "later", b"a", timestamp_ms=1000).timestamp_ms == 1000
    admin.alter_configs("later", set={"message.timestamp.type": "LogAppendTime"})
    cluster.wait_for_metadata()
    stamped = send(cluster, "later", b"b", timestamp_ms=1000).timestamp_ms
    assert stamped > 1000
    assert [r.timestamp_ms for r in read(cluster, "later", 2)] == [1000, stamped]
