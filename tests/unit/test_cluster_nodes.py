"""Which nodes placement and rebalancing count (kraft.node.cluster_nodes): cluster.ini's and the
registry's, racks as announced, decommissioned ones left out of new placements, and nodes that never
started left out once enough have."""

from __future__ import annotations

import dataclasses

import pytest

from kraft.config import ClusterConfig, parse_config
from kraft.node.cluster_nodes import (
    assignment,
    every_node,
    live_nodes,
    placement_nodes,
    planning_nodes,
    replicating_nodes,
)
from kraft.rebalance import Node, Partition
from kraft.state.metadata import MetadataView, NodeMeta, PartitionMeta, TopicMeta


def config(n: int) -> ClusterConfig:
    text = "[cluster]\n" + "".join(f"[node.{i}]\nhost = 127.0.0.1\nclient_port = {9000 + i}\nraft_port = {9100 + i}\n"
                                   f"rack = ini{i}\n" for i in range(1, n + 1))
    return parse_config(text, "cluster.ini")


def view(registered: dict[int, tuple[str | None, bool]],
         topics: dict[str, list[tuple[tuple[int, ...], tuple[int, ...] | None]]] | None = None) -> MetadataView:
    nodes = {i: NodeMeta(i, "127.0.0.1", 9000 + i, 9100 + i, rack, decommissioned=gone)
             for i, (rack, gone) in registered.items()}
    metas = {name: TopicMeta(name, t, tuple(PartitionMeta(name, t, p, r, None, -1, target)
                                            for p, (r, target) in enumerate(parts)))
             for t, (name, parts) in enumerate((topics or {}).items(), start=1)}
    return MetadataView(1, metas, nodes)


def test_every_node_is_the_union_with_announced_racks_and_flags() -> None:
    v = view({2: ("b", False), 3: (None, True), 7: ("z", False)})
    assert every_node(config(3), v) == [Node(1, "ini1"), Node(2, "b"), Node(3, None, True), Node(7, "z")]
    assert [n.id for n in live_nodes(config(3), v)] == [1, 2, 7]


# (registered, replication factor, nodes placement uses)
PLACEMENT: list[tuple[dict[int, tuple[str | None, bool]], int, list[int]]] = [
    ({}, 3, [1, 2, 3, 4, 5]),  # the first moments: nobody registered yet, cluster.ini it is
    ({1: ("a", False), 2: ("a", False)}, 3, [1, 2, 3, 4, 5]),  # too few registered for RF 3
    ({1: ("a", False), 2: ("a", False), 3: ("a", False)}, 3, [1, 2, 3]),  # 4 and 5 never started
    ({1: ("a", False), 2: ("a", False), 3: ("a", False)}, 2, [1, 2, 3]),
    ({1: ("a", False), 2: ("a", True), 3: ("a", False), 4: ("a", False)}, 3, [1, 3, 4]),  # 2 is leaving
    ({1: ("a", False), 2: ("a", True), 3: ("a", False)}, 3, [1, 3, 4, 5]),  # too few: unstarted ones too
]


@pytest.mark.parametrize(("registered", "rf", "expected"), PLACEMENT)
def test_placement_nodes(registered: dict[int, tuple[str | None, bool]], rf: int, expected: list[int]) -> None:
    assert [i for i, _ in placement_nodes(config(5), view(registered), rf)] == expected


def test_planning_counts_registered_nodes_and_unregistered_ones_holding_replicas() -> None:
    v = view({1: (None, False), 2: (None, False)}, {"t": [((1, 3), None), ((1, 2), (2, 1))]})
    assert [n.id for n in planning_nodes(config(5), v)] == [1, 2, 3]  # 4 and 5: never started, hold nothing
    assert planning_nodes(config(5), v, leaving={2})[1] == Node(2, None, True)
    assert assignment(v) == [Partition("t", 0, (1, 3)), Partition("t", 1, (1, 2), (2, 1))]


@pytest.mark.parametrize(("registered", "held", "expected"), [
    ({2: (None, False), 3: (None, False)}, {}, [1, 2, 3]),
    ({2: (None, False), 3: (None, True)}, {}, [1, 2]),  # 3 decommissioned, its replicas gone
    ({2: (None, False), 3: (None, True)}, {3: 4}, [1, 2, 3]),  # 3 decommissioned, still replicating
    ({2: (None, False), 3: (None, True)}, {3: 0}, [1, 2]),
    ({2: (None, False), 9: (None, False)}, {9: 1}, [1, 2, 3, 9]),  # a node of the registry only
])
def test_replicating_nodes_keep_a_decommissioned_node_until_its_replicas_moved_off(
        registered: dict[int, tuple[str | None, bool]], held: dict[int, int], expected: list[int]) -> None:
    v = dataclasses.replace(view(registered), replicas_per_node=held)
    assert replicating_nodes(config(3), v) == expected
