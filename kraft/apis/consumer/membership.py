"""Pure state of one group member: its id, generation, assignment and whether it must rejoin.

The group client (``group.py``) owns one :class:`Membership`, changes it only through these
methods, and does the I/O they call for. Heartbeat and commit errors map to one
:class:`Action` each (:func:`action_for`), following the protocol (docs/native-protocol.md,
"Consumer groups"):

======================================  ==============================================================
error                                   action
======================================  ==============================================================
REBALANCE_IN_PROGRESS                   REJOIN: keep member id and generation (the coordinator still
                                        accepts a commit with this generation during the rebalance)
ILLEGAL_GENERATION                      REJOIN: the generation is gone; commits with it will fail
UNKNOWN_MEMBER_ID                       REJOIN as a new member (member id "")
NOT_COORDINATOR, COORDINATOR_NOT_       FIND_COORDINATOR, then retry
AVAILABLE, lost connection, timeout
anything else                           RETRY at the next heartbeat
======================================  ==============================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kraft.errors import (
    CoordinatorNotAvailable,
    IllegalGeneration,
    KraftConnectionError,
    KraftError,
    NotCoordinator,
    RebalanceInProgress,
    RequestTimedOut,
    UnknownMemberId,
)

from ..types import TopicPartition

NO_GENERATION = -1
NO_MEMBER_ID = ""

COORDINATOR_ERRORS: tuple[type[KraftError], ...] = (
    NotCoordinator,
    CoordinatorNotAvailable,
    KraftConnectionError,
    RequestTimedOut,
)


class Action(enum.Enum):
    REJOIN = "rejoin"
    FIND_COORDINATOR = "find_coordinator"
    RETRY = "retry"


def action_for(error: KraftError) -> Action:
    if isinstance(error, RebalanceInProgress | IllegalGeneration | UnknownMemberId):
        return Action.REJOIN
    if isinstance(error, COORDINATOR_ERRORS):
        return Action.FIND_COORDINATOR
    return Action.RETRY


@dataclass(slots=True)
class Membership:
    """``generation`` >= 0 while the member holds an assignment of that generation.

    ``rejoin_needed`` is set by a heartbeat answer, a commit answer, a subscription change or a
    poll interval overrun, and cleared by :meth:`joined`. While it is set the consumer must not
    fetch: its partitions may already be on their way to another member.
    """

    member_id: str = NO_MEMBER_ID
    generation: int = NO_GENERATION
    assignment: tuple[TopicPartition, ...] = ()
    rejoin_needed: bool = True
    rejoin_reason: str = "not joined yet"
    joining: bool = False

    @property
    def in_group(self) -> bool:
        """Whether the coordinator knows this member with a generation (heartbeats and commits)."""
        return self.generation != NO_GENERATION and self.member_id != NO_MEMBER_ID

    @property
    def stable(self) -> bool:
        """Member of a completed generation, with nothing asking it to rejoin: may fetch."""
        return self.in_group and not self.rejoin_needed and not self.joining

    def joined(self, member_id: str, generation: int, assignment: tuple[TopicPartition, ...]) -> None:
        if generation < 0 or not member_id:
            raise KraftError(f"join_group answered generation {generation}, member id {member_id!r}")
        self.member_id, self.generation, self.assignment = member_id, generation, assignment
        self.rejoin_needed, self.rejoin_reason, self.joining = False, "", False

    def request_rejoin(self, reason: str) -> None:
        if not self.rejoin_needed:
            self.rejoin_needed, self.rejoin_reason = True, reason

    def failed(self, error: KraftError) -> Action:
        """Apply a heartbeat/commit error; the action the caller must take."""
        action = action_for(error)
        if action is Action.REJOIN:
            self.request_rejoin(error.name)
            if isinstance(error, UnknownMemberId):
                self.member_id, self.generation = NO_MEMBER_ID, NO_GENERATION
        return action

    def left(self, reason: str) -> None:
        """The member left the group (or must act as if it had): a later join starts afresh."""
        self.member_id, self.generation = NO_MEMBER_ID, NO_GENERATION
        self.request_rejoin(reason)

    def commit_identity(self) -> tuple[str, int]:
        """``(member_id, generation)`` to send with a commit ("" / -1: an administrative commit)."""
        return (self.member_id, self.generation) if self.in_group else (NO_MEMBER_ID, NO_GENERATION)


def parse_assignment(raw: object) -> tuple[TopicPartition, ...]:
    """``[[topic, partition], ...]`` from the wire as sorted TopicPartitions."""
    if not isinstance(raw, list | tuple):
        raise KraftError(f"malformed assignment {raw!r}")
    out = set()
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise KraftError(f"malformed assignment entry {item!r}")
        topic, partition = item
        if not isinstance(topic, str) or not isinstance(partition, int) or isinstance(partition, bool):
            raise KraftError(f"malformed assignment entry {item!r}")
        out.add(TopicPartition(topic, partition))
    return tuple(sorted(out))


__all__ = [
    "COORDINATOR_ERRORS",
    "NO_GENERATION",
    "NO_MEMBER_ID",
    "Action",
    "Membership",
    "action_for",
    "parse_assignment",
]
