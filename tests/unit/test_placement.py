"""Replica assignment: distinct replicas, even leaders, rack spread, rotation by offset, errors; and the
partitions a topic grows by: placed as the larger topic would have been, or checked when given."""

from __future__ import annotations

import doctest
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft import placement
from kraft.errors import InvalidPartitions, InvalidReplicaAssignment, InvalidReplicationFactor
from kraft.placement import assign_replicas, manual_assignment, new_partitions


def no_racks(n: int) -> list[tuple[int, str | None]]:
    return [(i, None) for i in range(1, n + 1)]


def test_docstring_examples() -> None:
    result = doctest.testmod(placement)
    assert result.failed == 0
    assert result.attempted >= 3


def test_single_node() -> None:
    assert assign_replicas([(7, None)], 3, 1) == [[7], [7], [7]]


def test_known_assignment_matches_kafka() -> None:
    # The example in the doc comment of Kafka's AdminUtils.assignReplicasToBrokers (brokers 0..4,
    # 10 partitions, RF 3, start index 0), with broker ids shifted by one.
    nodes = no_racks(5)
    expected = [
        [1, 2, 3],
        [2, 3, 4],
        [3, 4, 5],
        [4, 5, 1],
        [5, 1, 2],
        [1, 3, 4],
        [2, 4, 5],
        [3, 5, 1],
        [4, 1, 2],
        [5, 2, 3],
    ]
    assert assign_replicas(nodes, 10, 3) == expected


def test_node_order_does_not_matter() -> None:
    nodes = [(3, "b"), (1, "a"), (2, "b"), (4, "a")]
    assert assign_replicas(nodes, 8, 3, offset=5) == assign_replicas(sorted(nodes), 8, 3, offset=5)


def test_deterministic() -> None:
    assert assign_replicas(no_racks(4), 12, 3, offset=9) == assign_replicas(no_racks(4), 12, 3, offset=9)


def test_offset_rotates_the_first_leader() -> None:
    leaders = {assign_replicas(no_racks(3), 1, 1, offset=o)[0][0] for o in range(3)}
    assert leaders == {1, 2, 3}


@given(
    node_count=st.integers(1, 9),
    partitions=st.integers(1, 40),
    rf_fraction=st.floats(0, 1),
    offset=st.integers(0, 10_000),
)
def test_replicas_distinct_and_leaders_even(node_count: int, partitions: int, rf_fraction: float, offset: int) -> None:
    rf = max(1, round(rf_fraction * node_count))
    assignment = assign_replicas(no_racks(node_count), partitions, rf, offset)
    assert len(assignment) == partitions
    for replicas in assignment:
        assert len(replicas) == rf
        assert len(set(replicas)) == rf
        assert set(replicas) <= set(range(1, node_count + 1))
    leads = Counter(replicas[0] for replicas in assignment)
    counts = [leads.get(n, 0) for n in range(1, node_count + 1)]
    assert max(counts) - min(counts) <= 1


@given(
    racks=st.lists(st.sampled_from("abc"), min_size=1, max_size=9),
    partitions=st.integers(1, 30),
    rf_fraction=st.floats(0, 1),
    offset=st.integers(0, 1000),
)
def test_replicas_spread_over_racks(racks: list[str], partitions: int, rf_fraction: float, offset: int) -> None:
    nodes = [(i + 1, rack) for i, rack in enumerate(racks)]
    rack_of = dict(nodes)
    rf = max(1, round(rf_fraction * len(nodes)))
    assignment = assign_replicas(nodes, partitions, rf, offset)
    for replicas in assignment:
        assert len(set(replicas)) == rf
        # As many racks as the replica count allows.
        assert len({rack_of[n] for n in replicas}) == min(rf, len(set(racks)))
    leads = Counter(replicas[0] for replicas in assignment)
    counts = [leads.get(n, 0) for n, _ in nodes]
    assert max(counts) - min(counts) <= 1


def test_rack_example_six_nodes_three_racks() -> None:
    nodes = [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]
    for replicas in assign_replicas(nodes, 12, 3):
        assert sorted(dict(nodes)[n] for n in replicas) == ["a", "b", "c"]


def test_partial_racks_are_ignored() -> None:
    with_partial = [(1, "a"), (2, None), (3, "a")]
    assert assign_replicas(with_partial, 6, 2) == assign_replicas(no_racks(3), 6, 2)


def test_errors() -> None:
    with pytest.raises(InvalidReplicationFactor, match="more than the 3 nodes"):
        assign_replicas(no_racks(3), 1, 4)
    with pytest.raises(InvalidReplicationFactor, match="at least 1"):
        assign_replicas(no_racks(3), 1, 0)
    with pytest.raises(InvalidPartitions, match="at least 1"):
        assign_replicas(no_racks(3), 0, 1)
    with pytest.raises(InvalidReplicationFactor):
        assign_replicas([], 1, 1)
    with pytest.raises(ValueError, match="distinct"):
        assign_replicas([(1, None), (1, None)], 1, 1)


# --- partitions added to a topic -----------------------------------------------------------------


@given(
    racks=st.lists(st.sampled_from("abc") | st.none(), min_size=1, max_size=7),
    before=st.integers(1, 25),
    added=st.integers(1, 25),
    rf_fraction=st.floats(0, 1),
    offset=st.integers(0, 10_000),
)
def test_added_partitions_are_placed_as_the_larger_topic_would_have_been(
        racks: list[str | None], before: int, added: int, rf_fraction: float, offset: int) -> None:
    nodes = [(i + 1, rack) for i, rack in enumerate(racks)]
    rf = max(1, round(rf_fraction * len(nodes)))
    whole = assign_replicas(nodes, before + added, rf, offset)
    assert assign_replicas(nodes, added, rf, offset, first_partition=before) == whole[before:]
    assert new_partitions(nodes, whole[:before], before + added, offset) == whole[before:]
    # So the grown topic keeps every guarantee of a new one: leaders even, replicas distinct.
    leads = Counter(replicas[0] for replicas in whole)
    assert max(leads.get(n, 0) for n, _ in nodes) - min(leads.get(n, 0) for n, _ in nodes) <= 1


def test_added_partitions_go_on_round_the_nodes() -> None:
    # 3 nodes, RF 2: the topic's 2 partitions led by 1 and 2; the new ones by 3, then 1 (followers
    # shifted once the leaders have gone round), exactly partitions 2 and 3 of a 4-partition topic.
    assert new_partitions(no_racks(3), [[1, 2], [2, 3]], 4) == [[3, 1], [1, 3]]
    # The replication factor is the topic's (its partition 0's), whatever the cluster's default.
    assert new_partitions(no_racks(5), [[2, 3, 4]], 3, offset=1) == assign_replicas(no_racks(5), 3, 3, 1)[1:]


# (existing replica lists, new total, explicit assignment, error, message part)
GROW_ERRORS: list[tuple[list[list[int]], int, list[list[int]] | None, type[Exception], str]] = [
    ([[1, 2], [2, 3]], 2, None, InvalidPartitions, "has 2 partitions already"),
    ([[1, 2], [2, 3]], 1, None, InvalidPartitions, "can only grow"),
    ([], 3, None, InvalidPartitions, "no partitions"),
    ([[1, 2, 3]], 2, None, InvalidReplicationFactor, "more than the 2 nodes"),  # a node left the cluster
    ([[1, 2]], 3, [[1, 2]], InvalidReplicaAssignment, "2 partitions are added but 1"),
    ([[1, 2]], 2, [[1, 2], [2, 1]], InvalidReplicaAssignment, "1 partitions are added but 2"),
    ([[1, 2]], 2, [[1]], InvalidReplicaAssignment, "has 1 replicas; the topic's replication factor is 2"),
    ([[1, 2]], 2, [[3, 3]], InvalidReplicaAssignment, "names a node twice"),
    ([[1, 2]], 2, [[1, 9]], InvalidReplicaAssignment, "does not have: [9]"),
    ([[1, 2]], 3, [[1, 2], []], InvalidReplicaAssignment, "new partition 2 has 0 replicas"),
]


@pytest.mark.parametrize(("existing", "total", "assignment", "error", "message"), GROW_ERRORS)
def test_growing_refuses(existing: list[list[int]], total: int, assignment: list[list[int]] | None,
                         error: type[Exception], message: str) -> None:
    nodes = no_racks(3) if error is not InvalidReplicationFactor else no_racks(2)
    with pytest.raises(error) as info:
        new_partitions(nodes, existing, total, assignment=assignment)
    assert message in str(info.value)


def test_an_explicit_assignment_is_taken_as_given() -> None:
    assert new_partitions(no_racks(3), [[1, 2]], 3, assignment=[(3, 2), [2, 1]]) == [[3, 2], [2, 1]]


# A new topic's manual assignment (CreateTopics ``assignments``): (pairs, message part)
MANUAL_ERRORS: list[tuple[list[tuple[int, list[int]]], str]] = [
    ([], "has no partitions"),
    ([(1, [1, 2])], "partition 1 is assigned where 0 was expected"),
    ([(0, [1, 2]), (0, [2, 3])], "partition 0 is assigned where 1 was expected"),
    ([(0, [1, 2]), (2, [2, 3])], "partition 2 is assigned where 1 was expected"),
    ([(0, [])], "partition 0 has an empty replica list"),
    ([(0, [1, 2]), (1, [3])], "partition 1 has 1 replicas; the topic's replication factor is 2"),
    ([(0, [1, 1])], "partition 0 names a node twice"),
    ([(0, [1, 4])], "partition 0 names nodes the cluster does not have: [4]"),
]


@pytest.mark.parametrize(("pairs", "message"), MANUAL_ERRORS)
def test_a_manual_assignment_is_checked_as_kafka_does(pairs: list[tuple[int, list[int]]], message: str) -> None:
    with pytest.raises(InvalidReplicaAssignment) as info:
        manual_assignment(no_racks(3), pairs)
    assert message in str(info.value)
    assert "new partition" not in str(info.value), "a new topic's partitions are not 'new partitions'"


def test_a_manual_assignment_is_taken_as_given() -> None:
    assert manual_assignment(no_racks(3), [(0, [3, 1, 2]), (1, (2, 3, 1))]) == [[3, 1, 2], [2, 3, 1]]
