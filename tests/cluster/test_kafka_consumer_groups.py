"""KIP-848 consumer groups (ConsumerGroupHeartbeat) with librdkafka's ``group.protocol=consumer``:
members splitting partitions as they come and go, commits and resuming from them, a killed member's
partitions moving after the session timeout, the ``range`` and ``uniform`` server assignors, and
Kafka's admin views (ConsumerGroupDescribe, DescribeGroups, ListGroups) of such groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import ConsumerGroupType, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft import Admin
from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC, OTHER, PARTITIONS, RECORDS = "kip848", "kip848-b", 6, 60
SESSION_MS = 6000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    extra = f"consumer_group_session_timeout_ms = {SESSION_MS}\nconsumer_group_heartbeat_interval_ms = 300"
    c = Cluster(tmp_path_factory.mktemp("kip848"), 1, rf=1, partitions=PARTITIONS, extra=extra)
    try:
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
        for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1), NewTopic(OTHER, 2, 1)]).values():
            f.result(30)
        c.wait_leaders(TOPIC)
        c.wait_leaders(OTHER)
        p = Producer({"bootstrap.servers": c.kafka_bootstrap})
        for i in range(RECORDS):
            p.produce(TOPIC, str(i).encode(), partition=i % PARTITIONS)
        assert p.flush(30) == 0
        yield c
    finally:
        c.stop_all()


def member(c: Cluster, group: str, name: str, **conf: Any) -> CKConsumer:
    consumer = CKConsumer({"bootstrap.servers": c.kafka_bootstrap, "group.id": group, "group.protocol": "consumer",
                           "client.id": name, "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    consumer.subscribe([TOPIC])
    return consumer


def owned(c: CKConsumer, topic: str = TOPIC) -> set[int]:
    return {tp.partition for tp in c.assignment() if tp.topic == topic}


def split_among(consumers: list[CKConsumer], what: str, timeout_s: float = 60) -> list[set[int]]:
    """Poll until the consumers own disjoint, non-empty sets covering every partition."""
    def split() -> list[set[int]] | None:
        for c in consumers:
            c.poll(0.1)
        sets = [owned(c) for c in consumers]
        union = set().union(*sets)
        disjoint = sum(len(s) for s in sets) == len(union)
        return sets if all(sets) and disjoint and union == set(range(PARTITIONS)) else None
    return wait_for(split, timeout_s, what)


def describe(c: Cluster, group: str) -> Any:
    admin = AdminClient({"bootstrap.servers": c.kafka_bootstrap})
    return admin.describe_consumer_groups([group])[group].result(30)


def test_members_split_the_partitions_as_they_join_and_leave(node: Cluster) -> None:
    group = "kip848-split"
    a, b = member(node, group, "a"), member(node, group, "b")
    c: CKConsumer | None = None
    try:
        sa, sb = split_among([a, b], "two members splitting the partitions")
        assert {len(sa), len(sb)} == {3}
        c = member(node, group, "c")
        sets = split_among([a, b, c], "three members splitting the partitions")
        assert sorted(len(s) for s in sets) == [2, 2, 2]
        d = describe(node, group)
        assert d.type == ConsumerGroupType.CONSUMER and str(d.state).endswith("STABLE")
        assert d.partition_assignor == "uniform" and len(d.members) == 3
        assert sorted(len(m.assignment.topic_partitions) for m in d.members) == [2, 2, 2]
        kraft_admin = Admin(node.bootstrap)
        try:
            described = kraft_admin.describe_group(group)
            assert described.state == "Stable" and len(described.members) == 3
            assert group in kraft_admin.list_groups()
        finally:
            kraft_admin.close()
        c.close()  # leaves with member epoch -1: the others take its partitions at once
        c = None
        split_among([a, b], "the two left splitting the partitions again", timeout_s=30)
    finally:
        for x in (a, b, c):
            if x is not None:
                x.close()


def consume(c: CKConsumer, n: int, timeout_s: float = 60) -> list[tuple[int, int]]:
    got: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append((m.partition(), m.offset()))
    return got


def test_commits_carry_the_member_epoch_and_a_new_member_resumes_from_them(node: Cluster) -> None:
    group = "kip848-commit"
    a = member(node, group, "a")
    try:
        first = consume(a, RECORDS // 2)
        assert len(first) == RECORDS // 2
        a.commit(asynchronous=False)  # OffsetCommit v9 with the member epoch
        committed = {tp.partition: tp.offset for tp in
                     a.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)}
    finally:
        a.close()
    b = member(node, group, "b")
    try:
        rest = consume(b, RECORDS - len(first))
        assert len(rest) == RECORDS - len(first), "the rest of the records, from the committed offsets"
        assert not set(first) & set(rest), "nothing consumed twice"
        for p, o in rest:
            assert o >= max(committed.get(p, 0), 0)
    finally:
        b.close()


_KILLABLE = """
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "client.id": "doomed", "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.2)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_a_killed_members_partitions_move_after_the_session_timeout(node: Cluster) -> None:
    group = "kip848-kill"
    doomed = subprocess.Popen([sys.executable, "-c", _KILLABLE, node.kafka_bootstrap, group, TOPIC],
                              stdout=subprocess.PIPE, text=True)
    a: CKConsumer | None = None
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "assigned"
        a = member(node, group, "a")
        wait_for(lambda: a.poll(0.1) is None and 0 < len(owned(a)) < PARTITIONS, 60,
                 "the partitions split with the doomed member")
        os.kill(doomed.pid, signal.SIGKILL)  # no leave: only its session timeout tells the group
        doomed.wait(10)
        killed_at = time.monotonic()
        wait_for(lambda: a.poll(0.1) is None and owned(a) == set(range(PARTITIONS)), SESSION_MS / 1000 + 30,
                 "the survivor owning every partition")
        assert time.monotonic() - killed_at > SESSION_MS / 1000 * 0.8, "moved by the session timeout"
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
        if a is not None:
            a.close()


def test_the_range_and_uniform_server_assignors(node: Cluster) -> None:
    # range: each topic split in contiguous halves, so each member has 3 + 1; uniform: the 8
    # partitions evenly, 4 each (how they fall across the topics is the assignor's choice)
    shapes = {"range": lambda counts: counts == [(3, 1), (3, 1)],
              "uniform": lambda counts: len(counts) == 2 and all(n + m == 4 for n, m in counts)}
    for assignor, expected in shapes.items():
        group = f"kip848-{assignor}"
        conf = {"group.remote.assignor": assignor}
        a, b = member(node, group, "a", **conf), member(node, group, "b", **conf)
        try:
            for c in (a, b):
                c.subscribe([TOPIC, OTHER])

            def settled(a: CKConsumer = a, b: CKConsumer = b) -> list[tuple[int, int]] | None:
                for c in (a, b):
                    c.poll(0.1)
                if owned(a) & owned(b) or owned(a, OTHER) & owned(b, OTHER):
                    return None
                return sorted((len(owned(c)), len(owned(c, OTHER))) for c in (a, b))
            def shaped(settled: Any = settled, expected: Any = expected) -> bool:
                return bool(expected(settled() or []))
            wait_for(shaped, 60, f"two members on two topics split by {assignor}")
            d = describe(node, group)
            assert d.partition_assignor == assignor and str(d.state).endswith("STABLE")
        finally:
            a.close()
            b.close()


def test_an_unknown_server_assignor_is_refused(node: Cluster) -> None:
    """librdkafka keeps retrying an UNSUPPORTED_ASSIGNOR answer without telling the application, so
    what is checked is the group's side: the member is never admitted nor assigned anything."""
    group = "kip848-bad-assignor"
    c = member(node, group, "x", **{"group.remote.assignor": "nonesuch"})
    try:
        deadline = time.monotonic() + 5  # several heartbeat intervals (300 ms)
        while time.monotonic() < deadline:
            c.poll(0.2)
            assert not c.assignment()
        d = describe(node, group)  # librdkafka falls back to DescribeGroups: a Dead group
        assert not d.members and "DEAD" in str(d.state).upper()
    finally:
        c.close()


def test_a_regex_subscription_takes_matching_topics_as_they_are_created(node: Cluster) -> None:
    """librdkafka sends a ``^``-prefixed subscription as ConsumerGroupHeartbeat v1's
    SubscribedTopicRegex: the coordinator resolves it (RE2, whole names), and a topic created later
    that matches joins the assignment."""
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic("rx-a", 2, 1), NewTopic("rx-b", 1, 1), NewTopic("rxx", 1, 1)])["rx-b"].result(30)
    for t in ("rx-a", "rx-b", "rxx"):
        node.wait_leaders(t)
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "kip848-regex",
                           "group.protocol": "consumer", "client.id": "rx", "enable.auto.commit": False,
                           "topic.metadata.refresh.interval.ms": 1000})
    try:
        consumer.subscribe(["^rx-.*"])

        def assigned(want: set[tuple[str, int]]) -> bool | None:
            consumer.poll(0.1)
            return {(tp.topic, tp.partition) for tp in consumer.assignment()} == want or None
        wait_for(lambda: assigned({("rx-a", 0), ("rx-a", 1), ("rx-b", 0)}), 30, "the matching topics' partitions")
        described = describe(node, "kip848-regex")
        assert described.members[0].assignment.topic_partitions
        admin.create_topics([NewTopic("rx-c", 1, 1)])["rx-c"].result(30)
        node.wait_leaders("rx-c")
        wait_for(lambda: assigned({("rx-a", 0), ("rx-a", 1), ("rx-b", 0), ("rx-c", 0)}), 30,
                 "the new matching topic's partition")
    finally:
        consumer.close()
    # the same through a raw ConsumerGroupHeartbeat v1, so the server's own resolution is what is tested
    raw = RawKafka(node.kafka_ports[1])
    try:
        joined = raw.call(68, 1, {"group_id": "kip848-raw-regex", "member_id": "m-1", "member_epoch": 0,
                                  "rebalance_timeout": 5000, "subscribed_topic_names": [],
                                  "subscribed_topic_regex": "rx-[ab]", "topic_partitions": []})
        assert joined["error_code"] == 0
        meta = raw.call(3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                "include_topic_authorized_operations": False})
        names = {t["topic_id"]: t["name"] for t in meta["topics"]}
        got = {names[t["topic_id"]]: len(t["partitions"]) for t in joined["assignment"]["topic_partitions"]}
        assert got == {"rx-a": 2, "rx-b": 1}, "a whole-name match: not rx-c, not rxx"
    finally:
        raw.close()
