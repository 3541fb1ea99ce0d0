"""The order of a move (kraft.raft.membership), table-driven, and a property: any sequence of
steps reaches the target without ever having fewer voters than min(start, target)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.raft.membership import Action, Step, next_step

CASES = [
    # (voters, learners, target, leader, caught-up nodes, step)
    ({1, 2, 3}, set(), {2, 3, 4}, 1, set(), Step(Action.ADD_LEARNER, 4)),
    ({1, 2, 3}, {4}, {2, 3, 4}, 1, set(), Step(Action.WAIT)),
    ({1, 2, 3}, {4}, {2, 3, 4}, 1, {4}, Step(Action.PROMOTE, 4)),
    ({1, 2, 3, 4}, set(), {2, 3, 4}, 2, {4}, Step(Action.REMOVE, 1)),
    ({1, 2, 3, 4}, set(), {2, 3, 4}, 1, set(), Step(Action.WAIT)),  # the leader goes: nobody caught up
    ({1, 2, 3, 4}, set(), {2, 3, 4}, 1, {3, 4}, Step(Action.HAND_OVER, 3)),
    ({2, 3, 4}, set(), {2, 3, 4}, 2, set(), Step(Action.DONE)),
    ({1, 2, 3}, {5}, {1, 2, 3}, 1, set(), Step(Action.REMOVE, 5)),  # an abandoned move's learner
    ({1, 2, 3}, {4, 5}, {2, 3, 4}, 1, {4}, Step(Action.PROMOTE, 4)),
    ({1, 2, 3}, {5}, {2, 3, 4}, 1, set(), Step(Action.ADD_LEARNER, 4)),
    ({1}, set(), {2}, 1, set(), Step(Action.ADD_LEARNER, 2)),
    ({1, 2}, set(), {2}, 1, {2}, Step(Action.HAND_OVER, 2)),
    ({1, 2, 3}, set(), {1}, 1, set(), Step(Action.REMOVE, 2)),  # shrinking: voters, then done
]


@pytest.mark.parametrize(("voters", "learners", "target", "leader", "caught_up", "step"), CASES)
def test_next_step(voters: set[int], learners: set[int], target: set[int], leader: int, caught_up: set[int],
                   step: Step) -> None:
    assert next_step(voters, learners, target, leader, caught_up.__contains__) == step


@given(st.sets(st.integers(1, 6), min_size=1, max_size=5), st.sets(st.integers(1, 6), min_size=1, max_size=5))
def test_any_move_completes_and_never_drops_below_its_voters(start: set[int], target: set[int]) -> None:
    voters, learners, leader = set(start), set[int](), min(start)
    floor = min(len(start), len(target))
    for _ in range(40):
        step = next_step(voters, learners, target, leader, lambda n: True)
        if step.action is Action.DONE:
            break
        assert step.node is not None
        if step.action is Action.ADD_LEARNER:
            learners.add(step.node)
        elif step.action is Action.PROMOTE:
            learners.discard(step.node)
            voters.add(step.node)
        elif step.action is Action.REMOVE:
            voters.discard(step.node)
            learners.discard(step.node)
        elif step.action is Action.HAND_OVER:
            leader = step.node
        assert len(voters) >= floor and leader in voters
    assert (voters, learners) == (target, set())
