"""Static membership (KIP-345) with librdkafka: a consumer restarted with its ``group.instance.id``
gets its partitions back without a rebalance; a second consumer with the same instance id fences
the first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka.admin import AdminClient, NewTopic

from kraft import Admin
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

TOPIC, GROUP, PARTITIONS = "static", "static-group", 4


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("static"), 1, rf=1, partitions=PARTITIONS)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
        c.wait_leaders(TOPIC)
        yield c
    finally:
        c.stop_all()


def member(c: Cluster, instance: str, group: str = GROUP) -> CKConsumer:
    conf: dict[str, Any] = {"bootstrap.servers": c.kafka_bootstrap, "group.id": group, "group.instance.id": instance,
                            "session.timeout.ms": 30000, "heartbeat.interval.ms": 300,
                            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    consumer = CKConsumer(conf)
    consumer.subscribe([TOPIC])
    return consumer


def owned(c: CKConsumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def test_a_restarted_static_member_gets_its_partitions_back_without_a_rebalance(node: Cluster) -> None:
    admin = Admin(node.bootstrap)
    a, b = member(node, "s1"), member(node, "s2")
    restarted: CKConsumer | None = None
    try:
        def split() -> bool:
            for c in (a, b):
                c.poll(0.2)
            pa, pb = owned(a), owned(b)
            return bool(pa) and bool(pb) and not pa & pb and pa | pb == set(range(PARTITIONS))
        wait_for(split, 60, "two static members splitting the partitions")
        before = admin.describe_group(GROUP)
        assert before.state == "Stable"
        mine = owned(a)
        a.close()  # a static member's close sends no LeaveGroup: its place waits for its session
        restarted = member(node, "s1")

        def back() -> bool:
            restarted.poll(0.2)
            b.poll(0.2)
            return owned(restarted) == mine
        wait_for(back, 30, "the restarted member owning its former partitions")
        after = admin.describe_group(GROUP)
        assert after.generation == before.generation, "no rebalance"
        assert owned(b) == set(range(PARTITIONS)) - mine
    finally:
        for c in (b, restarted):
            if c is not None:
                c.close()
        admin.close()


def test_a_duplicate_instance_id_fences_the_older_member(node: Cluster) -> None:
    group = "dup-group"
    first = member(node, "dup", group)
    second: CKConsumer | None = None
    admin = Admin(node.bootstrap)
    try:
        wait_for(lambda: first.poll(0.2) is None and bool(owned(first)), 60, "the first member assigned")
        second = member(node, "dup", group)

        def first_fenced() -> bool:
            assert second is not None
            first.poll(0.1)
            second.poll(0.1)
            # librdkafka treats FENCED_INSTANCE_ID as fatal: the first consumer drops its partitions.
            return not owned(first) and owned(second) == set(range(PARTITIONS))
        wait_for(first_fenced, 30, "the first member fenced, the second owning every partition")
        described = admin.describe_group(group)
        assert len(described.members) == 1 and described.state == "Stable"
    finally:
        for c in (second, first):
            if c is not None:
                c.close()
        admin.close()
