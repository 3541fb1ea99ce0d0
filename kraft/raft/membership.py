"""The next step of moving a Raft group from its voters to a target set: pure.

Owns: the order of a move, one membership change at a time (Raft's single-server changes, each
applied before the next is proposed): add every new replica as a learner; promote each once it has
caught up; remove learners that are not wanted; then, and only then, remove voters that are not in
the target, the leader last, after handing its leadership to a caught-up voter of the target. So
the group never has fewer voters than it started with (nor than the target) while it moves, and a
crash at any point leaves a configuration that works, from which the same function continues.
Must not: read clocks, sockets or storage, or propose anything (``RaftGroup.propose_membership``
does; ``kraft.node`` and the simulator drive it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Set
from dataclasses import dataclass


class Action(enum.Enum):
    ADD_LEARNER = "add learner"
    PROMOTE = "promote"
    REMOVE = "remove"
    # A voter becomes a learner and stays a member (the metadata group's voter keeping: a lost voter
    # keeps receiving the log once back; never a step of a move).
    DEMOTE = "demote to learner"
    HAND_OVER = "hand over leadership"  # the leader must go: make ``node`` lead first
    WAIT = "wait"  # a learner is catching up
    DONE = "done"


@dataclass(frozen=True)
class Step:
    action: Action
    node: int | None = None


def next_step(voters: Set[int], learners: Set[int], target: Set[int], leader: int,
              caught_up: Callable[[int], bool]) -> Step:
    """What the leader of a group with ``voters`` and ``learners`` does next to reach ``target``
    (``caught_up(n)``: learner ``n`` holds the leader's commit index, or voter ``n`` its whole log)."""
    assert target, "a group keeps at least one replica"
    for node in sorted(target - voters - learners):
        return Step(Action.ADD_LEARNER, node)
    waiting = False
    for node in sorted(learners & target):
        if caught_up(node):
            return Step(Action.PROMOTE, node)
        waiting = True
    for node in sorted(learners - target):
        return Step(Action.REMOVE, node)
    if waiting:
        return Step(Action.WAIT)
    for node in sorted(voters - target - {leader}):
        return Step(Action.REMOVE, node)
    if leader not in target:
        successor = next((n for n in sorted(target & voters) if caught_up(n)), None)
        return Step(Action.HAND_OVER, successor) if successor is not None else Step(Action.WAIT)
    return Step(Action.DONE)
