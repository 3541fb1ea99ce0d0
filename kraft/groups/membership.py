"""Consumer group membership: the rebalance state machine of one group (join, heartbeat, leave).

Owns: members, their subscriptions and liveness, the generation, and when a rebalance completes.
Time is passed in (``now``, seconds) and nothing here does I/O: the coordinator wraps it with
asyncio futures for waiting joins, timers, and the metadata group that makes generations durable.

States, as Kafka's coordinator: ``Empty`` (no members), ``PreparingRebalance`` (waiting for every
member to rejoin, or for the deadline), ``Stable`` (everyone has the current generation's assignment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kraft import errors

EMPTY = "Empty"
PREPARING = "PreparingRebalance"
STABLE = "Stable"

MIN_SESSION_TIMEOUT_MS = 1_000
MAX_SESSION_TIMEOUT_MS = 3_600_000
INITIAL_DELAY_CAP_S = 3.0  # Kafka waits 3 s for a new group; kraft extends from a shorter step, up to this


@dataclass
class Member:
    member_id: str
    client_id: str
    host: str
    topics: list[str]
    session_timeout_s: float
    rebalance_timeout_s: float
    last_seen: float
    joined: bool = True  # has (re)joined in the current rebalance round


@dataclass
class Group:
    group_id: str
    generation: int = 0
    state: str = EMPTY
    strategy: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    assignment: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    deadline: float = 0.0  # when PreparingRebalance completes whatever happens
    initial: bool = False  # the first rebalance of an empty group (waits for co-starting members)
    initial_started: float = 0.0
    subscribed_partitions: dict[str, int] = field(default_factory=dict)  # what the assignment used

    # --- transitions ------------------------------------------------------------------------------
    def join(self, member_id: str, client_id: str, host: str, topics: list[str], session_timeout_ms: int,
             rebalance_timeout_ms: int, strategy: str, now: float, initial_delay_s: float) -> tuple[str, bool]:
        """Register a join; returns (member id, whether the member must wait for a rebalance)."""
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise errors.InvalidSessionTimeout(
                f"session_timeout_ms must be {MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS}")
        if self.members and strategy != self.strategy:
            raise errors.InconsistentGroupProtocol(
                f"group {self.group_id!r} uses {self.strategy!r}, this member asks for {strategy!r}")
        if member_id and member_id not in self.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        topics = sorted(set(topics))
        if not member_id:
            member_id = f"{client_id or 'member'}-{uuid.uuid4().hex[:12]}"
            self.members[member_id] = Member(member_id, client_id, host, topics, session_timeout_ms / 1000,
                                             rebalance_timeout_ms / 1000, now)
            self.strategy = strategy
            self._start_rebalance(now, initial_delay_s)
        else:
            member = self.members[member_id]
            member.last_seen = now
            if self.state == STABLE and member.topics == topics:
                return member_id, False  # a repeated join (its answer was lost): nothing changed
            if member.topics != topics:
                member.topics = topics
                self._start_rebalance(now, initial_delay_s)
            elif self.state == STABLE:
                self._start_rebalance(now, initial_delay_s)
        self.members[member_id].joined = True
        return member_id, True

    def _start_rebalance(self, now: float, initial_delay_s: float) -> None:
        if self.state == EMPTY or self.initial:
            # A new group: wait a little for members starting together, extended per joiner (capped).
            if not self.initial:
                self.initial, self.initial_started = True, now
            self.deadline = min(now + initial_delay_s, self.initial_started + INITIAL_DELAY_CAP_S)
        elif self.state == STABLE:
            # Everyone must rejoin (revoking and committing first) before anyone gets partitions.
            self.deadline = now + max(m.rebalance_timeout_s for m in self.members.values())
            for m in self.members.values():
                m.joined = False
        # PreparingRebalance already: the round in progress takes this member in too.
        self.state = PREPARING

    def request_rebalance(self, now: float) -> None:
        """Something outside changed (partitions of a subscribed topic): everyone rejoins."""
        if self.state == STABLE and self.members:
            self._start_rebalance(now, 0.0)

    def ready_to_complete(self, now: float) -> bool:
        if self.state != PREPARING:
            return False
        if self.initial:
            return now >= self.deadline
        return now >= self.deadline or all(m.joined for m in self.members.values())

    def complete(self, assignment: dict[str, list[tuple[str, int]]], partitions: dict[str, int],
                 generation: int) -> None:
        """Finish the round with its (already recorded) generation and the assignment."""
        self.generation = generation
        self.assignment = assignment
        self.subscribed_partitions = partitions
        self.state = STABLE if self.members else EMPTY
        self.initial = False

    def drop_absent(self) -> list[str]:
        """Remove members that did not rejoin this round; returns their ids."""
        gone = [mid for mid, m in self.members.items() if not m.joined]
        for mid in gone:
            del self.members[mid]
            self.assignment.pop(mid, None)
        return gone

    def heartbeat(self, member_id: str, generation: int, now: float) -> None:
        member = self.members.get(member_id)
        if member is None:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        member.last_seen = now
        if self.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {self.group_id!r} is rebalancing: rejoin")
        if generation != self.generation:
            raise errors.IllegalGeneration(f"generation {generation} is not the group's {self.generation}")

    def leave(self, member_id: str, now: float) -> None:
        if self.members.pop(member_id, None) is None:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        self.assignment.pop(member_id, None)
        self._after_departure(now)

    def expire(self, now: float) -> list[str]:
        """Remove members silent for longer than their session timeout; returns their ids."""
        gone = [mid for mid, m in self.members.items() if now - m.last_seen > m.session_timeout_s]
        for mid in gone:
            del self.members[mid]
            self.assignment.pop(mid, None)
        if gone:
            self._after_departure(now)
        return gone

    def _after_departure(self, now: float) -> None:
        if not self.members:
            self.state, self.initial = EMPTY, False
            self.assignment = {}
        elif self.state == STABLE:
            self._start_rebalance(now, 0.0)

    def check_commit(self, member_id: str, generation: int) -> None:
        """Whether a commit may go to the metadata group (which checks the generation again)."""
        if member_id == "" and generation == -1:
            if self.members:
                raise errors.NonEmptyGroup(f"group {self.group_id!r} has active members")
            return
        if member_id not in self.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        if generation != self.generation:
            raise errors.IllegalGeneration(f"generation {generation} is not the group's {self.generation}")

    def subscriptions(self) -> dict[str, list[str]]:
        return {mid: m.topics for mid, m in self.members.items()}
