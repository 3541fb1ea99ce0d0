"""The rack-aware read replica choice (fetch from follower, KIP-392): a pure function, tested by a table."""

from __future__ import annotations

import doctest

import pytest

from kraft import replica_selector
from kraft.replica_selector import preferred_read_replica

RACKS = {1: "a", 2: "b", 3: "c", 4: "c", 5: None}

# (leader, in-sync replicas, client rack, the replica chosen)
CASES: list[tuple[int, list[int], str | None, int | None]] = [
    (1, [1, 2, 3], "c", 3),
    (1, [1, 4, 3], "c", 4),  # the first in replica order
    (1, [1, 2], "c", None),  # the rack's replica is not in sync
    (1, [1, 2, 3], "a", None),  # the leader's own rack
    (1, [1, 2, 3], "", None),  # no client.rack
    (1, [1, 2, 3], None, None),
    (1, [1, 2, 3], "z", None),  # a rack no replica is in
    (5, [5, 2], "b", 2),  # a leader without a rack
    (3, [3, 4], "c", None),  # leader and follower share the rack: the leader serves
]


@pytest.mark.parametrize(("leader", "in_sync", "rack", "chosen"), CASES)
def test_preferred_read_replica(leader: int, in_sync: list[int], rack: str | None, chosen: int | None) -> None:
    assert preferred_read_replica(leader, in_sync, RACKS, rack) == chosen


def test_the_docstring_examples() -> None:
    assert doctest.testmod(replica_selector).failed == 0
