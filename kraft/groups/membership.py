"""Consumer group membership: the rebalance state machine of one group (join, heartbeat, leave).

Owns: members, their subscriptions and liveness, the generation, when a rebalance completes, and
the group's state, which changes only through ``TRANSITIONS`` (in ``Group._transition``). Time is
passed in (``now``, seconds). Must not: do I/O, read a clock, or wait; the coordinator
(kraft.groups.coordinator) wraps it with asyncio futures for waiting joins, timers, and the metadata
group that makes generations durable, and changes a group only by calling its methods.

States, as Kafka's coordinator: ``Empty`` (no members), ``PreparingRebalance`` (waiting for every
member to rejoin, or for the deadline), ``CompletingRebalance`` (Kafka-protocol groups only: the new
generation exists and the coordinator waits for the leader's SyncGroup with everyone's assignment),
``Stable`` (everyone has the current generation's assignment). A group starts Empty, at generation 0
or at the generation the metadata group replicated (a new coordinator continues above it).

``TRANSITIONS``, the state after each event (E Empty, P PreparingRebalance, C CompletingRebalance,
S Stable; ``-`` is illegal: ``IllegalTransition``, a bug on the coordinator's side, since a client's
illegal request is refused with a ``KraftError`` before it gets here):

  event            E  P  C  S
  join             P  P  P  P   a new member, a changed subscription, or the Kafka leader rejoining
                                a Stable group (starts a round, or joins the one in progress)
  rejoin           -  P  C  S   a member's unchanged join: takes its place in the round; in C or S a
                                repeat whose answer was lost
  topics-changed   E  P  P  P   a subscribed topic appeared, vanished or grew
  leave            -  P  P  P   a member leaves or its session expires; others remain
  last-leave       -  E  E  E   the last member leaves or expires
  drop-absent      -  P  -  -   the round ends: members that did not rejoin are dropped
  round-empty      -  E  -  -   ... nobody rejoined
  complete         -  S  -  -   a native group gets the coordinator's assignment
  elect-leader     -  C  -  -   a Kafka-protocol group gets a leader, which must assign
  leader-sync      -  -  S  S   the leader's SyncGroup (repeated in S: nothing changes)
  burn-generation  E  P  -  -   the round's generation was recorded but the round was overtaken

Invariants (checked by tests/unit/test_group_transitions.py after every step of random sequences):
a group has members exactly when it is not Empty; the generation never decreases; every member of a
Stable group has an assignment.

Static members (KIP-345) join with a ``group.instance.id``: a member that restarts and joins again
with the same instance id (and no member id) takes the place of its former self, under a new member
id, with its assignment; a Stable group does not rebalance for it unless its subscription changed.
The former member id is fenced (``FENCED_INSTANCE_ID``). Like any member, a static member that stays
silent for its session timeout is removed. The instance ids live with the members, in memory: a new
coordinator starts without them, and its members rejoin as after any coordinator change.

Two kinds of group, never mixed: native kraft groups name a server-side ``strategy`` and the
coordinator assigns; Kafka-protocol groups (``protocol_type``, e.g. "consumer") send named protocols
with opaque metadata, and the elected leader member assigns, as in Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from kraft import errors


class State(StrEnum):
    """A group's state; the value is what DescribeGroups reports (Kafka's names)."""

    EMPTY = "Empty"
    PREPARING = "PreparingRebalance"
    AWAITING_SYNC = "CompletingRebalance"
    STABLE = "Stable"


EMPTY, PREPARING, AWAITING_SYNC, STABLE = State.EMPTY, State.PREPARING, State.AWAITING_SYNC, State.STABLE


class Event(StrEnum):
    """What happens to a group (see the table in the module docstring)."""

    JOIN = "join"
    REJOIN = "rejoin"
    TOPICS_CHANGED = "topics-changed"
    LEAVE = "leave"
    LAST_LEAVE = "last-leave"
    DROP_ABSENT = "drop-absent"
    ROUND_EMPTY = "round-empty"
    COMPLETE = "complete"
    ELECT_LEADER = "elect-leader"
    LEADER_SYNC = "leader-sync"
    BURN_GENERATION = "burn-generation"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (EMPTY, Event.JOIN): PREPARING,
    (PREPARING, Event.JOIN): PREPARING,
    (AWAITING_SYNC, Event.JOIN): PREPARING,
    (STABLE, Event.JOIN): PREPARING,

    (PREPARING, Event.REJOIN): PREPARING,
    (AWAITING_SYNC, Event.REJOIN): AWAITING_SYNC,
    (STABLE, Event.REJOIN): STABLE,

    (EMPTY, Event.TOPICS_CHANGED): EMPTY,
    (PREPARING, Event.TOPICS_CHANGED): PREPARING,
    (AWAITING_SYNC, Event.TOPICS_CHANGED): PREPARING,
    (STABLE, Event.TOPICS_CHANGED): PREPARING,

    (PREPARING, Event.LEAVE): PREPARING,
    (AWAITING_SYNC, Event.LEAVE): PREPARING,
    (STABLE, Event.LEAVE): PREPARING,

    (PREPARING, Event.LAST_LEAVE): EMPTY,
    (AWAITING_SYNC, Event.LAST_LEAVE): EMPTY,
    (STABLE, Event.LAST_LEAVE): EMPTY,

    (PREPARING, Event.DROP_ABSENT): PREPARING,
    (PREPARING, Event.ROUND_EMPTY): EMPTY,
    (PREPARING, Event.COMPLETE): STABLE,
    (PREPARING, Event.ELECT_LEADER): AWAITING_SYNC,

    (AWAITING_SYNC, Event.LEADER_SYNC): STABLE,
    (STABLE, Event.LEADER_SYNC): STABLE,

    (EMPTY, Event.BURN_GENERATION): EMPTY,
    (PREPARING, Event.BURN_GENERATION): PREPARING,
}


class IllegalTransition(RuntimeError):
    """The coordinator asked a group for something its state machine does not have: a bug on this
    side, not the client's (a client's illegal request is a ``KraftError`` with a wire code)."""


def next_state(state: State, event: Event) -> State:
    """The table's answer; a missing key is an illegal transition."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"group event {event.value!r} is illegal in state {state.value}") from None


def _require(condition: bool, message: str) -> None:
    """An invariant that stays on under ``python -O`` (unlike ``assert``)."""
    if not condition:
        raise IllegalTransition(message)


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
    instance_id: str | None = None  # static members: group.instance.id (KIP-345)


@dataclass
class Group:
    group_id: str
    generation: int = 0
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
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> its current member id
    # KIP-394: member ids handed out (MEMBER_ID_REQUIRED) and not yet joined with -> when they lapse
    pending: dict[str, float] = field(default_factory=dict)
    _state: State = field(default=EMPTY, init=False)

    @property
    def state(self) -> State:
        """Read-only: only ``_transition`` changes it."""
        return self._state

    def _transition(self, event: Event) -> State:
        """The one place the state changes, to the table's answer for (state, event). Returns the
        state before; callers apply their side effects after it, so a refused event changes nothing."""
        was = self._state
        self._state = next_state(was, event)
        return was

    # --- transitions ------------------------------------------------------------------------------
    def join(self, member_id: str, client_id: str, host: str, topics: list[str], session_timeout_ms: int,
             rebalance_timeout_ms: int, strategy: str, now: float, initial_delay_s: float,
             protocol_type: str = "", protocols: list[tuple[str, bytes]] | None = None,
             instance_id: str | None = None) -> tuple[str, bool]:
        """Register a join; returns (member id, whether the member must wait for a rebalance).
        Kafka-protocol members pass ``protocol_type`` and ``protocols`` (and strategy ""); static
        members their ``instance_id``."""
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise errors.InvalidSessionTimeout(
                f"session_timeout_ms must be {MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS}")
        if self.members and protocol_type != self.protocol_type:
            raise errors.InconsistentGroupProtocol(
                f"group {self.group_id!r} has {self.protocol_type or 'native kraft'} members; this member speaks "
                f"{protocol_type or 'native kraft'}")
        if member_id:
            self.check_instance(member_id, instance_id)
        replacing = self.static_members.get(instance_id) if instance_id and not member_id else None
        if protocols is not None:
            others = [m for mid, m in self.members.items() if mid not in (member_id, replacing)]
            if not protocols or not self._common_protocols([*(m.protocols or [] for m in others), protocols]):
                raise errors.InconsistentGroupProtocol(
                    f"group {self.group_id!r}: no protocol that every member supports "
                    f"(this member offers {[name for name, _ in protocols]})")
        elif self.members and strategy != self.strategy:
            raise errors.InconsistentGroupProtocol(
                f"group {self.group_id!r} uses {self.strategy!r}, this member asks for {strategy!r}")
        named = self.pending.pop(member_id, None) is not None  # a new member with the id it was given
        if member_id and member_id not in self.members and not named:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        topics = sorted(set(topics))
        if replacing is not None and instance_id:
            return self._replace_static(replacing, instance_id, client_id, host, topics, session_timeout_ms,
                                        rebalance_timeout_ms, protocols, now, initial_delay_s)
        if not member_id or named:
            member_id = member_id or self._new_member_id(client_id)
            self.members[member_id] = Member(member_id, client_id, host, topics, session_timeout_ms / 1000,
                                             rebalance_timeout_ms / 1000, now, protocols=protocols,
                                             instance_id=instance_id or None)
            if instance_id:
                self.static_members[instance_id] = member_id
            self.strategy, self.protocol_type = strategy, protocol_type
            self._joined_round(now, initial_delay_s)
        else:
            member = self.members[member_id]
            member.last_seen = now
            same = member.topics == topics and member.protocols == protocols
            # Kafka's rule: the leader member of a Stable Kafka-protocol group rejoins to have the
            # group reassigned (it saw the metadata change), so that rejoin starts a round.
            forced = bool(self.protocol_type) and self.state == STABLE and member_id == self.leader
            if same and not forced:
                if self._transition(Event.REJOIN) != PREPARING:
                    return member_id, False  # a repeated join (its answer was lost): nothing changed
            else:
                member.topics, member.protocols = topics, protocols
                self._joined_round(now, initial_delay_s)
        self.members[member_id].joined = True
        return member_id, True

    @staticmethod
    def _new_member_id(client_id: str) -> str:
        return f"{client_id or 'member'}-{uuid.uuid4().hex[:12]}"

    def add_pending(self, client_id: str, session_timeout_ms: int, now: float) -> str:
        """A member id for a new member to join with (KIP-394), kept for its session timeout; the group
        and its state do not change."""
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise errors.InvalidSessionTimeout(
                f"session_timeout_ms must be {MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS}")
        member_id = self._new_member_id(client_id)
        self.pending[member_id] = now + session_timeout_ms / 1000
        return member_id

    def _replace_static(self, old_id: str, instance_id: str, client_id: str, host: str, topics: list[str],
                        session_timeout_ms: int, rebalance_timeout_ms: int,
                        protocols: list[tuple[str, bytes]] | None, now: float,
                        initial_delay_s: float) -> tuple[str, bool]:
        """A static member joined again without its member id (it restarted): it takes its former
        self's place, assignment and leadership under a new member id. A Stable group goes on without
        a rebalance unless the subscription changed; in CompletingRebalance the leader may have
        assigned to the former id, so everyone rejoins (as Kafka)."""
        member = self.members.pop(old_id)
        new_id = self._new_member_id(client_id)
        same = member.topics == topics and member.protocols == protocols
        member.member_id, member.client_id, member.host, member.last_seen = new_id, client_id, host, now
        member.session_timeout_s, member.rebalance_timeout_s = session_timeout_ms / 1000, rebalance_timeout_ms / 1000
        member.topics, member.protocols = topics, protocols
        self.members[new_id] = member
        self.static_members[instance_id] = new_id
        if old_id in self.assignment:
            self.assignment[new_id] = self.assignment.pop(old_id)
        if old_id in self.member_assignments:
            self.member_assignments[new_id] = self.member_assignments.pop(old_id)
        if self.leader == old_id:
            self.leader = new_id
        if same and self.state in (STABLE, PREPARING):
            self._transition(Event.REJOIN)
            member.joined = True
            return new_id, self.state == PREPARING
        self._joined_round(now, initial_delay_s)
        member.joined = True
        return new_id, True

    def check_instance(self, member_id: str, instance_id: str | None) -> None:
        """A request naming a static member's instance id must come from its current member id."""
        current = self.static_members.get(instance_id) if instance_id else None
        if current is not None and current != member_id:
            raise errors.FencedInstanceId(
                f"instance {instance_id!r} of group {self.group_id!r} is now member {current!r}, not {member_id!r}")

    def _joined_round(self, now: float, initial_delay_s: float) -> None:
        was = self._transition(Event.JOIN)
        if was == EMPTY or self.initial:
            # A new group: wait a little for members starting together, extended per joiner (capped).
            if not self.initial:
                self.initial, self.initial_started = True, now
            self.deadline = min(now + initial_delay_s, self.initial_started + INITIAL_DELAY_CAP_S)
        else:
            # PreparingRebalance already: the round in progress takes this member in too.
            self._round_started(was, now)

    def _round_started(self, was: State, now: float) -> None:
        """Entered PreparingRebalance from ``was``: from Stable or CompletingRebalance everyone must
        rejoin (revoking and committing first) before anyone gets partitions."""
        if was in (STABLE, AWAITING_SYNC):
            self.deadline = now + max(m.rebalance_timeout_s for m in self.members.values())
            for m in self.members.values():
                m.joined = False

    def request_rebalance(self, now: float) -> None:
        """Something outside changed (partitions of a subscribed topic): everyone rejoins. A round in
        progress reads the topics when it completes; an Empty group has nobody to reassign."""
        self._round_started(self._transition(Event.TOPICS_CHANGED), now)

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
        _require(generation > self.generation,
                 f"group {self.group_id!r}: generation {generation} is not above {self.generation}")
        if not self.members:
            self._transition(Event.ROUND_EMPTY)
        else:
            self._transition(Event.ELECT_LEADER if self.protocol_type else Event.COMPLETE)
        self.generation = generation
        self.assignment = assignment
        self.subscribed_partitions = partitions
        self.initial = False
        self.member_assignments = {}
        if self.members and self.protocol_type:
            self.protocol = self._choose_protocol()
            if self.leader not in self.members:
                self.leader = next(iter(self.members))

    def burn_generation(self, generation: int) -> None:
        """The round's generation was recorded, but someone joined or left meanwhile: that generation
        is never reused, the next round goes above it."""
        _require(generation > self.generation,
                 f"group {self.group_id!r}: generation {generation} is not above {self.generation}")
        self._transition(Event.BURN_GENERATION)
        self.generation = generation

    def set_assignments(self, member_id: str, generation: int, assignments: dict[str, bytes],
                        instance_id: str | None = None) -> bool:
        """The leader's SyncGroup: everyone's assignment; True if this completed the round. Another
        member's SyncGroup (or the leader's, repeated) changes nothing."""
        self.check_instance(member_id, instance_id)
        self._check_member(member_id, generation)
        if self.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {self.group_id!r} is rebalancing: rejoin")
        if member_id != self.leader or self._transition(Event.LEADER_SYNC) != AWAITING_SYNC:
            return False
        self.member_assignments = {mid: assignments.get(mid, b"") for mid in self.members}
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
        """Remove members that did not rejoin this round; returns their ids. If nobody rejoined, the
        round ends here and the group is Empty."""
        gone = [mid for mid, m in self.members.items() if not m.joined]
        if gone:
            self._transition(Event.DROP_ABSENT if len(gone) < len(self.members) else Event.ROUND_EMPTY)
            self._forget(gone)
        return gone

    def heartbeat(self, member_id: str, generation: int, now: float, instance_id: str | None = None) -> None:
        self.check_instance(member_id, instance_id)
        member = self.members.get(member_id)
        if member is None:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        member.last_seen = now
        if self.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {self.group_id!r} is rebalancing: rejoin")
        if generation != self.generation:
            raise errors.IllegalGeneration(f"generation {generation} is not the group's {self.generation}")

    def leave(self, member_id: str, now: float, instance_id: str | None = None) -> str:
        """A member leaves; returns its id. A static member may be named by its instance id alone
        (LeaveGroup v3+, e.g. an operator removing it); naming it with another member id is fenced."""
        if instance_id:
            current = self.static_members.get(instance_id)
            if current is None:
                raise errors.UnknownMemberId(f"instance {instance_id!r} is not in group {self.group_id!r}")
            if member_id:
                self.check_instance(member_id, instance_id)
            member_id = current
        if member_id not in self.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        self._depart([member_id], now)
        return member_id

    def expire(self, now: float) -> list[str]:
        """Remove members silent for longer than their session timeout; returns their ids. Member ids
        handed out and not joined with within a session timeout lapse too (they were never members)."""
        for mid in [mid for mid, until in self.pending.items() if now > until]:
            del self.pending[mid]
        gone = [mid for mid, m in self.members.items() if now - m.last_seen > m.session_timeout_s]
        if gone:
            self._depart(gone, now)
        return gone

    def _depart(self, gone: list[str], now: float) -> None:
        was = self._transition(Event.LEAVE if len(gone) < len(self.members) else Event.LAST_LEAVE)
        self._forget(gone)
        if self.members:
            self._round_started(was, now)

    def _forget(self, gone: list[str]) -> None:
        for mid in gone:
            member = self.members.pop(mid)
            if member.instance_id and self.static_members.get(member.instance_id) == mid:
                del self.static_members[member.instance_id]
            self.assignment.pop(mid, None)
            self.member_assignments.pop(mid, None)
        if not self.members:
            self.initial = False
            self.assignment, self.member_assignments = {}, {}

    def check_commit(self, member_id: str, generation: int, instance_id: str | None = None) -> None:
        """Whether a commit may go to the metadata group (which checks the generation again)."""
        self.check_instance(member_id, instance_id)
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
