"""librdkafka's cooperative-sticky consumers changing their subscriptions in quick succession (the
playbook of librdkafka's test 0113, ``u_multiple_subscription_changes``, 8 consumers over 15 s) against a
3-node cluster: the group spreads the partitions within seconds of the last change.

What this guards: librdkafka abandons a JoinGroup in flight when its subscription changes and sends
a new one. Without KIP-394's MEMBER_ID_REQUIRED every abandoned first join left a member behind that
never heartbeat, and each later round waited for it until its session timed out (45 s), so one
consumer kept every partition while the others held none for a minute and more."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

PARTITIONS = 16
MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID = 79, 25


class Member:
    """One cooperative-sticky consumer polled on its own thread; ``subscribe`` is queued to it (a
    librdkafka handle is used from one thread), and what it holds is tracked from its callbacks."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.held: set[tuple[str, int]] = set()
        self._todo: list[list[str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "coop",
                                     "client.id": name, "partition.assignment.strategy": "cooperative-sticky",
                                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def subscribe(self, topics: list[str]) -> None:
        with self._lock:
            self._todo.append(topics)

    def _assigned(self, consumer: Any, parts: list[Any]) -> None:
        consumer.incremental_assign(parts)
        self.held |= {(p.topic, p.partition) for p in parts}

    def _revoked(self, consumer: Any, parts: list[Any]) -> None:
        consumer.incremental_unassign(parts)
        self.held -= {(p.topic, p.partition) for p in parts}

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                todo, self._todo = self._todo, []
            for topics in todo:
                self._consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked)
            self._consumer.poll(0.05)
        self._consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def members(cluster3: Cluster) -> Iterator[list[Member]]:
    admin = AdminClient({"bootstrap.servers": cluster3.kafka_bootstrap})
    for topic in ("s1", "s2"):
        admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
        cluster3.wait_leaders(topic)
    out = [Member(cluster3, f"C_{i}") for i in range(8)]
    try:
        yield out
    finally:
        for m in out:
            m.stop()


def _counts(members: list[Member], topic: str) -> list[int]:
    return [sum(1 for t, _ in m.held if t == topic) for m in members]


S1, S2 = ["s1"], ["s1", "s2"]
# librdkafka 0113's playbook (u_multiple_subscription_changes, subscription variation 0): at each
# time (ms from the start), a consumer subscribes to S1 or S2; every consumer ends on S1.
PLAYBOOK = [(0, 0, S1), (4000, 1, S1), (4000, 1, S1), (4000, 1, S1), (4000, 2, S1), (6000, 3, S1), (6000, 4, S1),
            (6000, 5, S1), (6000, 6, S1), (6000, 7, S2), (6000, 1, S1), (6000, 1, S2), (6000, 1, S1), (6000, 2, S2),
            (7000, 2, S1), (7000, 1, S2), (8000, 0, S2), (8000, 1, S1), (8000, 0, S1), (13000, 2, S1),
            (13000, 1, S2), (13000, 5, S2), (14000, 6, S2), (15000, 7, S1), (15000, 1, S1), (15000, 5, S1),
            (15000, 6, S1)]


def test_subscription_changes_in_quick_succession_spread_within_seconds(members: list[Member]) -> None:
    start = time.monotonic()
    for at_ms, who, topics in PLAYBOOK:
        # librdkafka 0113's playbook runs by the clock: this waits for its next step, it synchronises nothing
        time.sleep(max(0.0, start + at_ms / 1000 - time.monotonic()))  # sleep-ok
        members[who].subscribe(topics)
    end = time.monotonic()
    spread = [PARTITIONS // len(members)] * len(members)
    wait_for(lambda: _counts(members, "s1") == spread or None, 40,
             f"the partitions spread over the group (held: {_counts(members, 's1')})")
    took = time.monotonic() - end
    assert took < 25, f"spread only {took:.1f} s after the last subscription change"
    assert _counts(members, "s2") == [0] * len(members), "nobody subscribes to s2 any more"


def test_join_group_v4_names_a_new_member_which_joins_nothing_until_it_comes_back(cluster1: Cluster) -> None:
    raw = RawKafka(cluster1.kafka_ports[1])
    try:
        def join(member_id: str, version: int = 5, group: str = "kip394") -> dict[str, Any]:
            return raw.call(11, version, {"group_id": group, "session_timeout": 10_000,
                                          "rebalance_timeout": 10_000, "member_id": member_id,
                                          "group_instance_id": None, "protocol_type": "consumer",
                                          "protocols": [{"name": "range", "metadata": b""}]})
        first = join("")
        assert first["error_code"] == MEMBER_ID_REQUIRED and first["member_id"]
        abandoned = join("")  # a client that gave up on its first join: this id is never used
        assert abandoned["error_code"] == MEMBER_ID_REQUIRED and abandoned["member_id"] != first["member_id"]
        joined = join(first["member_id"])
        assert joined["error_code"] == 0 and joined["member_id"] == first["member_id"]
        assert [m["member_id"] for m in joined["members"]] == [first["member_id"]], "the abandoned id is no member"
        assert join("made-up")["error_code"] == UNKNOWN_MEMBER_ID
        assert join("", version=3, group="v3")["error_code"] == 0, "before v4 a new member joins at once"
    finally:
        raw.close()
