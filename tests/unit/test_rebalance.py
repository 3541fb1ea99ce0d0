"""Rebalance and decommission plans (kraft.rebalance): nothing left on a decommissioned node, replicas
and preferred leaders even, racks spread, the fewest replicas moved, deterministic; and the refusal
when too few nodes would remain."""

from __future__ import annotations

import doctest
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft import rebalance
from kraft.errors import NotEnoughNodes
from kraft.placement import assign_replicas
from kraft.rebalance import Node, Partition, Plan, plan


def nodes_of(n: int, *, decommissioned: tuple[int, ...] = ()) -> list[Node]:
    return [Node(i, None, i in decommissioned) for i in range(1, n + 1)]


def topic(name: str, assignment: list[list[int]]) -> list[Partition]:
    return [Partition(name, p, tuple(r)) for p, r in enumerate(assignment)]


def applied(parts: list[Partition], result: Plan) -> dict[tuple[str, int], tuple[int, ...]]:
    """Every partition's replicas once the plan is carried out."""
    out = {(p.topic, p.partition): p.placed for p in parts}
    out.update({(m.topic, m.partition): m.planned for m in result.moves})
    return out


def spread(counts: dict[int, int]) -> int:
    return max(counts.values()) - min(counts.values())


def test_docstring_examples() -> None:
    result = doctest.testmod(rebalance)
    assert result.failed == 0
    assert result.attempted >= 2


# (name, nodes, partitions, expected moves as (topic, partition, planned))
CASES: list[tuple[str, list[Node], list[Partition], list[tuple[str, int, tuple[int, ...]]]]] = [
    ("balanced: nothing moves", nodes_of(3), topic("t", [[1, 2], [2, 3], [3, 1]]), []),
    ("one node, RF 1", nodes_of(1), topic("t", [[1], [1]]), []),
    ("a new node takes one replica from each full node",
     nodes_of(4), topic("t", [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 3, 2]]),
     [("t", 0, (4, 1, 3)), ("t", 1, (2, 3, 4)), ("t", 3, (1, 4, 2))]),
    ("a decommissioned node's replicas go to the emptiest nodes, then node 1's second lead goes to 4",
     nodes_of(4, decommissioned=(2,)), topic("t", [[1, 2], [2, 3], [3, 4]]),
     [("t", 0, (4, 1)), ("t", 1, (1, 3))]),
    ("a reorder only: leaders even out, no replica moves",
     nodes_of(2), topic("t", [[1, 2], [1, 2]]), [("t", 0, (2, 1))]),
    ("a move in progress counts as done: its target is balanced already",
     nodes_of(3), [Partition("t", 0, (1, 2), target=(2, 3)), Partition("t", 1, (3, 1))], []),
    ("a move in progress onto a decommissioned node is changed",
     nodes_of(3, decommissioned=(3,)), [Partition("t", 0, (1, 2), target=(2, 3)), Partition("t", 1, (2, 1))],
     [("t", 0, (1, 2))]),  # back where it was: the move is cancelled
    ("a replica on a node the cluster does not know leaves it",
     nodes_of(2), topic("t", [[1, 9]]), [("t", 0, (1, 2))]),
    ("racks: partitions on one rack get a second (two replicas move), then node 1's second lead goes round",
     [Node(1, "a"), Node(2, "a"), Node(3, "b"), Node(4, "b")], topic("t", [[1, 2], [3, 4], [1, 3], [4, 2]]),
     [("t", 0, (4, 1)), ("t", 1, (3, 2)), ("t", 3, (2, 4))]),
]


@pytest.mark.parametrize(("nodes", "parts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plans(nodes: list[Node], parts: list[Partition], expected: list[tuple[str, int, tuple[int, ...]]]) -> None:
    assert [(m.topic, m.partition, m.planned) for m in plan(nodes, parts).moves] == expected


def test_a_move_shows_where_the_partition_is_and_where_it_was_going() -> None:
    parts = [Partition("t", 0, (1, 2), target=(2, 3))]
    (move,) = plan(nodes_of(3, decommissioned=(3,)), parts).moves
    assert (move.replicas, move.target, move.planned) == ((1, 2), (2, 3), (2, 1))
    assert move.moved_replicas == 1  # against the target: node 1 instead of node 3


def test_counts_before_and_after() -> None:
    result = plan(nodes_of(3, decommissioned=(3,)), topic("t", [[3, 1], [3, 2]]))
    assert result.replicas_before == {1: 1, 2: 1, 3: 2}
    assert result.replicas_after == {1: 2, 2: 2, 3: 0}
    assert result.leaders_before == {1: 0, 2: 0, 3: 2}
    assert result.leaders_after == {1: 1, 2: 1, 3: 0}
    assert result.decommissioned == (3,)


def test_decommission_only_moves_what_is_on_the_node() -> None:
    # Unbalanced elsewhere (node 1 leads everything), but a decommission of 4 leaves that alone, but
    # for the partition that moves anyway: its preferred leader becomes the emptiest node.
    parts = topic("t", [[1, 2], [1, 3], [1, 4], [1, 2]])
    result = plan(nodes_of(4, decommissioned=(4,)), parts, balance=False)
    assert [(m.partition, m.planned) for m in result.moves] == [(2, (3, 1))]


REFUSALS: list[tuple[str, list[Node], list[Partition], str]] = [
    ("RF 3 on 2 remaining nodes", nodes_of(3, decommissioned=(3,)), topic("t", [[1, 2, 3]]),
     "2 node(s) would remain (1, 2), too few to hold t (replication factor 3)"),
    ("every node decommissioned", nodes_of(1, decommissioned=(1,)), topic("t", [[1]]), "0 node(s) would remain"),
    ("a move in progress counts with its target's size", nodes_of(2), [Partition("t", 0, (1,), target=(1, 2, 3))],
     "replication factor 3"),
]


@pytest.mark.parametrize(("nodes", "parts", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refused_when_too_few_nodes_remain(nodes: list[Node], parts: list[Partition], message: str) -> None:
    with pytest.raises(NotEnoughNodes) as info:
        plan(nodes, parts)
    assert message in info.value.message
    assert info.value.code == 1006


def test_duplicate_node_ids_are_a_bug() -> None:
    with pytest.raises(ValueError, match="distinct"):
        plan([Node(1), Node(1)], [])


# --- properties ------------------------------------------------------------------------------------

clusters = st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.just(n),
    st.integers(1, n),  # RF
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 1000)), min_size=1, max_size=4),  # (partitions, offset)
    st.integers(0, 3),  # nodes added (empty)
    st.sets(st.integers(1, n + 3), max_size=3),  # decommissioned
))


def build(n: int, rf: int, topics: list[tuple[int, int]], added: int, gone: set[int],
          racks: list[str] | None = None) -> tuple[list[Node], list[Partition]]:
    """Topics placed on nodes 1..n as kraft places them, then ``added`` empty nodes and some
    decommissioned ones."""
    rack = (lambda i: racks[(i - 1) % len(racks)]) if racks else (lambda i: None)
    existing = [(i, rack(i)) for i in range(1, n + 1)]
    parts = [p for t, (count, offset) in enumerate(topics)
             for p in topic(f"t{t}", assign_replicas(existing, count, rf, offset))]
    nodes = [Node(i, rack(i), i in gone) for i in range(1, n + added + 1)]
    return nodes, parts


@settings(max_examples=300, deadline=None)
@given(clusters)
def test_plans_keep_every_promise(cluster: tuple[int, int, list[tuple[int, int]], int, set[int]]) -> None:
    n, rf, topics, added, gone = cluster
    nodes, parts = build(n, rf, topics, added, gone)
    live = [x.id for x in nodes if not x.decommissioned]
    if rf > len(live):
        with pytest.raises(NotEnoughNodes):
            plan(nodes, parts)
        return
    result = plan(nodes, parts)
    after = applied(parts, result)
    for p in parts:
        replicas = after[(p.topic, p.partition)]
        assert len(replicas) == len(p.replicas), "RF kept"
        assert len(set(replicas)) == len(replicas)
        assert set(replicas) <= set(live), "nothing left on a decommissioned node"
    counts = Counter(n for r in after.values() for n in r)
    assert spread({i: counts.get(i, 0) for i in live}) <= 1
    leads = Counter(r[0] for r in after.values())
    assert spread({i: leads.get(i, 0) for i in live}) <= 1
    assert plan(nodes, parts) == result, "deterministic"
    # Carried out, the plan leaves nothing to do.
    done = [Partition(p.topic, p.partition, after[(p.topic, p.partition)]) for p in parts]
    assert plan(nodes, done).moves == ()
    # The fewest moves: each replica off a decommissioned node once, then only the excess over the
    # even share (or the shortfall below it, whichever is larger) among the nodes that stay.
    total = sum(len(p.replicas) for p in parts)
    on_live = Counter(x for p in parts for x in p.replicas if x in live)
    evacuated = total - sum(on_live.values())
    high, low = -(-total // len(live)), total // len(live)
    excess = sum(max(0, on_live.get(i, 0) - high) for i in live)
    shortfall = sum(max(0, low - on_live.get(i, 0)) for i in live)
    assert result.moved_replicas <= evacuated + max(excess, shortfall)


@settings(max_examples=200, deadline=None)
@given(clusters, st.lists(st.sampled_from("abc"), min_size=1, max_size=3))
def test_racks_stay_spread(cluster: tuple[int, int, list[tuple[int, int]], int, set[int]], racks: list[str]) -> None:
    n, rf, topics, added, gone = cluster
    nodes, parts = build(n, rf, topics, added, gone, racks)
    live = [x for x in nodes if not x.decommissioned]
    if rf > len(live):
        return
    rack_of = {x.id: x.rack for x in live}
    after = applied(parts, plan(nodes, parts))
    rack_count = len(set(rack_of.values()))
    for replicas in after.values():
        assert len({rack_of[i] for i in replicas}) == min(len(replicas), rack_count)


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 6), st.integers(1, 3), st.integers(1, 20), st.integers(0, 100))
def test_a_balanced_cluster_gets_an_empty_plan(n: int, rf: int, partitions: int, offset: int) -> None:
    rf = min(rf, n)
    parts = topic("t", assign_replicas([(i, None) for i in range(1, n + 1)], partitions, rf, offset))
    counts = Counter(x for p in parts for x in p.replicas)
    if spread({i: counts.get(i, 0) for i in range(1, n + 1)}) > 1:
        return  # kraft's placement evens leaders per topic; replicas are even only where the numbers allow
    assert plan(nodes_of(n), parts).moves == ()


@settings(max_examples=100, deadline=None)
@given(clusters)
def test_a_decommission_moves_only_the_replicas_on_it(cluster: tuple[int, int, list[tuple[int, int]], int,
                                                                     set[int]]) -> None:
    n, rf, topics, added, gone = cluster
    nodes, parts = build(n, rf, topics, added, gone)
    if rf > sum(not x.decommissioned for x in nodes):
        return
    result = plan(nodes, parts, balance=False)
    assert result.moved_replicas == sum(1 for p in parts for x in p.replicas if x in gone)
    for m in result.moves:
        assert any(x in gone for x in m.replicas), "only partitions with a replica on a leaving node change"
        assert set(m.planned) >= {x for x in m.replicas if x not in gone}, "the replicas that stay, stay"
