"""The KIP-848 consumer-protocol group (kraft.groups.consumer_group) against its table and Kafka's rules.

A table of reconciliation cases sets a member up in each state with a target and what others hold,
sends one heartbeat, and checks the member's state, partitions and epoch (every (state, step) of
``MEMBER_TRANSITIONS`` is covered, a test checks). A table of bad requests checks each is refused
with its error and leaves the group unchanged. Then random joins, heartbeats (well-behaved, with
lost answers, fenced), leaves, static leaves and returns, topics growing and time passing keep the
invariants after every step: no partition held by two members, every client's partitions held for
it by the group, the group epoch never going back, the target covering every subscribed partition
once; and a group whose members keep heartbeating settles to Stable with everyone on its target.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kraft import errors
from kraft.groups.consumer_group import (
    MEMBER_TRANSITIONS,
    NONE,
    Answer,
    ConsumerGroup,
    GroupState,
    Heartbeat,
    IllegalStep,
    Member,
    MemberState,
    Partitions,
    Step,
    next_member_state,
)

S, V, R, L = MemberState.STABLE, MemberState.UNREVOKED, MemberState.UNRELEASED, MemberState.LEFT
TOPICS = {"t": 4}


def tps(*ps: int) -> Partitions:
    return frozenset(("t", p) for p in ps)


def join(g: ConsumerGroup, mid: str, now: float = 0.0, topics: tuple[str, ...] = ("t",),
         instance: str | None = None, assignor: str | None = None,
         partitions: dict[str, int] | None = None) -> Answer:
    return g.heartbeat(Heartbeat(mid, 0, instance_id=instance, rebalance_timeout_ms=5000, topics=topics,
                                 assignor=assignor), now, partitions or TOPICS)


def beat(g: ConsumerGroup, mid: str, owned: Partitions | None, now: float = 0.0, epoch: int | None = None) -> Answer:
    e = g.members[mid].epoch if epoch is None else epoch
    return g.heartbeat(Heartbeat(mid, e, owned=owned), now, TOPICS)


# --- reconciliation, one heartbeat at a time --------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    state: MemberState
    assigned: Partitions
    revoking: Partitions
    target: Partitions
    others_hold: Partitions
    owned: Partitions | None
    expect_state: MemberState
    expect_assigned: Partitions
    expect_revoking: Partitions
    moves_epoch: bool
    step: Step | None  # the table's step this case exercises (None: no step, nothing to do)


CASES = [
    Case("stable, target shrinks: revoke first", S, tps(0, 1), NONE, tps(0), NONE, tps(0, 1),
         V, tps(0), tps(1), False, Step.REVOKE),
    Case("stable, target grows into free partitions", S, tps(0), NONE, tps(0, 1), NONE, tps(0),
         S, tps(0, 1), NONE, True, Step.CONVERGE),
    Case("stable, target grows into a held partition", S, tps(0), NONE, tps(0, 1), tps(1), tps(0),
         R, tps(0), NONE, True, Step.AWAIT_RELEASE),
    Case("unrevoked, still owns it", V, tps(0), tps(1), tps(0), NONE, tps(0, 1),
         V, tps(0), tps(1), False, None),
    Case("unrevoked, says nothing of what it owns", V, tps(0), tps(1), tps(0), NONE, None,
         V, tps(0), tps(1), False, None),
    Case("unrevoked, acked", V, tps(0), tps(1), tps(0), NONE, tps(0),
         S, tps(0), NONE, True, Step.CONVERGE),
    Case("unrevoked, acked, the target took more meanwhile", V, tps(0, 2), tps(1), tps(0), NONE, tps(0, 2),
         V, tps(0), tps(2), False, Step.REVOKE),
    Case("unrevoked, acked, the rest still held elsewhere", V, tps(0), tps(1), tps(0, 3), tps(3), tps(0),
         R, tps(0), NONE, True, Step.AWAIT_RELEASE),
    Case("unreleased, now released", R, tps(0), NONE, tps(0, 1), NONE, tps(0),
         S, tps(0, 1), NONE, True, Step.CONVERGE),
    Case("unreleased, still held", R, tps(0), NONE, tps(0, 1), tps(1), tps(0),
         R, tps(0), NONE, True, Step.AWAIT_RELEASE),
    Case("unreleased, target shrank", R, tps(0, 2), NONE, tps(0), NONE, tps(0, 2),
         V, tps(0), tps(2), False, Step.REVOKE),
]


def group_with(case: Case) -> ConsumerGroup:
    """Member ``m`` at epoch 4 in ``case.state``; ``o`` holds ``case.others_hold``; target epoch 5."""
    g = ConsumerGroup("g", epoch=5, assignment_epoch=5, subscribed_partitions=dict(TOPICS))
    m = Member("m", None, "c", "h", None, ("t",), None, 5.0, 0.0, epoch=4, previous_epoch=3,
               assigned=case.assigned, revoking=case.revoking, state=case.state)
    o = Member("o", None, "c", "h", None, ("t",), None, 5.0, 0.0, epoch=5, previous_epoch=4,
               assigned=case.others_hold)
    g.members = {"m": m, "o": o}
    g.target = {"m": case.target, "o": tps(*range(4)) - case.target}
    return g


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_one_heartbeat_moves_a_member_as_the_table_says(case: Case) -> None:
    g = group_with(case)
    answer = beat(g, "m", case.owned, now=1.0)
    m = g.members["m"]
    assert (m.state, m.assigned, m.revoking) == (case.expect_state, case.expect_assigned, case.expect_revoking)
    assert m.epoch == (5 if case.moves_epoch else 4)
    assert answer.member_epoch == m.epoch
    # sent when it changed, or when what the member reports owning is not what it was given
    changed = case.moves_epoch or m.assigned != case.assigned or (case.owned is not None and case.owned != m.assigned)
    assert answer.assignment == (m.assigned if changed else None)
    assert g.epoch == 5, "a heartbeat that changes nothing about the group keeps its epoch"
    if case.step is not None:
        assert next_member_state(case.state, case.step) == case.expect_state
    if m.state == V:
        assert m.revoke_deadline == 1.0 + 5.0 or case.state == V


def test_the_cases_and_the_static_tests_cover_every_transition() -> None:
    covered = {(c.state, c.step) for c in CASES if c.step is not None}
    covered |= {(s, Step.LEAVE_STATIC) for s in (S, V, R)} | {(L, Step.RETURN)}  # test_static_* below
    assert covered == set(MEMBER_TRANSITIONS)


@pytest.mark.parametrize("state", list(MemberState))
@pytest.mark.parametrize("step", list(Step))
def test_a_step_the_table_lacks_is_illegal(state: MemberState, step: Step) -> None:
    if (state, step) in MEMBER_TRANSITIONS:
        assert next_member_state(state, step) == MEMBER_TRANSITIONS[state, step]
    else:
        with pytest.raises(IllegalStep):
            next_member_state(state, step)


# --- refusals ------------------------------------------------------------------------------------------
def two_members() -> ConsumerGroup:
    g = ConsumerGroup("g")
    join(g, "a", instance="ia")
    join(g, "b")
    return g


BAD: list[tuple[str, Callable[[ConsumerGroup], object], type[errors.KraftError]]] = [
    ("unknown member", lambda g: g.heartbeat(Heartbeat("zz", 3, owned=NONE), 1.0, TOPICS), errors.UnknownMemberId),
    ("epoch ahead", lambda g: beat(g, "b", NONE, epoch=g.members["b"].epoch + 1), errors.FencedMemberEpoch),
    ("old epoch, owned unknown", lambda g: beat(g, "b", None, epoch=g.members["b"].epoch - 1),
     errors.FencedMemberEpoch),
    ("a held instance id joins again", lambda g: join(g, "a2", instance="ia"), errors.UnreleasedInstanceId),
    ("another member's instance id", lambda g: g.heartbeat(
        Heartbeat("b", g.members["b"].epoch, instance_id="ia"), 1.0, TOPICS), errors.FencedInstanceId),
    ("unknown assignor", lambda g: join(g, "c", assignor="sticky-ish"), errors.UnsupportedAssignor),
    ("join without topics", lambda g: g.heartbeat(Heartbeat("c", 0, rebalance_timeout_ms=1), 1.0, TOPICS),
     errors.InvalidRequest),
    ("join without a rebalance timeout", lambda g: g.heartbeat(Heartbeat("c", 0, topics=("t",)), 1.0, TOPICS),
     errors.InvalidRequest),
    ("join owning partitions", lambda g: g.heartbeat(
        Heartbeat("c", 0, rebalance_timeout_ms=1, topics=("t",), owned=tps(1)), 1.0, TOPICS), errors.InvalidRequest),
    ("epoch below -2", lambda g: g.heartbeat(Heartbeat("b", -3), 1.0, TOPICS), errors.InvalidRequest),
    ("static leave without an instance id", lambda g: g.heartbeat(Heartbeat("b", -2), 1.0, TOPICS),
     errors.InvalidRequest),
    ("empty member id", lambda g: g.heartbeat(Heartbeat("", 1), 1.0, TOPICS), errors.InvalidRequest),
    ("leave of an unknown member", lambda g: g.heartbeat(Heartbeat("zz", -1), 1.0, TOPICS), errors.UnknownMemberId),
    ("commit from a stale epoch", lambda g: g.check_commit("b", g.members["b"].epoch - 1), errors.StaleMemberEpoch),
    ("commit from an epoch ahead", lambda g: g.check_commit("b", g.members["b"].epoch + 1),
     errors.FencedMemberEpoch),
    ("commit from a stranger", lambda g: g.check_commit("zz", 1), errors.UnknownMemberId),
    ("commit without a member into a live group", lambda g: g.check_commit("", -1), errors.UnknownMemberId),
]


@pytest.mark.parametrize(("name", "action", "error"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_is_refused_and_changes_nothing(
        name: str, action: Callable[[ConsumerGroup], object], error: type[errors.KraftError]) -> None:
    g = two_members()
    before = copy.deepcopy(g)
    with pytest.raises(error):
        action(g)
    assert g == before


# --- whole-group behaviour ---------------------------------------------------------------------
def settle(g: ConsumerGroup, owned: dict[str, Partitions], now: float = 0.0, rounds: int = 10) -> None:
    """Every live member heartbeats, reporting what it was last given, until nothing changes."""
    for _ in range(rounds):
        for mid in [m for m, x in g.members.items() if x.state != L]:
            a = beat(g, mid, owned.get(mid, NONE), now)
            if a.assignment is not None:
                owned[mid] = a.assignment
        if g.state == GroupState.STABLE:
            return


def test_two_then_three_members_split_the_partitions_with_revocation_before_assignment() -> None:
    g = ConsumerGroup("g", epoch=7)  # a coordinator continuing above the replicated epoch
    a = join(g, "a")
    assert (a.member_epoch, a.assignment, g.epoch, g.state) == (8, tps(0, 1, 2, 3), 8, GroupState.STABLE)
    owned = {"a": tps(0, 1, 2, 3)}
    b = join(g, "b")
    assert g.epoch == 9 and b.assignment == NONE and g.members["b"].state == R, "a still holds b's share"
    a2 = beat(g, "a", owned["a"])
    assert a2.member_epoch == 8 and g.members["a"].state == V and len(a2.assignment or ()) == 2
    owned["a"] = a2.assignment or NONE
    settle(g, owned)
    assert g.state == GroupState.STABLE and owned["a"] | owned["b"] == tps(0, 1, 2, 3)
    assert not owned["a"] & owned["b"] and {m.epoch for m in g.members.values()} == {9}
    join(g, "c")
    owned["c"] = NONE
    settle(g, owned)
    assert sorted(len(p) for p in owned.values()) == [1, 1, 2] and g.epoch == 10
    left = beat(g, "c", None, epoch=-1)
    assert left.member_epoch == -1 and "c" not in g.members and g.epoch == 11
    del owned["c"]
    settle(g, owned)
    assert owned["a"] | owned["b"] == tps(0, 1, 2, 3) and g.state == GroupState.STABLE


def test_the_assignor_is_the_one_most_members_name() -> None:
    g = ConsumerGroup("g")
    join(g, "a", topics=("t", "u"), assignor="range", partitions={"t": 4, "u": 4})
    join(g, "b", topics=("t", "u"), assignor="range", partitions={"t": 4, "u": 4})
    assert g.assignor == "range"
    assert g.target == {"a": frozenset({("t", 0), ("t", 1), ("u", 0), ("u", 1)}),
                        "b": frozenset({("t", 2), ("t", 3), ("u", 2), ("u", 3)})}
    g2 = ConsumerGroup("g2")
    join(g2, "a")
    assert g2.assignor == "uniform"


def test_a_silent_member_expires_and_its_partitions_move() -> None:
    g = ConsumerGroup("g", session_timeout_s=10)
    owned: dict[str, Partitions] = {}
    join(g, "a", now=0)
    join(g, "b", now=0)
    settle(g, owned, now=0)
    assert g.expire(9.0, TOPICS) == []
    beat(g, "a", owned["a"], now=9.0)
    assert g.expire(10.5, TOPICS) == ["b"]
    a = beat(g, "a", owned["a"], now=10.5)
    assert a.assignment == tps(0, 1, 2, 3) and g.state == GroupState.STABLE


def test_a_member_that_does_not_revoke_in_its_rebalance_timeout_is_removed() -> None:
    g = ConsumerGroup("g", session_timeout_s=100)
    join(g, "a", now=0)
    join(g, "b", now=0)
    beat(g, "a", tps(0, 1, 2, 3), now=1)  # told to revoke half, never acks
    assert g.members["a"].state == V
    beat(g, "a", tps(0, 1, 2, 3), now=5.5)
    assert g.expire(6.5, TOPICS) == ["a"]
    assert beat(g, "b", NONE, now=6.5).assignment == tps(0, 1, 2, 3)


def test_a_topic_growing_moves_the_epoch_and_hands_out_the_new_partitions() -> None:
    g = ConsumerGroup("g")
    join(g, "a")
    assert not g.refresh(TOPICS)
    assert g.refresh({"t": 6}) and g.epoch == 2
    assert g.heartbeat(Heartbeat("a", 1, owned=tps(0, 1, 2, 3)), 0, {"t": 6}).assignment == tps(*range(6))


def test_a_lost_answer_is_forgiven_once_but_not_a_made_up_epoch() -> None:
    g = ConsumerGroup("g")
    join(g, "a")
    join(g, "b")  # a's answer moving it on is "lost": it heartbeats with epoch 1
    beat(g, "a", tps(0, 1, 2, 3), epoch=1)  # revoke half (a stays at epoch 1)
    held = g.members["a"].assigned
    beat(g, "a", held)  # acks: moves to epoch 2
    assert g.members["a"].epoch == 2
    assert beat(g, "a", held, epoch=1).member_epoch == 2  # previous epoch, owns only what it was given
    with pytest.raises(errors.FencedMemberEpoch):
        beat(g, "a", tps(0, 1, 2, 3), epoch=1)  # previous epoch but claims more than it holds


def test_a_fenced_member_rejoining_with_epoch_0_gets_its_target_back() -> None:
    g = ConsumerGroup("g")
    join(g, "a")
    again = join(g, "a")
    assert (again.member_epoch, again.assignment, g.epoch) == (1, tps(0, 1, 2, 3), 1)


def test_static_leave_keeps_the_partitions_for_the_returning_instance() -> None:
    for state_before in (S, V, R):
        g = ConsumerGroup("g", session_timeout_s=30)
        owned: dict[str, Partitions] = {}
        join(g, "a", instance="ia")
        owned["a"] = tps(0, 1, 2, 3)
        join(g, "b", instance="ib")
        if state_before == V:
            beat(g, "a", owned["a"])
        elif state_before == S:
            settle(g, owned)
        assert g.members["a"].state == state_before or (state_before == R and g.members["b"].state == R)
        mid = "a" if state_before != R else "b"
        inst = "ia" if mid == "a" else "ib"
        kept, epoch = g.members[mid].assigned, g.epoch
        assert g.heartbeat(Heartbeat(mid, -2, instance_id=inst), 1.0, TOPICS).member_epoch == -2
        assert g.members[mid].state == L and g.epoch == epoch, "no new epoch while it is away"
        back = join(g, mid + "-new", instance=inst, now=2.0)
        assert back.assignment is not None and kept <= back.assignment | g.members[mid + "-new"].revoking
        assert g.epoch == epoch and g.static_members[inst] == mid + "-new" and mid not in g.members


def test_a_static_member_that_never_returns_expires() -> None:
    g = ConsumerGroup("g", session_timeout_s=5)
    join(g, "a", instance="ia")
    join(g, "b")
    g.heartbeat(Heartbeat("a", g.members["a"].epoch, owned=NONE), 0.0, TOPICS)
    g.heartbeat(Heartbeat("a", -2, instance_id="ia"), 1.0, TOPICS)
    beat(g, "b", NONE, now=5.5)
    assert g.expire(6.5, TOPICS) == ["a"] and "ia" not in g.static_members


# --- random sequences ------------------------------------------------------------------------------
@dataclass
class Client:
    member_id: str
    instance: str | None
    topics: tuple[str, ...]
    epoch: int = 0
    owned: Partitions = NONE
    zombie: bool = False  # the group removed it without telling it
    away: bool = False  # left with epoch -2


@dataclass
class World:
    clock: float = 0.0
    partitions: dict[str, int] = field(default_factory=lambda: {"t": 3, "u": 2})


class ConsumerGroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.g = ConsumerGroup("g", epoch=3, session_timeout_s=10)
        self.world = World()
        self.clients: dict[str, Client] = {}
        self.next_id = 0
        self.epochs = [self.g.epoch]

    def _answer(self, c: Client, a: Answer) -> None:
        c.epoch = a.member_epoch
        if a.assignment is not None:
            c.owned = a.assignment

    def _send(self, c: Client, hb: Heartbeat, lose: bool = False) -> None:
        try:
            a = self.g.heartbeat(hb, self.world.clock, self.world.partitions)
        except (errors.FencedMemberEpoch, errors.UnknownMemberId):
            c.owned, c.epoch, c.zombie = NONE, 0, False  # drops everything, rejoins next
            return
        if not lose:
            self._answer(c, a)

    def _live(self) -> list[Client]:
        return [c for c in self.clients.values() if not c.away]

    @rule(topics=st.sampled_from([("t",), ("u",), ("t", "u")]), static=st.booleans())
    def new_member(self, topics: tuple[str, ...], static: bool) -> None:
        self.next_id += 1
        mid = f"m{self.next_id}"
        c = Client(mid, f"i{self.next_id}" if static else None, topics)
        self.clients[mid] = c
        self._send(c, Heartbeat(mid, 0, instance_id=c.instance, rebalance_timeout_ms=4000, topics=topics))

    @precondition(lambda self: self._live())
    @rule(data=st.data(), lose=st.booleans())
    def heartbeat(self, data: st.DataObject, lose: bool) -> None:
        c = data.draw(st.sampled_from(self._live()))
        if c.epoch == 0:
            hb = Heartbeat(c.member_id, 0, instance_id=c.instance, rebalance_timeout_ms=4000, topics=c.topics)
        else:
            hb = Heartbeat(c.member_id, c.epoch, owned=c.owned)
        self._send(c, hb, lose)

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        c = data.draw(st.sampled_from(self._live()))
        del self.clients[c.member_id]
        if c.member_id in self.g.members:  # it may not know (a lost answer, a session that ended)
            self.g.heartbeat(Heartbeat(c.member_id, -1), self.world.clock, self.world.partitions)

    @precondition(lambda self: any(c.instance and c.epoch > 0 and not c.zombie for c in self._live()))
    @rule(data=st.data())
    def static_leave(self, data: st.DataObject) -> None:
        c = data.draw(st.sampled_from([c for c in self._live() if c.instance and c.epoch > 0 and not c.zombie]))
        self.g.heartbeat(Heartbeat(c.member_id, -2, instance_id=c.instance), self.world.clock, self.world.partitions)
        c.away, c.owned = True, NONE

    @precondition(lambda self: any(c.away for c in self.clients.values()))
    @rule(data=st.data())
    def static_return(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from([c for c in self.clients.values() if c.away]))
        del self.clients[old.member_id]
        self.next_id += 1
        c = Client(f"m{self.next_id}", old.instance, old.topics)
        self.clients[c.member_id] = c
        try:
            self._send(c, Heartbeat(c.member_id, 0, instance_id=c.instance, rebalance_timeout_ms=4000,
                                    topics=c.topics))
        except errors.UnknownMemberId:
            pass

    @rule(seconds=st.sampled_from([0.5, 3.0, 11.0]))
    def time_passes(self, seconds: float) -> None:
        self.world.clock += seconds
        for mid in self.g.expire(self.world.clock, self.world.partitions):
            c = self.clients.get(mid)
            if c is not None:
                c.zombie = True
                if c.away:
                    del self.clients[mid]

    @rule(topic=st.sampled_from(["t", "u"]))
    def topic_grows(self, topic: str) -> None:
        self.world.partitions[topic] += 1
        self.g.refresh(self.world.partitions)

    @rule()
    def everyone_heartbeats_until_stable(self) -> None:
        for c in self._live():
            c.zombie = False
        for _ in range(12):
            for c in list(self._live()):
                if c.epoch == 0:
                    hb = Heartbeat(c.member_id, 0, instance_id=c.instance, rebalance_timeout_ms=4000, topics=c.topics)
                else:
                    hb = Heartbeat(c.member_id, c.epoch, owned=c.owned)
                self._send(c, hb)
        if not any(c.away for c in self.clients.values()):
            assert self.g.state in (GroupState.STABLE, GroupState.EMPTY)
            for c in self._live():
                m = self.g.members[c.member_id]
                assert c.owned == m.assigned == self.g.target[c.member_id] and c.epoch == self.g.epoch

    @invariant()
    def no_partition_is_held_twice(self) -> None:
        seen: set[tuple[str, int]] = set()
        for m in self.g.members.values():
            held = m.assigned | m.revoking
            assert not held & seen
            assert not m.assigned & m.revoking
            seen |= held

    @invariant()
    def every_client_owns_only_what_the_group_holds_for_it(self) -> None:
        for c in self._live():
            m = self.g.members.get(c.member_id)
            if m is not None and not c.zombie and c.epoch > 0:
                assert c.owned <= m.assigned | m.revoking

    @invariant()
    def epochs_and_target(self) -> None:
        assert self.g.epoch >= self.epochs[-1]
        self.epochs.append(self.g.epoch)
        assert self.g.assignment_epoch == self.g.epoch
        assert all(m.epoch <= self.g.epoch for m in self.g.members.values())
        assert all(m.state != V or m.revoking for m in self.g.members.values())
        assert all(m.state in (V, L) or not m.revoking for m in self.g.members.values())
        if self.g.members:
            assert set(self.g.target) == set(self.g.members)
            wanted = {(t, p) for m in self.g.members.values() for t in m.topics
                      for p in range(self.world.partitions.get(t, 0))}
            targets = [tp for ps in self.g.target.values() for tp in ps]
            assert len(targets) == len(set(targets)) and set(targets) == wanted
            for mid, ps in self.g.target.items():
                assert {t for t, _ in ps} <= set(self.g.members[mid].topics)


ConsumerGroupMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestConsumerGroupMachine = ConsumerGroupMachine.TestCase


# --- the coordinator around it -------------------------------------------------------------------
def test_the_coordinator_replicates_the_epoch_fences_protocols_and_checks_member_epoch_commits() -> None:
    from kraft.groups.coordinator import GroupCoordinator
    from tests.unit.test_group_membership import FakeClock, coordinator

    def hb(member_id: str, epoch: int, owned: Partitions | None = None) -> Heartbeat:
        if epoch == 0:
            return Heartbeat(member_id, 0, rebalance_timeout_ms=5000, topics=("t",))
        return Heartbeat(member_id, epoch, owned=owned)

    async def scenario() -> None:
        clock = FakeClock()
        coord, machine = coordinator(clock)
        a = await coord.consumer_heartbeat("g", hb("a", 0))
        assert a.member_epoch == 1 and machine.groups["g"].generation == 1, "the epoch is replicated first"
        b = await coord.consumer_heartbeat("g", hb("b", 0))
        assert b.member_epoch == 2 and machine.groups["g"].generation == 2
        # one group id, one protocol: a classic join to it while it has members is refused
        with pytest.raises(errors.InconsistentGroupProtocol):
            await coord.join("g", "", "c", "h", ["t"], 10_000, 5_000, "range")
        # commits: at the member's epoch (a is still at 1: it has not heartbeaten since b joined)
        assert await coord.commit("g", "a", 1, [("t", 0, 0)]) == [(0, "")]
        with pytest.raises(errors.FencedMemberEpoch):
            await coord.commit("g", "a", 2, [("t", 0, 0)])
        with pytest.raises(errors.UnknownMemberId):
            await coord.commit("g", "zz", 1, [("t", 0, 0)])
        described = coord.describe("g")
        assert (described["protocol_type"], described["strategy"]) == ("consumer", "uniform")
        assert described["generation"] == 2
        # a new coordinator (same replicated state) continues above the epoch; old members rejoin
        successor = GroupCoordinator(machine, lambda: True, coord.propose, 0.0, clock=clock)
        with pytest.raises(errors.UnknownMemberId):
            await successor.consumer_heartbeat("g", hb("a", 1, NONE))
        again = await successor.consumer_heartbeat("g", hb("a", 0))
        assert again.member_epoch == 3 and again.assignment == frozenset(("t", p) for p in range(6))
        # the old coordinator's commits now fail in the metadata group (its epoch is behind)
        assert (await coord.commit("g", "b", 2, [("t", 0, 1)]))[0][0] == errors.IllegalGeneration.code
        # the members leave; the empty group may turn classic
        await successor.consumer_heartbeat("g", Heartbeat("a", -1))
        clock.now = 1.0
        successor._tick()
        joined = asyncio.ensure_future(successor.join("g", "", "c", "h", ["t"], 10_000, 5_000, "range"))
        await asyncio.sleep(0)
        clock.now = 5.0
        successor._tick()
        assert (await asyncio.wait_for(joined, 5))["generation"] == 5, "above the leave's epoch 4"
        with pytest.raises(errors.GroupIdNotFound):
            await successor.consumer_heartbeat("g", hb("d", 0))

    asyncio.run(scenario())


def test_a_topic_regex_subscribes_to_the_topics_it_matches_as_they_come_and_go() -> None:
    g = ConsumerGroup("g")
    topics = {"orders-eu": 2, "orders-us": 2, "payments": 2, "orders": 1}
    a = g.heartbeat(Heartbeat("a", 0, rebalance_timeout_ms=5000, regex="orders-.*"), 0.0, topics)
    assert a.assignment == {("orders-eu", 0), ("orders-eu", 1), ("orders-us", 0), ("orders-us", 1)}, \
        "a whole-name match: not 'orders', not 'payments'"
    epoch = g.epoch
    assert not g.refresh(topics) and g.epoch == epoch
    assert g.refresh({**topics, "orders-ap": 1}) and g.epoch == epoch + 1, "a new matching topic: a new target"
    assert ("orders-ap", 0) in g.target["a"]
    assert not g.refresh({**topics, "orders-ap": 1, "other": 3}), "a topic it does not match changes nothing"
    # names and a regex together; "" drops the regex, None leaves it as it was
    both = g.heartbeat(Heartbeat("b", 0, rebalance_timeout_ms=5000, topics=("payments",), regex="orders-e.*"),
                       0.0, {**topics, "orders-ap": 1})
    assert g.members["b"].subscribed({**topics, "orders-ap": 1}) == ("orders-eu", "payments") and both.member_epoch
    g.heartbeat(Heartbeat("b", g.members["b"].epoch, owned=None), 0.0, {**topics, "orders-ap": 1})
    assert g.members["b"].regex is not None
    g.heartbeat(Heartbeat("b", g.members["b"].epoch, regex=""), 0.0, {**topics, "orders-ap": 1})
    assert g.members["b"].regex is None and g.members["b"].subscribed(topics) == ("payments",)


@pytest.mark.parametrize("regex", ["(?<=a)b", "orders-(", "x" * 2000])
def test_a_bad_topic_regex_is_invalid_regular_expression_and_changes_nothing(regex: str) -> None:
    g = ConsumerGroup("g")
    with pytest.raises(errors.InvalidRegularExpression):
        g.heartbeat(Heartbeat("a", 0, rebalance_timeout_ms=5000, regex=regex), 0.0, TOPICS)
    assert not g.members and g.epoch == 0


def test_a_join_names_topics_or_a_regex() -> None:
    with pytest.raises(errors.InvalidRequest):
        Heartbeat("a", 0, rebalance_timeout_ms=5000)
    assert Heartbeat("a", 0, rebalance_timeout_ms=5000, regex="t").regex == "t"
