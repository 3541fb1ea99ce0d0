"""The coordinator's end offsets for group lag (``kraft.node.group_lag``) as pure parts: which
partitions it asks, where, and what it takes from an answer; the snapshot's lag from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kraft.node.group_lag import committed_partitions, parse_answer, plan


@dataclass
class Committed:
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def test_the_partitions_asked_are_those_any_group_committed_on_sorted_and_bounded() -> None:
    groups = {"g1": Committed({("b", 0): 5, ("a", 1): 2}), "g2": Committed({("a", 1): 9, ("a", 0): 0}),
              "empty": Committed()}
    assert committed_partitions(groups) == [("a", 0), ("a", 1), ("b", 0)]
    assert committed_partitions(groups, limit=2) == [("a", 0), ("a", 1)]
    assert committed_partitions({}) == []


def test_partitions_are_asked_where_their_leader_is() -> None:
    leaders: dict[tuple[str, int], int | None] = {("a", 0): 1, ("a", 1): 2, ("a", 2): 2, ("b", 0): None}
    where = plan([("a", 0), ("a", 1), ("a", 2), ("b", 0), ("gone", 0)], leaders, node_id=1)
    assert where.here == [("a", 0)]
    assert where.by_node == {2: [("a", 1), ("a", 2)]}  # one request per leader's node
    assert where.leaderless == [("b", 0), ("gone", 0)]


@pytest.mark.parametrize(("answer", "found"), [
    ({"partitions": [{"topic": "a", "partition": 0, "error_code": 0, "offset": 12}]}, {("a", 0): 12}),
    ({"partitions": [{"topic": "a", "partition": 0, "error_code": 6, "offset": -1}]}, {}),  # moved
    ({"partitions": [{"topic": "a", "partition": 0, "offset": -1}]}, {}),
    ({"partitions": [{"topic": 1, "partition": 0, "offset": 3}, "junk", {"topic": "a", "partition": "0"}]}, {}),
    ({}, {}),
])
def test_an_answer_gives_the_end_offsets_it_has(answer: dict[str, Any], found: dict[tuple[str, int], int]) -> None:
    assert parse_answer(answer) == found
