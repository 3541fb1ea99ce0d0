"""Partition assignors: Kafka's documented examples, and invariants over many group shapes."""

from __future__ import annotations

import doctest
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.errors import InconsistentGroupProtocol
from kraft.groups import assignors
from kraft.groups.assignors import ASSIGNORS, assign

TOPICS = ["t0", "t1", "t2", "t3"]
member_ids = st.text(alphabet="abcdefgh", min_size=1, max_size=2)
partition_counts = st.dictionaries(st.sampled_from(TOPICS), st.integers(min_value=0, max_value=12))


@st.composite
def groups(draw, max_members=7):
    """(members, partitions) with varied subscriptions; some subscribed topics may not exist."""
    ids = draw(st.lists(member_ids, min_size=1, max_size=max_members, unique=True))
    members = {m: draw(st.lists(st.sampled_from(TOPICS), max_size=4)) for m in ids}
    return members, draw(partition_counts)


@st.composite
def uniform_groups(draw, min_members=1, max_members=8):
    """(members, partitions) where every member subscribes to the same topics."""
    ids = draw(st.lists(member_ids, min_size=min_members, max_size=max_members, unique=True))
    topics = draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=4, unique=True))
    partitions = {t: draw(st.integers(min_value=0, max_value=15)) for t in topics}
    return {m: list(topics) for m in ids}, partitions


def all_partitions(members, partitions):
    wanted = {t for topics in members.values() for t in topics}
    return {(t, p) for t in wanted if t in partitions for p in range(partitions[t])}


def owners(assignment):
    return {tp: m for m, tps in assignment.items() for tp in tps}


def moved(before, after):
    """Partitions whose owner changed (a partition that had no owner before does not count)."""
    was, now = owners(before), owners(after)
    return {tp for tp in now if tp in was and was[tp] != now[tp]}


def check_valid(members, partitions, result):
    assert set(result) == set(members)
    for member, tps in result.items():
        assert tps == sorted(tps)
        assert all(t in members[member] for t, _ in tps)
    flat = [tp for tps in result.values() for tp in tps]
    assert len(flat) == len(set(flat))
    assert set(flat) == all_partitions(members, partitions)


# --- the registry and the dispatcher -------------------------------------------------------------


def test_docstring_examples():
    assert doctest.testmod(assignors).failed == 0


def test_registry_names_are_locked():
    assert set(ASSIGNORS) == {"range", "roundrobin", "sticky"}


def test_unknown_strategy_is_inconsistent_group_protocol():
    with pytest.raises(InconsistentGroupProtocol):
        assign("cooperative-sticky", {"a": ["t"]}, {"t": 1})


def test_empty_and_unsubscribed():
    for name in ASSIGNORS:
        assert assign(name, {}, {"t": 3}) == {}
        assert assign(name, {"a": ["missing"], "b": []}, {"t": 3}) == {"a": [], "b": []}


# --- hand-computed examples (Kafka's documentation) ----------------------------------------------

TWO_BY_THREE = ({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}, {"t0": 3, "t1": 3})


def test_range_kafka_example():
    assert assign("range", *TWO_BY_THREE) == {
        "C0": [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)],
        "C1": [("t0", 2), ("t1", 2)],
    }


def test_range_heterogeneous_subscriptions():
    members = {"c": ["u"], "b": ["u", "t"], "a": ["t"]}
    assert assign("range", members, {"t": 5, "u": 2}) == {
        "a": [("t", 0), ("t", 1), ("t", 2)],
        "b": [("t", 3), ("t", 4), ("u", 0)],
        "c": [("u", 1)],
    }


def test_roundrobin_kafka_example():
    assert assign("roundrobin", *TWO_BY_THREE) == {
        "C0": [("t0", 0), ("t0", 2), ("t1", 1)],
        "C1": [("t0", 1), ("t1", 0), ("t1", 2)],
    }


def test_roundrobin_kafka_heterogeneous_example():
    members = {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]}
    assert assign("roundrobin", members, {"t0": 1, "t1": 2, "t2": 3}) == {
        "C0": [("t0", 0)],
        "C1": [("t1", 0)],
        "C2": [("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)],
    }


def test_sticky_from_scratch_matches_roundrobin_counts():
    result = assign("sticky", *TWO_BY_THREE)
    assert sorted(len(tps) for tps in result.values()) == [3, 3]


def test_sticky_heterogeneous_needs_a_chain():
    # c can only take u; the only u partition is a's, so b's extra t partition reaches c through a.
    members = {"a": ["t", "u"], "b": ["t"], "c": ["u"]}
    previous = {"a": [("t", 0), ("u", 0)], "b": [("t", 1), ("t", 2), ("t", 3)], "c": []}
    result = assign("sticky", members, {"t": 4, "u": 1}, previous)
    assert sorted(len(tps) for tps in result.values()) == [1, 2, 2]
    assert result["c"] == [("u", 0)]
    assert len(moved(previous, result)) == 2


# --- invariants over many shapes ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ASSIGNORS))
@given(group=groups(), previous_seed=st.randoms(use_true_random=False))
@settings(max_examples=150)
def test_every_partition_once_to_a_subscriber(name, group, previous_seed):
    members, partitions = group
    previous = assign("roundrobin", members, partitions)
    previous_seed.shuffle(ids := sorted(previous))
    previous = dict(zip(ids, previous.values(), strict=True))  # a scrambled, still-valid previous
    check_valid(members, partitions, assign(name, members, partitions, previous))


@pytest.mark.parametrize("name", sorted(ASSIGNORS))
@given(group=groups())
def test_deterministic_whatever_the_input_order(name, group):
    members, partitions = group
    reordered = {m: list(reversed(members[m])) for m in reversed(list(members))}
    reordered_partitions = dict(reversed(list(partitions.items())))
    assert assign(name, members, partitions) == assign(name, reordered, reordered_partitions)


@pytest.mark.parametrize("name", ["roundrobin", "sticky"])
@given(group=uniform_groups())
def test_identical_subscriptions_balanced_within_one(name, group):
    counts = [len(tps) for tps in assign(name, *group).values()]
    assert max(counts) - min(counts) <= 1


@given(group=uniform_groups())
def test_range_balanced_within_one_per_topic(group):
    members, partitions = group
    result = assign("range", members, partitions)
    for topic in partitions:
        counts = [sum(1 for t, _ in tps if t == topic) for tps in result.values()]
        assert max(counts) - min(counts) <= 1


def optimal_max_load(members, partitions):
    """Hall's bound, tight for unit partitions: max over member sets S of ceil(|parts only S can take| / |S|)."""
    eligible = {t: frozenset(m for m in members if t in members[m]) for t in partitions}
    best = 0
    for size in range(1, len(members) + 1):
        for subset in itertools.combinations(members, size):
            only_here = sum(n for t, n in partitions.items() if eligible[t] and eligible[t] <= set(subset))
            best = max(best, math.ceil(only_here / size))
    return best


@given(group=groups(max_members=6), seed=st.randoms(use_true_random=False))
@settings(max_examples=150)
def test_sticky_heterogeneous_as_balanced_as_subscriptions_allow(group, seed):
    members, partitions = group
    previous = {m: [] for m in members}
    for tp in sorted(all_partitions(members, partitions)):  # any previous owner, even one not subscribed
        previous[seed.choice(sorted(members))].append(tp)
    result = assign("sticky", members, partitions, previous)
    check_valid(members, partitions, result)
    counts = {m: len(tps) for m, tps in result.items()}
    assert max(counts.values(), default=0) == optimal_max_load(members, partitions)
    for giver, tps in result.items():  # and no single move would even things out further
        for topic, _ in tps:
            assert all(counts[m] >= counts[giver] - 1 for m in members if topic in members[m])


def fewest_moves(previous, members, partitions):
    """With identical subscriptions: previously owned minus the most that can stay put in a balanced result."""
    total = len(all_partitions(members, partitions))
    base, extra = divmod(total, len(members))
    kept = sorted((len(previous.get(m, [])) for m in members), reverse=True)
    return sum(kept) - sum(min(k, base + (1 if i < extra else 0)) for i, k in enumerate(kept))


@given(group=uniform_groups(), seed=st.randoms(use_true_random=False), leavers=st.integers(0, 3))
@settings(max_examples=150)
def test_sticky_moves_the_fewest_partitions_from_any_previous(group, seed, leavers):
    members, partitions = group
    everyone = sorted(members) + [f"gone{i}" for i in range(leavers)]
    previous: dict[str, list] = {m: [] for m in everyone}
    for tp in sorted(all_partitions(members, partitions)):  # an arbitrary, unbalanced previous
        previous[seed.choice(everyone)].append(tp)
    result = assign("sticky", members, partitions, previous)
    still_here = {m: previous[m] for m in members}
    assert len(moved(still_here, result)) == fewest_moves(still_here, members, partitions)


@given(group=uniform_groups(min_members=1), newcomer=st.just("zz"))
@settings(max_examples=150)
def test_sticky_join_moves_exactly_its_share(group, newcomer):
    members, partitions = group
    before = assign("sticky", members, partitions)
    after = assign("sticky", {**members, newcomer: members[next(iter(members))]}, partitions, before)
    total = len(all_partitions(members, partitions))
    target = total // (len(members) + 1)
    assert moved(before, after) == set(after[newcomer])
    assert len(after[newcomer]) == target
    for m in members:  # old members only give, and only those above the new target
        assert set(after[m]) <= set(before[m])
        assert len(after[m]) == len(before[m]) or len(after[m]) >= target


@given(group=uniform_groups(min_members=2), data=st.data())
@settings(max_examples=150)
def test_sticky_leave_moves_only_the_leavers_partitions(group, data):
    members, partitions = group
    before = assign("sticky", members, partitions)
    leaver = data.draw(st.sampled_from(sorted(members)))
    remaining = {m: t for m, t in members.items() if m != leaver}
    after = assign("sticky", remaining, partitions, before)
    assert moved(before, after) == set(before[leaver])
    for m in remaining:
        assert set(before[m]) <= set(after[m])


@given(group=groups())
def test_sticky_is_stable_on_its_own_output(group):
    members, partitions = group
    first = assign("sticky", members, partitions)
    assert assign("sticky", members, partitions, first) == first
