"""The metadata group's membership policy (kraft.node.metadata_members), table-driven, and properties:
no change loses a majority of live voters, only a node leaving caught up is ever removed (any other
voter is demoted), and from any start the policy reaches ``want`` live voters when enough live nodes
are there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.node.metadata_members import MetadataMembers, initial_members, next_change
from kraft.raft.membership import Action, Step

REPLACE_S = 5.0
DEAD = 60.0  # silent for longer than the replace delay
BLIP = 1.0  # silent, but not for long


def members(voters: set[int], learners: set[int], *, leader: int = 1, registered: set[int] | None = None,
            leaving: set[int] = frozenset(), caught_up: set[int] | None = None, want: int = 3,
            silent: dict[int, float] | None = None, not_voting: set[int] = frozenset(),
            retired: set[int] = frozenset()) -> MetadataMembers:
    return MetadataMembers(
        voters=voters, learners=learners, leader=leader,
        registered=voters | learners if registered is None else registered, leaving=leaving,
        caught_up=learners if caught_up is None else caught_up, want_voters=want, replace_after_s=REPLACE_S,
        silent_s=silent or {}, not_voting=not_voting, retired=retired | leaving)


CASES = [
    # steady: nothing to do
    ("steady", members({1, 2, 3}, {4, 5}), Step(Action.WAIT)),
    # a registered node the group lacks joins as a learner
    ("new node", members({1, 2, 3}, {4}, registered={1, 2, 3, 4, 5}), Step(Action.ADD_LEARNER, 5)),
    # ... unless it is decommissioned
    ("new but leaving", members({1, 2, 3}, {4}, registered={1, 2, 3, 4, 5}, leaving={5}), Step(Action.WAIT)),
    # a voter silent for a moment is not replaced
    ("blip", members({1, 2, 3}, {4}, silent={2: BLIP}), Step(Action.WAIT)),
    # silent past the delay: the replacement is promoted first (3 of 4 live)
    ("promote first", members({1, 2, 3}, {4, 5}, silent={2: DEAD}), Step(Action.PROMOTE, 4)),
    # ... a learner that has not caught up is not
    ("not caught up", members({1, 2, 3}, {4, 5}, silent={2: DEAD}, caught_up={5}), Step(Action.PROMOTE, 5)),
    # ... nor one that is itself silent
    ("silent learner", members({1, 2, 3}, {4}, silent={2: DEAD, 4: BLIP}), Step(Action.WAIT)),
    # then the lost voter stops voting: demoted to a learner, it stays in the group (rule 6)
    ("then demote", members({1, 2, 3, 4}, {5}, silent={2: DEAD}), Step(Action.DEMOTE, 2)),
    # no learner to replace it: the lost voter stays (it may come back)
    ("no replacement", members({1, 2, 3}, set(), silent={2: DEAD}), Step(Action.WAIT)),
    # two of three lost: a promotion would leave 2 live of 4, no majority; nothing can commit anyway
    ("no majority", members({1, 2, 3}, {4}, silent={2: DEAD, 3: DEAD}), Step(Action.WAIT)),
    # five voters, two lost: promote, promote, then remove
    ("five, two lost", members({1, 2, 3, 4, 5}, {6, 7}, want=5, silent={2: DEAD, 3: DEAD}), Step(Action.PROMOTE, 6)),
    ("five, two lost, one in", members({1, 2, 3, 4, 5, 6}, {7}, want=5, silent={2: DEAD, 3: DEAD}),
     Step(Action.PROMOTE, 7)),
    ("five, two lost, both in", members({1, 2, 3, 4, 5, 6, 7}, set(), want=5, silent={2: DEAD, 3: DEAD}),
     Step(Action.DEMOTE, 2)),
    ("five, one lost demoted", members({1, 3, 4, 5, 6, 7}, {2}, want=5, silent={2: DEAD, 3: DEAD}),
     Step(Action.DEMOTE, 3)),
    # a decommissioned learner that hosts nothing leaves
    ("leaving learner", members({1, 2, 3}, {4, 5}, leaving={5}), Step(Action.REMOVE, 5)),
    # a decommissioned voter is replaced first, then leaves
    ("leaving voter", members({1, 2, 3}, {4}, leaving={3}), Step(Action.PROMOTE, 4)),
    ("leaving voter replaced", members({1, 2, 3, 4}, set(), leaving={3}), Step(Action.REMOVE, 3)),
    # decommissioned and empty, but its log is behind (down, say): it stays until it has caught up,
    # since out of the group its view would never show its moves finished (the chaos run)
    ("retired learner behind", members({1, 2, 3}, {4, 5}, retired={5}), Step(Action.WAIT)),
    # ... a voter is replaced all the same and demoted, caught up or not (kept while behind, it would
    # be replaced whenever it caught up and kept again at the next entry: a promote/demote churn)
    ("retired voter behind", members({1, 2, 3}, {4}, retired={3}), Step(Action.PROMOTE, 4)),
    ("retired voter behind, replaced", members({1, 2, 3, 4}, set(), retired={3}), Step(Action.DEMOTE, 3)),
    ("retired voter behind, nobody else", members({1, 2, 3}, set(), retired={3}), Step(Action.WAIT)),
    # ... and one out of the group already is not added back
    ("retired, out", members({1, 2, 3}, {4}, registered={1, 2, 3, 4, 5}, retired={5}), Step(Action.WAIT)),
    # seed 902 (rule 6): decommissioned, emptied while it was down, and lost: replaced, then demoted
    # (not removed: out of the group its view would stay behind for good, as rule 1 never adds it back)
    ("retired voter lost", members({1, 2, 3}, {4}, retired={2}, silent={2: DEAD}), Step(Action.PROMOTE, 4)),
    ("retired voter lost, replaced", members({1, 2, 3, 4}, set(), retired={2}, silent={2: DEAD}),
     Step(Action.DEMOTE, 2)),
    # ... a learner now, it stays while down or behind (a lost learner is never removed)
    ("retired, demoted, down", members({1, 3, 4}, {2}, retired={2}, caught_up=set(), silent={2: DEAD}),
     Step(Action.WAIT)),
    ("retired, demoted, behind", members({1, 3, 4}, {2}, retired={2}, caught_up=set()), Step(Action.WAIT)),
    # ... and leaves once back and caught up; out, it is not added back (no add/remove loop)
    ("retired, demoted, caught up", members({1, 3, 4}, {2}, leaving={2}), Step(Action.REMOVE, 2)),
    ("retired, left", members({1, 3, 4}, set(), registered={1, 2, 3, 4}, retired={2}), Step(Action.WAIT)),
    # a lost voter that is leaving (its log held the commit index) is removed, not demoted
    ("leaving voter lost, replaced", members({1, 2, 3, 4}, set(), leaving={2}, silent={2: DEAD}),
     Step(Action.REMOVE, 2)),
    # ... or leaves unreplaced when no learner could ever replace it
    ("leaving voter, nobody else", members({1, 2, 3}, set(), leaving={3}), Step(Action.REMOVE, 3)),
    # ... but not while a learner that could replace it catches up
    ("leaving voter, learner behind", members({1, 2, 3}, {4}, leaving={3}, caught_up=set()), Step(Action.WAIT)),
    # the leader itself leaving: it hands over first
    ("leaving leader", members({1, 2, 3, 4}, set(), leaving={1}), Step(Action.HAND_OVER, 2)),
    # more voters than wanted (a cluster from before metadata_voters): shrink, never the leader
    ("too many", members({1, 2, 3, 4, 5}, set(), want=3), Step(Action.DEMOTE, 5)),
    ("too many, leader highest", members({1, 2, 3, 4, 5}, set(), leader=5, want=3), Step(Action.DEMOTE, 4)),
    # a lost disk's learner counts as no live voter for a majority
    ("rebuilding voter", members({1, 2, 3}, {4}, silent={2: DEAD}, not_voting={3}), Step(Action.WAIT)),
    # fewer nodes than wanted: all vote
    ("small cluster", members({1, 2}, set(), want=3), Step(Action.WAIT)),
    # a small cluster grows to three voters when two learners can join, never to two
    ("grow by one", members({1}, {2}, want=3), Step(Action.WAIT)),
    ("grow by two", members({1}, {2, 3}, want=3), Step(Action.PROMOTE, 2)),
    ("grow, second", members({1, 2}, {3}, want=3), Step(Action.PROMOTE, 3)),
]


@pytest.mark.parametrize(("state", "step"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_change(state: MetadataMembers, step: Step) -> None:
    assert next_change(state) == step


@pytest.mark.parametrize(("ids", "want", "expected"), [
    ([1, 2, 3], 3, ([1, 2, 3], [])),
    ([7, 1, 5, 3, 2], 3, ([1, 2, 3], [5, 7])),
    ([1, 2], 3, ([1, 2], [])),
    ([4, 9, 2, 8, 6, 5, 3], 5, ([2, 3, 4, 5, 6], [8, 9])),
])
def test_initial_members(ids: list[int], want: int, expected: tuple[list[int], list[int]]) -> None:
    assert initial_members(ids, want) == expected


def _apply(voters: set[int], learners: set[int], step: Step, leader: int) -> tuple[set[int], set[int], int]:
    assert step.node is not None
    if step.action is Action.ADD_LEARNER:
        learners = learners | {step.node}
    elif step.action is Action.PROMOTE:
        learners, voters = learners - {step.node}, voters | {step.node}
    elif step.action is Action.REMOVE:
        learners, voters = learners - {step.node}, voters - {step.node}
    elif step.action is Action.DEMOTE:
        learners, voters = learners | {step.node}, voters - {step.node}
    elif step.action is Action.HAND_OVER:
        leader = step.node
    return voters, learners, leader


@given(st.integers(1, 9), st.sampled_from([1, 3, 5]), st.sets(st.integers(1, 9), max_size=4),
       st.integers(0, 4), st.sets(st.integers(1, 9), max_size=2))
def test_reaches_the_voter_count_and_never_loses_a_live_majority(n: int, want: int, dead: set[int], first: int,
                                                                 leaving: set[int]) -> None:
    ids = set(range(1, n + 1))
    voters_list, learners_list = initial_members(sorted(ids), want)
    voters, learners = set(voters_list), set(learners_list)
    live = ids - dead
    leaving = leaving & ids
    leader = min(live & voters, default=None)
    if leader is None or 2 * len(live & voters) <= len(voters) or leader in leaving:
        return  # no working leader to start with
    for _ in range(60):
        state = members(voters, learners, leader=leader, registered=ids, leaving=leaving, want=want,
                        silent={d: DEAD for d in dead})
        step = next_change(state)
        if step.action is Action.WAIT:
            break
        before_live = 2 * len(live & voters) > len(voters)
        # rule 6: only a node leaving caught up is ever removed; any other voter is demoted
        assert step.action is not Action.REMOVE or step.node in leaving, (step, voters, learners)
        voters, learners, leader = _apply(voters, learners, step, leader)
        assert leader in voters and leader in live
        if before_live:
            assert 2 * len(live & voters) > len(voters), (step, voters)
    else:
        pytest.fail("the policy did not settle")
    available = live - leaving
    assert len(voters & available) == min(want, len(available)) or len(voters & available) >= want
    assert not (learners | voters) & leaving or not available - voters - learners
