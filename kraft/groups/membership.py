"""Consumer group membership: the rebalance state machine of one group (join, heartbeat, leave).

Owns: members, their subscriptions and liveness, the generation, and when a rebalance completes.
Time is passed in (``now``, seconds) and nothing here does I/O: the coordinator wraps it with
asyncio futures for waiting joins, timers, and the metadata group that makes generations durable.

States, as Kafka's coordinator: ``Empty`` (no members), ``PreparingRebalance`` (waiting for every
member to rejoin, or for the deadline), ``CompletingRebalance`` (Kafka-protocol groups only: the new
generation exists and the coordinator waits for the leader's SyncGroup with everyone's assignment),
``Stable`` (everyone has the current generation's assignment).

Two kinds of group, never mixed: native kraft groups name a server-side ``strategy`` and the
coordinator assigns; Kafka-protocol groups (``protocol_type``, e.g. "consumer") send named protocols
with opaque metadata, and the elected leader member assigns, as in Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kraft import errors

EMPTY = "Empty"
PREPARING = "PreparingRebalance"
AWAITING_SYNC = "CompletingRebalance"
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
    protocols: list[tuple[str, bytes]] | None = None  # Kafka-protocol members: (name, metadata) by preference


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
    protocol_type: str = ""  # "" for a native group; Kafka's protocol type (e.g. "consumer") otherwise
    protocol: str = ""  # Kafka-protocol groups: the protocol chosen for the current generation
    leader: str = ""  # Kafka-protocol groups: the member that computes the assignment
    member_assignments: dict[str, bytes] = field(default_factory=dict)  # Kafka-protocol groups: opaque

    # --- transitions ------------------------------------------------------------------------------
    def join(self, member_id: str, client_id: str, host: str, topics: list[str], session_timeout_ms: int,
             rebalance_timeout_ms: int, strategy: str, now: float, initial_delay_s: float,
             protocol_type: str = "", protocols: list[tuple[str, bytes]] | None = None) -> tuple[str, bool]:
        """Register a join; returns (member id, whether the member must wait for a rebalance).
        Kafka-protocol members pass ``protocol_type`` and ``protocols`` (and strategy "")."""
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise errors.InvalidSessionTimeout(
                f"session_timeout_ms must be {MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS}")
        if self.members and protocol_type != self.protocol_type:
            raise errors.InconsistentGroupProtocol(
                f"group {self.group_id!r} has {self.protocol_type or 'native kraft'} members; this member speaks "
                f"{protocol_type or 'native kraft'}")
        if protocols is not None:
            others = [m for mid, m in self.members.items() if mid != member_id]
            if not protocols or not self._common_protocols([*(m.protocols or [] for m in others), protocols]):
                raise errors.InconsistentGroupProtocol(
                    f"group {self.group_id!r}: no protocol that every member supports "
                    f"(this member offers {[name for name, _ in protocols]})")
        elif self.members and strategy != self.strategy:
            raise errors.InconsistentGroupProtocol(
                f"group {self.group_id!r} uses {self.strategy!r}, this member asks for {strategy!r}")
        if member_id and member_id not in self.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        topics = sorted(set(topics))
        if not member_id:
            member_id = f"{client_id or 'member'}-{uuid.uuid4().hex[:12]}"
            self.members[member_id] = Member(member_id, client_id, host, topics, session_timeout_ms / 1000,
                                             rebalance_timeout_ms / 1000, now, protocols=protocols)
            self.strategy, self.protocol_type = strategy, protocol_type
            self._start_rebalance(now, initial_delay_s)
        else:
            member = self.members[member_id]
            member.last_seen = now
            same = member.topics == topics and member.protocols == protocols
            # Kafka's rule: the leader member of a Stable Kafka-protocol group rejoins to have the
            # group reassigned (it saw the metadata change), so that rejoin starts a round.
            forced = bool(self.protocol_type) and self.state == STABLE and member_id == self.leader
            if self.state in (STABLE, AWAITING_SYNC) and same and not forced:
                return member_id, False  # a repeated join (its answer was lost): nothing changed
            member.topics, member.protocols = topics, protocols
            if not same or self.state in (STABLE, AWAITING_SYNC):
                self._start_rebalance(now, initial_delay_s)
        self.members[member_id].joined = True
        return member_id, True

    def _start_rebalance(self, now: float, initial_delay_s: float) -> None:
        if self.state == EMPTY or self.initial:
            # A new group: wait a little for members starting together, extended per joiner (capped).
            if not self.initial:
                self.initial, self.initial_started = True, now
            self.deadline = min(now + initial_delay_s, self.initial_started + INITIAL_DELAY_CAP_S)
        elif self.state in (STABLE, AWAITING_SYNC):
            # Everyone must rejoin (revoking and committing first) before anyone gets partitions.
            self.deadline = now + max(m.rebalance_timeout_s for m in self.members.values())
            for m in self.members.values():
                m.joined = False
        # PreparingRebalance already: the round in progress takes this member in too.
        self.state = PREPARING

    def request_rebalance(self, now: float) -> None:
        """Something outside changed (partitions of a subscribed topic): everyone rejoins."""
        if self.state in (STABLE, AWAITING_SYNC) and self.members:
            self._start_rebalance(now, 0.0)

    def ready_to_complete(self, now: float) -> bool:
        if self.state != PREPARING:
            return False
        if self.initial:
            return now >= self.deadline
        return now >= self.deadline or all(m.joined for m in self.members.values())

    def complete(self, assignment: dict[str, list[tuple[str, int]]], partitions: dict[str, int],
                 generation: int) -> None:
        """Finish the round with its (already recorded) generation and the assignment. A Kafka-protocol
        group gets a protocol and a leader instead, and waits for the leader's assignment."""
        self.generation = generation
        self.assignment = assignment
        self.subscribed_partitions = partitions
        self.initial = False
        self.member_assignments = {}
        if not self.members:
            self.state = EMPTY
        elif self.protocol_type:
            self.protocol = self._choose_protocol()
            if self.leader not in self.members:
                self.leader = next(iter(self.members))
            self.state = AWAITING_SYNC
        else:
            self.state = STABLE

    def set_assignments(self, member_id: str, generation: int, assignments: dict[str, bytes]) -> bool:
        """The leader's SyncGroup: everyone's assignment; True if this completed the round. Another
        member's SyncGroup (or the leader's, repeated) changes nothing."""
        self._check_member(member_id, generation)
        if self.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {self.group_id!r} is rebalancing: rejoin")
        if self.state != AWAITING_SYNC or member_id != self.leader:
            return False
        self.member_assignments = {mid: assignments.get(mid, b"") for mid in self.members}
        self.state = STABLE
        return True

    def metadata_of(self, member: Member) -> bytes:
        """A Kafka-protocol member's metadata for the chosen protocol."""
        return next((meta for name, meta in member.protocols or [] if name == self.protocol), b"")

    @staticmethod
    def _common_protocols(offers: list[list[tuple[str, bytes]]]) -> set[str]:
        names = [{name for name, _ in offer} for offer in offers]
        return set.intersection(*names) if names else set()

    def _choose_protocol(self) -> str:
        """Kafka's rule: every member votes for its most preferred protocol that all members support."""
        common = self._common_protocols([m.protocols or [] for m in self.members.values()])
        votes: dict[str, int] = {}
        for m in self.members.values():
            choice = next((name for name, _ in m.protocols or [] if name in common), None)
            if choice is not None:
                votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=lambda name: votes[name]) if votes else ""

    def _check_member(self, member_id: str, generation: int) -> None:
        if member_id not in self.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        if generation != self.generation and self.state != PREPARING:
            raise errors.IllegalGeneration(f"generation {generation} is not the group's {self.generation}")

    def drop_absent(self) -> list[str]:
        """Remove members that did not rejoin this round; returns their ids."""
        gone = [mid for mid, m in self.members.items() if not m.joined]
        for mid in gone:
            del self.members[mid]
            self.assignment.pop(mid, None)
            self.member_assignments.pop(mid, None)
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
        self.member_assignments.pop(member_id, None)
        self._after_departure(now)

    def expire(self, now: float) -> list[str]:
        """Remove members silent for longer than their session timeout; returns their ids."""
        gone = [mid for mid, m in self.members.items() if now - m.last_seen > m.session_timeout_s]
        for mid in gone:
            del self.members[mid]
            self.assignment.pop(mid, None)
            self.member_assignments.pop(mid, None)
        if gone:
            self._after_departure(now)
        return gone

    def _after_departure(self, now: float) -> None:
        if not self.members:
            self.state, self.initial = EMPTY, False
            self.assignment, self.member_assignments = {}, {}
        elif self.state in (STABLE, AWAITING_SYNC):
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
