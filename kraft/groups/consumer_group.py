"""A KIP-848 consumer-protocol group (ConsumerGroupHeartbeat): members, epochs, the target
assignment and each member's reconciliation toward it. Not the classic protocol's "consumer"
embedded bytes (that is kraft.groups.consumer_protocol) nor its join/sync rounds
(kraft.groups.membership).

Owns: the group epoch (bumped when a member joins, leaves, times out, or changes its subscription or
assignor, and when a subscribed topic's partition count changes), the target assignment computed by
a server assignor (kraft.groups.assignors.SERVER_ASSIGNORS) at each new group epoch, and per member:
its member epoch, the partitions it may use now (``assigned``), the ones it must give up
(``revoking``), and its state, which changes only through ``MEMBER_TRANSITIONS``. Time comes in as
``now`` (seconds), topic metadata as a ``{topic: partition count}`` mapping, member ids from the
caller. Must not: do I/O, read a clock, draw randomness, or wait; the coordinator
(kraft.groups.coordinator) makes the group epoch durable through the metadata group before it
answers with it.

Reconciliation, as Kafka's ``CurrentAssignmentBuilder``: a member moves to the target epoch only by
its own heartbeat. If the target takes partitions away from it, it first keeps the rest, at its old
epoch, and is told to revoke (``UnrevokedPartitions``) until a heartbeat reports it no longer owns
them. Then it moves to the target epoch and gets the target partitions no other member still holds
(assigned or revoking); those others arrive on a later heartbeat (``UnreleasedPartitions``). So a
partition is never held by two members at once.

``MEMBER_TRANSITIONS``, a member's state after each step (S Stable, V UnrevokedPartitions,
R UnreleasedPartitions, L left (a static member gone with epoch -2, its place kept); ``-`` illegal):

  step            S  V  R  L
  revoke          V  V  V  -   the target takes partitions it holds (in V: after it acked the last)
  converge        S  S  S  -   it holds its whole target, at the target epoch
  await-release   R  R  R  -   at the target epoch, but others still hold some of its target
  leave-static    L  L  L  -   a static member leaves with epoch -2: its partitions wait for it
  return          -  -  -  S   its instance id joins again (under a new member id) and takes them

Errors, as Kafka's: an unknown member UNKNOWN_MEMBER_ID; an epoch the member does not hold
FENCED_MEMBER_EPOCH (it rejoins with epoch 0); a live static member's instance id joining again
UNRELEASED_INSTANCE_ID; a request naming another member's instance id FENCED_INSTANCE_ID; an unknown
assignor UNSUPPORTED_ASSIGNOR; malformed requests INVALID_REQUEST.
The group's state is derived, with Kafka's names: Empty (no members), Assigning (the group epoch is
ahead of the target's; never seen here, the target is computed in the same step), Reconciling (some
member is not Stable at the target epoch), Stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kraft import errors
from kraft.groups.assignors import DEFAULT_SERVER_ASSIGNOR, SERVER_ASSIGNORS
from kraft.groups.topic_regex import TopicRegex, compile_regex

TopicPartition = tuple[str, int]
Partitions = frozenset[TopicPartition]
NONE: Partitions = frozenset()

JOIN_EPOCH = 0  # a member epoch of 0 joins (or rejoins after being fenced)
LEAVE_EPOCH = -1  # leaves the group
LEAVE_STATIC_EPOCH = -2  # a static member leaves for now and will come back with its instance id


class GroupState(StrEnum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"


class MemberState(StrEnum):
    STABLE = "Stable"
    UNREVOKED = "UnrevokedPartitions"
    UNRELEASED = "UnreleasedPartitions"
    LEFT = "Left"


class Step(StrEnum):
    REVOKE = "revoke"
    CONVERGE = "converge"
    AWAIT_RELEASE = "await-release"
    LEAVE_STATIC = "leave-static"
    RETURN = "return"


_S, _V, _R, _L = MemberState.STABLE, MemberState.UNREVOKED, MemberState.UNRELEASED, MemberState.LEFT
MEMBER_TRANSITIONS: dict[tuple[MemberState, Step], MemberState] = {
    **{(s, Step.REVOKE): _V for s in (_S, _V, _R)},
    **{(s, Step.CONVERGE): _S for s in (_S, _V, _R)},
    **{(s, Step.AWAIT_RELEASE): _R for s in (_S, _V, _R)},
    **{(s, Step.LEAVE_STATIC): _L for s in (_S, _V, _R)},
    (_L, Step.RETURN): _S,
}


class IllegalStep(RuntimeError):
    """The group asked a member for a step its table does not have: a bug here, not the client's."""


def next_member_state(state: MemberState, step: Step) -> MemberState:
    try:
        return MEMBER_TRANSITIONS[state, step]
    except KeyError:
        raise IllegalStep(f"member step {step.value!r} is illegal in state {state.value}") from None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One ConsumerGroupHeartbeat, as the coordinator hands it over. ``None`` fields did not change
    since the member's last heartbeat (Kafka's convention); a join (epoch 0) must send them."""

    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    topics: tuple[str, ...] | None = None
    # SubscribedTopicRegex (v1): None unchanged, "" none, else an RE2 regex over whole topic names
    regex: str | None = None
    assignor: str | None = None
    owned: Partitions | None = None
    client_id: str = ""
    host: str = ""

    def __post_init__(self) -> None:
        if not self.member_id:
            raise errors.InvalidRequest("MemberId can't be empty")
        if self.member_epoch < LEAVE_STATIC_EPOCH:
            raise errors.InvalidRequest(f"MemberEpoch {self.member_epoch} is invalid")
        if self.member_epoch == LEAVE_STATIC_EPOCH and not self.instance_id:
            raise errors.InvalidRequest("a static member leaving with epoch -2 must send its InstanceId")
        if self.member_epoch == JOIN_EPOCH:
            if self.rebalance_timeout_ms < 0:
                raise errors.InvalidRequest("RebalanceTimeoutMs must be provided in the first request")
            if self.topics is None and self.regex is None:
                raise errors.InvalidRequest(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in the first request")
            if self.owned:
                raise errors.InvalidRequest("TopicPartitions must be empty when (re-)joining")
        if self.regex:
            compile_regex(self.regex)  # INVALID_REGULAR_EXPRESSION before anything changes
        if self.assignor is not None and self.assignor not in SERVER_ASSIGNORS:
            raise errors.UnsupportedAssignor(
                f"server assignor {self.assignor!r} is not one of {sorted(SERVER_ASSIGNORS)}")


@dataclass(frozen=True, slots=True)
class Answer:
    """What the member is told: its id and epoch, and its assignment when it changed (else None)."""

    member_id: str
    member_epoch: int
    assignment: Partitions | None


@dataclass
class Member:
    member_id: str
    instance_id: str | None
    client_id: str
    host: str
    rack_id: str | None
    topics: tuple[str, ...]
    assignor: str | None
    rebalance_timeout_s: float
    last_seen: float
    epoch: int = 0
    previous_epoch: int = -1
    assigned: Partitions = NONE  # may be used now
    revoking: Partitions = NONE  # must be given up before anyone else gets them
    revoke_deadline: float = 0.0  # UnrevokedPartitions: fenced if still holding them after this
    state: MemberState = MemberState.STABLE
    regex: TopicRegex | None = None  # topics whose whole name it matches are subscribed too

    def step(self, step: Step) -> None:
        self.state = next_member_state(self.state, step)

    def subscribed(self, topics: Mapping[str, int]) -> tuple[str, ...]:
        """Its topic names and the existing topics its regex selects."""
        if self.regex is None:
            return self.topics
        return tuple(sorted(set(self.topics) | set(self.regex.select(topics))))


@dataclass
class ConsumerGroup:
    group_id: str
    epoch: int = 0  # the group epoch (a new coordinator starts at the replicated one)
    session_timeout_s: float = 45.0
    members: dict[str, Member] = field(default_factory=dict)
    target: dict[str, Partitions] = field(default_factory=dict)
    assignment_epoch: int = 0
    assignor: str = DEFAULT_SERVER_ASSIGNOR
    subscribed_partitions: dict[str, int] = field(default_factory=dict)  # what the target was computed from
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id

    def __post_init__(self) -> None:
        # A group restored at a replicated epoch has the (empty) target of that epoch.
        self.assignment_epoch = max(self.assignment_epoch, self.epoch)

    @property
    def state(self) -> GroupState:
        if not self.members:
            return GroupState.EMPTY
        if self.assignment_epoch < self.epoch:
            return GroupState.ASSIGNING
        live = [m for m in self.members.values() if m.state != MemberState.LEFT]
        if all(m.state == MemberState.STABLE and m.epoch == self.assignment_epoch for m in live):
            return GroupState.STABLE
        return GroupState.RECONCILING

    # --- requests ------------------------------------------------------------------------------
    def heartbeat(self, hb: Heartbeat, now: float, topics: Mapping[str, int]) -> Answer:
        """Apply one heartbeat; ``topics`` is every topic's partition count."""
        if hb.member_epoch == LEAVE_EPOCH or hb.member_epoch == LEAVE_STATIC_EPOCH:
            return self._leave(hb, now, topics)
        if hb.member_epoch == JOIN_EPOCH:
            member, changed = self._join(hb, now)
        else:
            member = self._existing(hb)
            changed = self._update(member, hb)
        member.last_seen = now
        if changed or self._metadata_changed(topics):
            self._bump(topics)
        before = (member.epoch, member.assigned)
        self._reconcile(member, hb.owned, now)
        # Also when the member's view is not the group's: an answer that moved it on was lost (it
        # sends an older epoch, or reports owning something else), so it must hear it again.
        send = (hb.member_epoch == JOIN_EPOCH or (member.epoch, member.assigned) != before
                or hb.member_epoch != member.epoch or (hb.owned is not None and hb.owned != member.assigned))
        return Answer(member.member_id, member.epoch, member.assigned if send else None)

    def _join(self, hb: Heartbeat, now: float) -> tuple[Member, bool]:
        if hb.instance_id:
            holder = self.static_members.get(hb.instance_id)
            if holder is not None and holder != hb.member_id:
                old = self.members[holder]
                if old.state != MemberState.LEFT:
                    raise errors.UnreleasedInstanceId(
                        f"instance {hb.instance_id!r} of group {self.group_id!r} is still held by member {holder!r}")
                return self._return_static(old, hb, now)
        member = self.members.get(hb.member_id)
        if member is not None:
            # A known member joining again lost its partitions (it was fenced, or its answer was
            # lost): it holds nothing now, so what it held is free and its target comes back at once.
            if member.instance_id and member.instance_id != hb.instance_id:
                raise errors.FencedInstanceId(f"member {hb.member_id!r} is instance {member.instance_id!r}")
            member.epoch, member.previous_epoch = 0, -1
            member.assigned = member.revoking = NONE
            if member.state == MemberState.LEFT:
                member.step(Step.RETURN)
            else:
                member.state = MemberState.STABLE
            return member, self._update(member, hb)
        member = Member(hb.member_id, hb.instance_id or None, hb.client_id, hb.host, hb.rack_id,
                        tuple(sorted(set(hb.topics or ()))), hb.assignor, hb.rebalance_timeout_ms / 1000, now,
                        regex=compile_regex(hb.regex) if hb.regex else None)
        self.members[member.member_id] = member
        if hb.instance_id:
            self.static_members[hb.instance_id] = member.member_id
        return member, True

    def _return_static(self, old: Member, hb: Heartbeat, now: float) -> tuple[Member, bool]:
        """A static member back under a new member id takes its former self's place and partitions;
        the group epoch moves only if its subscription or assignor changed."""
        former = old.member_id
        del self.members[former]
        old.member_id, old.client_id, old.host, old.last_seen = hb.member_id, hb.client_id, hb.host, now
        old.step(Step.RETURN)  # at its former epoch: what it held is its own, as when it left
        old.revoking = NONE  # the process that was to revoke them is gone
        self.members[hb.member_id] = old
        if hb.instance_id:
            self.static_members[hb.instance_id] = hb.member_id
        self.target[hb.member_id] = self.target.pop(former, NONE)
        return old, self._update(old, hb)

    def _existing(self, hb: Heartbeat) -> Member:
        member = self.members.get(hb.member_id)
        if member is None or member.state == MemberState.LEFT:
            raise errors.UnknownMemberId(f"member {hb.member_id!r} is not in group {self.group_id!r}")
        if hb.instance_id and self.static_members.get(hb.instance_id) != hb.member_id:
            raise errors.FencedInstanceId(f"instance {hb.instance_id!r} is not member {hb.member_id!r}")
        if hb.member_epoch == member.epoch:
            return member
        # Kafka's one exception: the answer that moved the member on was lost, so it still sends
        # the previous epoch; fine as long as it owns nothing it was not given.
        if (hb.member_epoch == member.previous_epoch and hb.owned is not None
                and hb.owned <= member.assigned | member.revoking):
            return member
        raise errors.FencedMemberEpoch(
            f"member {hb.member_id!r} sent epoch {hb.member_epoch}; its epoch is {member.epoch}")

    def _update(self, member: Member, hb: Heartbeat) -> bool:
        """Take the heartbeat's changed fields; whether the target must be computed again."""
        changed = False
        if hb.topics is not None:
            topics = tuple(sorted(set(hb.topics)))
            changed |= topics != member.topics
            member.topics = topics
        if hb.regex is not None:
            regex = compile_regex(hb.regex) if hb.regex else None
            changed |= regex is not member.regex and (regex is None or member.regex is None
                                                       or regex.pattern != member.regex.pattern)
            member.regex = regex
        if hb.assignor is not None:
            changed |= hb.assignor != member.assignor
            member.assignor = hb.assignor
        if hb.rebalance_timeout_ms >= 0:
            member.rebalance_timeout_s = hb.rebalance_timeout_ms / 1000
        if hb.rack_id is not None:
            member.rack_id = hb.rack_id
        return changed

    def _leave(self, hb: Heartbeat, now: float, topics: Mapping[str, int]) -> Answer:
        member_id = hb.member_id
        if hb.instance_id:
            holder = self.static_members.get(hb.instance_id)
            if holder is None:
                raise errors.UnknownMemberId(f"instance {hb.instance_id!r} is not in group {self.group_id!r}")
            if holder != member_id:
                raise errors.FencedInstanceId(f"instance {hb.instance_id!r} is member {holder!r}, not {member_id!r}")
        member = self.members.get(member_id)
        if member is None:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        if hb.member_epoch == LEAVE_STATIC_EPOCH:
            # Its partitions stay its own (nobody else gets them) until it returns or its session ends.
            if member.state != MemberState.LEFT:
                member.step(Step.LEAVE_STATIC)
            member.last_seen = now
            return Answer(member_id, LEAVE_STATIC_EPOCH, None)
        self.remove([member_id], topics)
        return Answer(member_id, LEAVE_EPOCH, None)

    # --- time and metadata ------------------------------------------------------------------------
    def expire(self, now: float, topics: Mapping[str, int]) -> list[str]:
        """Remove members silent for the session timeout, or still holding partitions they were told
        to revoke after their rebalance timeout; returns their ids."""
        gone = [mid for mid, m in self.members.items()
                if now - m.last_seen > self.session_timeout_s
                or (m.state == MemberState.UNREVOKED and now > m.revoke_deadline)]
        if gone:
            self.remove(gone, topics)
        return gone

    def refresh(self, topics: Mapping[str, int]) -> bool:
        """A new target if a subscribed topic appeared, vanished or grew; whether the epoch moved."""
        if self.members and self._metadata_changed(topics):
            self._bump(topics)
            return True
        return False

    def remove(self, gone: list[str], topics: Mapping[str, int]) -> None:
        for mid in gone:
            member = self.members.pop(mid)
            self.target.pop(mid, None)
            if member.instance_id and self.static_members.get(member.instance_id) == mid:
                del self.static_members[member.instance_id]
        self._bump(topics)

    # --- offsets ----------------------------------------------------------------------------------
    def check_commit(self, member_id: str, member_epoch: int) -> None:
        """A commit from a member must carry the epoch it holds (Kafka's OffsetCommit v9 check); an
        empty member id with epoch -1 is an administrative commit, allowed only with no members."""
        if not member_id and member_epoch < 0:
            if self.members:
                raise errors.UnknownMemberId(f"group {self.group_id!r} has active members")
            return
        member = self.members.get(member_id)
        if member is None or member.state == MemberState.LEFT:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id!r}")
        if member_epoch > member.epoch:
            raise errors.FencedMemberEpoch(f"epoch {member_epoch} is ahead of the member's {member.epoch}")
        if member_epoch < member.epoch:
            raise errors.StaleMemberEpoch(f"epoch {member_epoch} is behind the member's {member.epoch}")

    # --- the target and reconciliation --------------------------------------------------------
    def _subscribed(self, topics: Mapping[str, int]) -> dict[str, int]:
        wanted = {t for m in self.members.values() for t in m.subscribed(topics)}
        return {t: topics[t] for t in sorted(wanted) if topics.get(t, 0) > 0}

    def _metadata_changed(self, topics: Mapping[str, int]) -> bool:
        return self._subscribed(topics) != self.subscribed_partitions

    def _preferred_assignor(self) -> str:
        """The assignor most members name (ties: by name), else the default (Kafka's rule)."""
        votes: dict[str, int] = {}
        for m in self.members.values():
            if m.assignor:
                votes[m.assignor] = votes.get(m.assignor, 0) + 1
        return min(votes, key=lambda name: (-votes[name], name)) if votes else DEFAULT_SERVER_ASSIGNOR

    def _bump(self, topics: Mapping[str, int]) -> None:
        """A new group epoch and the target for it."""
        self.epoch += 1
        self.assignor = self._preferred_assignor()
        self.subscribed_partitions = self._subscribed(topics)
        subscriptions = {mid: m.subscribed(topics) for mid, m in self.members.items()}
        previous = {mid: sorted(m.assigned | m.revoking) for mid, m in self.members.items()}
        result = SERVER_ASSIGNORS[self.assignor](subscriptions, self.subscribed_partitions, previous)
        self.target = {mid: frozenset(tps) for mid, tps in result.items()}
        self.assignment_epoch = self.epoch

    def _held_by_others(self, member_id: str) -> Partitions:
        return frozenset(tp for mid, m in self.members.items() if mid != member_id for tp in m.assigned | m.revoking)

    def _reconcile(self, member: Member, owned: Partitions | None, now: float) -> None:
        """Move ``member`` toward its target as far as is safe (see the module docstring)."""
        if member.state == MemberState.UNREVOKED:
            if owned is None or owned & member.revoking:
                return  # still holds what it must give up
            member.revoking = NONE
        target = self.target.get(member.member_id, NONE)
        if member.state == MemberState.STABLE and member.epoch == self.assignment_epoch and member.assigned == target:
            return
        keep = member.assigned & target
        revoke = member.assigned - target
        if revoke:
            member.assigned, member.revoking = keep, revoke
            member.revoke_deadline = now + member.rebalance_timeout_s
            member.step(Step.REVOKE)
            return
        wanted = target - keep
        free = wanted - self._held_by_others(member.member_id)
        member.assigned = keep | free
        if member.epoch != self.assignment_epoch:
            member.previous_epoch, member.epoch = member.epoch, self.assignment_epoch
        member.step(Step.CONVERGE if free == wanted else Step.AWAIT_RELEASE)
