"""The metadata machine's ``create_partitions``: a topic's partitions only grow, appended with the
replicas the proposer placed, refused whole when the topic is not what the proposer planned from;
published in a new view (which is what makes every node create the new partition groups), kept
across a restart and carried by a snapshot (pure apply over an injected state store)."""

from __future__ import annotations

from typing import Any

import pytest

from kraft import errors
from kraft.log.memory_store import MemoryStore
from kraft.log.rows import MetadataRows
from kraft.state.metadata import METADATA_GID, MetadataMachine, encode_command, partition_gid

CREATED = [[1, 2], [2, 3]]  # topic "t", id 1: two partitions


def create(name: str = "t", assignment: list[list[int]] | None = None) -> bytes:
    return encode_command("create_topic", name=name, assignment=assignment or CREATED, configs={"retention.ms": 5})


def grow(assignment: list[list[int]], count: int = 2, name: str = "t", topic_id: int = 1) -> bytes:
    return encode_command("create_partitions", name=name, topic_id=topic_id, count=count, assignment=assignment)


def machine(*log: bytes, store: MemoryStore | None = None) -> MetadataMachine:
    m = MetadataMachine(MetadataRows(store or MemoryStore(), METADATA_GID))
    for i, entry in enumerate(log, start=2):
        m.apply(i, entry)
    return m


def replicas(m: MetadataMachine, name: str = "t") -> list[list[int]]:
    return [list(p.replicas) for p in m.view.topics[name].partitions]


# (commands after creating "t", then: each command's (error code, answer), the topic's replica lists after)
GROWS: list[tuple[list[bytes], list[tuple[int, Any]], list[list[int]]]] = [
    ([grow([[3, 1]])], [(0, {"previous": 2, "partitions": 3})], [*CREATED, [3, 1]]),
    ([grow([[3, 1], [1, 3]])], [(0, {"previous": 2, "partitions": 4})], [*CREATED, [3, 1], [1, 3]]),
    ([grow([[3, 1]]), grow([[1, 3]], count=3)], [(0, {"previous": 2, "partitions": 3}),
                                                 (0, {"previous": 3, "partitions": 4})],
     [*CREATED, [3, 1], [1, 3]]),
    # Two proposers planned from the same count: the second is refused, nothing of it is applied.
    ([grow([[3, 1]]), grow([[2, 1]])], [(0, {"previous": 2, "partitions": 3}),
                                        (errors.InvalidPartitions.code, "another change came first")],
     [*CREATED, [3, 1]]),
    ([grow([[3, 1]], count=1)], [(errors.InvalidPartitions.code, "has 2 partitions now, not the 1")], CREATED),
    ([grow([[3, 1]], name="gone")], [(errors.UnknownTopicOrPartition.code, "does not exist")], CREATED),
    ([grow([[3, 1]], topic_id=7)], [(errors.UnknownTopicOrPartition.code, "does not exist")], CREATED),
    ([grow([])], [(errors.InvalidReplicaAssignment.code, "at least one replica")], CREATED),
    ([grow([[3], []])], [(errors.InvalidReplicaAssignment.code, "at least one replica")], CREATED),
]


@pytest.mark.parametrize(("commands", "answers", "after"), GROWS)
def test_create_partitions(commands: list[bytes], answers: list[tuple[int, Any]], after: list[list[int]]) -> None:
    m = machine(create())
    for i, (command, (code, answer)) in enumerate(zip(commands, answers, strict=True), start=10):
        version = m.view.version
        got_code, got = m.apply(i, command)
        assert got_code == code, got
        if code:
            assert answer in got
        else:
            assert got == answer
            assert m.view.version > version, "a new partition count publishes a new view"
    assert replicas(m) == after
    t = m.view.topics["t"]
    assert [p.partition for p in t.partitions] == list(range(len(after)))
    assert all(p.leader is None and p.leader_term == -1 for p in t.partitions[2:]), "new partitions: no leader yet"
    assert t.configs == {"retention.ms": 5}, "configs stay"


def test_the_new_partitions_are_what_a_node_hosts_next() -> None:
    m = machine(create())
    assert set(m.view.partitions_on(3)) == {partition_gid(1, 1)}
    m.apply(10, grow([[3, 1], [1, 2]]))
    assert set(m.view.partitions_on(3)) == {partition_gid(1, 1), partition_gid(1, 2)}
    assert set(m.view.partitions_on(1)) == {partition_gid(1, p) for p in (0, 2, 3)}


def test_leaders_and_commits_reach_the_new_partitions() -> None:
    m = machine(create(), grow([[3, 1]]))
    assert m.apply(10, encode_command("partition_leader", topic_id=1, partition=2, leader=3, term=4)) == (0, None)
    assert m.view.topics["t"].partitions[2].leader == 3
    commit = {"group": "g", "generation": -1, "offsets": [["t", 2, 7], ["t", 3, 1]]}
    code, results = m.apply(11, encode_command("commit_offsets", commits=[commit]))
    assert (code, results) == (0, [[0, errors.UnknownTopicOrPartition.code]])


def test_growth_survives_a_restart_and_a_replay_is_skipped() -> None:
    store = MemoryStore()
    machine(create(), grow([[3, 1]]), store=store)
    store.commit()
    again = MetadataMachine(MetadataRows(store, METADATA_GID))
    assert replicas(again) == [*CREATED, [3, 1]]
    assert again.apply(3, grow([[3, 1]])) is None
    assert replicas(again) == [*CREATED, [3, 1]]


def test_a_snapshot_carries_the_grown_topic_and_replicas_agree() -> None:
    log = [create(), create("u", [[1]]), grow([[3, 1]]), grow([[2]], count=1, name="u", topic_id=2),
           grow([[9, 9]], count=2)]
    a, b = machine(*log), machine(*log)
    assert a.state() == b.state()
    follower = machine()
    follower.install(a.state(), a.producers())
    assert replicas(follower) == [*CREATED, [3, 1]] and replicas(follower, "u") == [[1], [2]]


def test_a_leader_reports_its_isr_with_its_leadership() -> None:
    m = machine(create())
    m.apply(10, encode_command("partition_leader", topic_id=1, partition=0, leader=1, term=4, isr=[1, 2]))
    assert m.view.topics["t"].partitions[0].isr == (1, 2)
    m.apply(11, encode_command("partition_leader", topic_id=1, partition=0, leader=2, term=3, isr=[2]))  # stale
    assert (m.view.topics["t"].partitions[0].leader, m.view.topics["t"].partitions[0].isr) == (1, (1, 2))
    m.apply(12, encode_command("partition_leader", topic_id=1, partition=0, leader=2, term=5))  # no ISR: unknown
    assert (m.view.topics["t"].partitions[0].leader, m.view.topics["t"].partitions[0].isr) == (2, None)
