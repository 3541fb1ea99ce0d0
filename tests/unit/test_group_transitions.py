"""The group state machine against its table (kraft.groups.membership.TRANSITIONS).

Every (state, event) pair is walked through the public ``Group`` API: the state is reached by one
of several paths (Hypothesis picks the kind of group, the members and the path), the event applied,
and the result is the table's state, or the event is refused (a ``KraftError`` for a client's
mistake, ``IllegalTransition`` for the coordinator's) and the group is unchanged. Then random
sequences of joins, leaves, heartbeats, syncs, time passing and completed or overtaken rounds, as the
coordinator drives them, keep the invariants after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kraft import errors
from kraft.groups import membership
from kraft.groups.assignors import assign
from kraft.groups.consumer_protocol import encode_subscription
from kraft.groups.membership import (
    AWAITING_SYNC,
    EMPTY,
    PREPARING,
    STABLE,
    TRANSITIONS,
    Event,
    Group,
    IllegalTransition,
    State,
    next_state,
)

PARTITIONS = {"t": 3, "u": 2}
SESSION_MS = 10_000
REBALANCE_MS = 5_000
DELAY_S = 0.3
NATIVE, KAFKA = "native", "kafka"


# --- driving a group as the coordinator does ------------------------------------------------------
def join(g: Group, kind: str, now: float, member_id: str = "", topics: tuple[str, ...] = ("t",),
         instance_id: str | None = None) -> tuple[str, bool]:
    if kind == NATIVE:
        return g.join(member_id, "c", "h", list(topics), SESSION_MS, REBALANCE_MS, "range", now, DELAY_S,
                      instance_id=instance_id)
    protocols = [("range", encode_subscription(sorted(set(topics))))]
    return g.join(member_id, "c", "h", list(topics), SESSION_MS, REBALANCE_MS, "", now, DELAY_S, "consumer", protocols,
                  instance_id)


def complete(g: Group) -> None:
    """The coordinator's ``_complete`` without the metadata group: the next generation, an assignment."""
    subs = g.subscriptions()
    partitions = {t: n for t, n in PARTITIONS.items() if any(t in ts for ts in subs.values())}
    assignment = {} if g.protocol_type else assign(g.strategy, subs, partitions, previous=g.assignment)
    g.complete(assignment, partitions, g.generation + 1)


def leader_sync(g: Group) -> bool:
    return g.set_assignments(g.leader, g.generation, {mid: mid.encode() for mid in g.members})


def settle(g: Group, kind: str) -> None:
    """Complete the round in progress into Stable (a Kafka group: through the leader's SyncGroup)."""
    g.drop_absent()
    complete(g)
    if kind == KAFKA:
        assert leader_sync(g)


def snapshot(g: Group) -> tuple[Any, ...]:
    """Everything about a group but liveness (a refused heartbeat still shows the member alive)."""
    members = [(mid, m.topics, m.protocols, m.joined, m.instance_id) for mid, m in g.members.items()]
    return (g.state, g.generation, members, g.assignment, g.member_assignments, g.leader, g.protocol,
            g.initial, g.deadline, g.subscribed_partitions, dict(g.static_members))


def spy(g: Group) -> list[Event]:
    """The events ``g`` is asked for from now on."""
    fired: list[Event] = []
    transition = g._transition

    def recording(event: Event) -> State:
        fired.append(event)
        return transition(event)

    g._transition = recording  # type: ignore[method-assign]
    return fired


# --- reaching a state -------------------------------------------------------------------------------
def reach(state: State, kind: str, n: int, how: str) -> Group:
    """A group in ``state`` with ``n`` members (Empty: none), reached by path ``how``."""
    if state == EMPTY:
        if how == "restored":
            return Group("g", generation=n + 3)  # a new coordinator, above the replicated generation
        g = Group("g")
        if how == "emptied":
            ids = [join(g, kind, 0.01 * i)[0] for i in range(n)]
            settle(g, kind)
            for mid in ids:
                g.leave(mid, 1.0)
        return g
    g = Group("g")
    if state == PREPARING and how == "initial":
        for i in range(n):
            join(g, kind, 0.01 * i)
        return g
    before = n - 1 if state == PREPARING and how == "joiner" else n
    for i in range(before):
        join(g, kind, 0.01 * i)
    if state == AWAITING_SYNC:
        g.drop_absent()
        complete(g)
        return g
    settle(g, kind)
    if state == PREPARING and how == "joiner":
        join(g, kind, 2.0)  # a new member: the others must rejoin
    elif state == PREPARING:
        g.request_rebalance(2.0)  # everyone must rejoin
    return g


def paths(state: State, event: Event, n: int) -> list[str]:
    if state == EMPTY:
        return ["fresh", "restored", "emptied"]
    if state != PREPARING:
        return ["settled"]
    if event == Event.DROP_ABSENT:
        return ["joiner"]  # some members rejoined (the new one), some did not
    if event == Event.ROUND_EMPTY:
        return ["rebalance"]  # nobody rejoined yet
    return ["initial", "rebalance", "joiner"] if n >= 2 else ["initial", "rebalance"]


def members_needed(event: Event) -> tuple[int, int]:
    if event == Event.LAST_LEAVE:
        return 1, 1
    if event in (Event.LEAVE, Event.REJOIN, Event.DROP_ABSENT):
        return 2, 4
    return 1, 4


def kinds(state: State, event: Event) -> list[str]:
    if state == AWAITING_SYNC or event in (Event.ELECT_LEADER, Event.LEADER_SYNC):
        return [KAFKA]
    if event == Event.COMPLETE:
        return [NATIVE]
    return [NATIVE, KAFKA]


# --- applying an event through the public API ------------------------------------------------------
def _depart(g: Group, data: st.DataObject, mid: str) -> None:
    """``mid`` leaves, or its session expires (only its: the others were seen later)."""
    if data.draw(st.booleans(), label="by expiry"):
        others = [m.last_seen + m.session_timeout_s for k, m in g.members.items() if k != mid]
        mine = g.members[mid].last_seen + g.members[mid].session_timeout_s
        if not others or min(others) > mine:
            assert g.expire(mine + (min(others) - mine) / 2 if others else mine + 1.0) == [mid]
            return
    g.leave(mid, 3.0)


def apply_join(g: Group, kind: str, data: st.DataObject) -> None:
    join(g, kind, 3.0)


def apply_rejoin(g: Group, kind: str, data: st.DataObject) -> None:
    # not the Kafka leader of a Stable group: its rejoin asks for a new round (a join)
    candidates = [mid for mid in g.members if not (kind == KAFKA and g.state == STABLE and mid == g.leader)]
    member_id = data.draw(st.sampled_from(candidates), label="member") if candidates else "ghost"
    topics = tuple(g.members[member_id].topics) if member_id in g.members else ("t",)
    join(g, kind, 3.0, member_id, topics)


def apply_leave(g: Group, kind: str, data: st.DataObject) -> None:
    if not g.members:
        g.leave("ghost", 3.0)
        return
    _depart(g, data, data.draw(st.sampled_from(sorted(g.members)), label="member"))


def apply_topics_changed(g: Group, kind: str, data: st.DataObject) -> None:
    g.request_rebalance(3.0)


def apply_drop_absent(g: Group, kind: str, data: st.DataObject) -> None:
    g.drop_absent()


def apply_complete(g: Group, kind: str, data: st.DataObject) -> None:
    complete(g)


def apply_leader_sync(g: Group, kind: str, data: st.DataObject) -> None:
    leader_sync(g)


def apply_burn(g: Group, kind: str, data: st.DataObject) -> None:
    g.burn_generation(g.generation + 1)


APPLY: dict[Event, Callable[[Group, str, st.DataObject], None]] = {
    Event.JOIN: apply_join,
    Event.REJOIN: apply_rejoin,
    Event.TOPICS_CHANGED: apply_topics_changed,
    Event.LEAVE: apply_leave,
    Event.LAST_LEAVE: apply_leave,
    Event.DROP_ABSENT: apply_drop_absent,
    Event.ROUND_EMPTY: apply_drop_absent,
    Event.COMPLETE: apply_complete,
    Event.ELECT_LEADER: apply_complete,
    Event.LEADER_SYNC: apply_leader_sync,
    Event.BURN_GENERATION: apply_burn,
}


def test_every_event_has_a_way_in_and_the_table_names_only_states_and_events() -> None:
    assert set(APPLY) == set(Event)
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) == set(State)
    assert {e for _, e in TRANSITIONS} == set(Event)
    with pytest.raises(IllegalTransition, match="'leader-sync' is illegal in state Empty"):
        next_state(EMPTY, Event.LEADER_SYNC)


def test_the_docstring_table_is_the_table() -> None:
    """The grid in kraft.groups.membership's docstring, read back, is ``TRANSITIONS``: the table
    people read is the one the code runs (and a changed entry shows in review as a changed grid)."""
    letters = {"E": EMPTY, "P": PREPARING, "C": AWAITING_SYNC, "S": STABLE}
    lines = (membership.__doc__ or "").splitlines()
    header = lines.index("  event            E  P  C  S")
    grid: dict[tuple[State, Event], State] = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        name, *cells = line.split()[:5]
        if name in {e.value for e in Event}:
            for state, cell in zip(letters.values(), cells, strict=True):
                if cell != "-":
                    grid[state, Event(name)] = letters[cell]
    assert grid == TRANSITIONS


@pytest.mark.parametrize("state", list(State), ids=str)
@pytest.mark.parametrize("event", list(Event), ids=str)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_state_and_event(state: State, event: Event, data: st.DataObject) -> None:
    low, high = members_needed(event)
    n = data.draw(st.integers(low, high), label="members")
    kind = data.draw(st.sampled_from(kinds(state, event)), label="kind")
    g = reach(state, kind, n, data.draw(st.sampled_from(paths(state, event, n)), label="path"))
    assert g.state == state
    fired = spy(g)
    expected = TRANSITIONS.get((state, event))
    if expected is not None:
        APPLY[event](g, kind, data)
        assert fired == [event] and g.state == expected
        return
    before = snapshot(g)
    try:
        APPLY[event](g, kind, data)
    except (errors.KraftError, IllegalTransition):
        pass
    assert snapshot(g) == before, f"an illegal {event} changed a {state} group"


def test_refused_transitions_and_generations_change_nothing() -> None:
    g = reach(STABLE, NATIVE, 2, "settled")
    before = snapshot(g)
    with pytest.raises(IllegalTransition):
        complete(g)  # the coordinator completes only a round in progress
    with pytest.raises(IllegalTransition):
        g.burn_generation(g.generation + 1)  # only a round in progress (or one emptied meanwhile)
    assert snapshot(g) == before
    join(g, NATIVE, 3.0)
    before = snapshot(g)
    with pytest.raises(IllegalTransition, match="not above"):
        g.complete({}, {}, g.generation)  # a generation never goes down or repeats
    assert snapshot(g) == before and g.state == PREPARING
    with pytest.raises(AttributeError):
        g.state = STABLE  # type: ignore[misc]  # only Group._transition changes it


# --- random sequences ---------------------------------------------------------------------------
member_index = st.integers(0, 7)
topic_sets = st.sampled_from([("t",), ("t", "u"), ("u",)])
overtakers = st.sampled_from([None, None, "join", "leave"])


class GroupMachine(RuleBasedStateMachine):
    """A Group driven as the coordinator drives it, native or Kafka-protocol; a client's illegal
    request may be refused (a ``KraftError``), but then it changed nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.group = Group("g")
        self.kind = NATIVE
        self.now = 0.0
        self.generation = 0

    @initialize(kind=st.sampled_from([NATIVE, KAFKA]), generation=st.integers(0, 5))
    def start(self, kind: str, generation: int) -> None:
        self.group, self.kind, self.generation = Group("g", generation=generation), kind, generation

    def _member(self, i: int) -> str:
        ids = list(self.group.members)
        return ids[i % len(ids)] if ids else "ghost"

    def _try(self, step: Callable[[], object]) -> None:
        before = snapshot(self.group)
        try:
            step()
        except errors.KraftError:
            assert snapshot(self.group) == before, "a refused request changed the group"

    @rule(topics=topic_sets)
    def join_new(self, topics: tuple[str, ...]) -> None:
        self._try(lambda: join(self.group, self.kind, self.now, topics=topics))

    @rule(i=member_index, topics=st.none() | topic_sets)
    def rejoin(self, i: int, topics: tuple[str, ...] | None) -> None:
        mid = self._member(i)
        member = self.group.members.get(mid)
        same = tuple(member.topics) if member is not None else ("t",)
        self._try(lambda: join(self.group, self.kind, self.now, mid, topics or same))

    @rule(instance=st.sampled_from(["i1", "i2"]), topics=st.none() | topic_sets)
    def static_join(self, instance: str, topics: tuple[str, ...] | None) -> None:
        """A static member joins without a member id: new, or restarted (it takes its former self's place)."""
        current = self.group.static_members.get(instance)
        member = self.group.members.get(current) if current is not None else None
        same = tuple(member.topics) if member is not None else ("t",)
        self._try(lambda: join(self.group, self.kind, self.now, topics=topics or same, instance_id=instance))

    @rule(instance=st.sampled_from(["i1", "i2"]), i=member_index)
    def static_request_from_a_fenced_member(self, instance: str, i: int) -> None:
        """A heartbeat naming an instance id from a member id that is not (or no longer) its own."""
        mid = self._member(i)
        if self.group.static_members.get(instance) not in (None, mid):
            with pytest.raises(errors.FencedInstanceId):
                self.group.heartbeat(mid, self.group.generation, self.now, instance)

    @rule(i=member_index)
    def leave(self, i: int) -> None:
        self._try(lambda: self.group.leave(self._member(i), self.now))

    @rule(i=member_index, stale=st.booleans())
    def heartbeat(self, i: int, stale: bool) -> None:
        self._try(lambda: self.group.heartbeat(self._member(i), self.group.generation - stale, self.now))

    @rule(seconds=st.sampled_from([0.1, 0.4, 1.0, 3.0, 6.0, 11.0]), overtaken=overtakers)
    def tick(self, seconds: float, overtaken: str | None) -> None:
        """The coordinator's tick (sessions last 10 s, rounds 0.3 to 5 s): silent members expire,
        changed topics start a round, a ready round ends."""
        self.now += seconds
        self.group.expire(self.now)
        if self.group.members and self.group.subscribed_partitions != {
                t: n for t, n in PARTITIONS.items() if any(t in m.topics for m in self.group.members.values())}:
            self.group.request_rebalance(self.now)
        self.round_ends(overtaken)

    @precondition(lambda self: bool(self.group.members))  # the coordinator asks only then
    @rule()
    def topics_changed(self) -> None:
        self.group.request_rebalance(self.now)

    @rule(overtaken=overtakers)
    def round_ends(self, overtaken: str | None) -> None:
        """The coordinator ends a ready round: drops who did not rejoin, records the next generation
        and completes; or, while the generation is recorded, someone joins or leaves (``overtaken``),
        and the generation is burned."""
        g = self.group
        if not g.ready_to_complete(self.now):
            return
        g.drop_absent()
        if not g.members:
            return
        if overtaken is None:
            complete(g)
            return
        if overtaken == "join":
            join(g, self.kind, self.now)
        else:
            g.leave(next(iter(g.members)), self.now)
        g.burn_generation(g.generation + 1)

    @rule()
    def leader_syncs(self) -> None:
        """The leader's SyncGroup with everyone's assignment (Kafka-protocol groups)."""
        if self.kind == KAFKA:
            self._try(lambda: leader_sync(self.group))

    @rule(i=member_index, stale=st.booleans())
    def member_syncs(self, i: int, stale: bool) -> None:
        """Any member's SyncGroup, perhaps of an old generation (the coordinator refuses one in a
        native group before the group sees it)."""
        if self.kind == KAFKA:
            self._try(lambda: self.group.set_assignments(self._member(i), self.group.generation - stale, {}))

    @invariant()
    def state_is_a_table_state(self) -> None:
        assert self.group.state in {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())

    @invariant()
    def generation_never_decreases(self) -> None:
        assert self.group.generation >= self.generation
        self.generation = self.group.generation

    @invariant()
    def members_exactly_when_not_empty(self) -> None:
        assert bool(self.group.members) == (self.group.state != EMPTY), (self.group.state, self.group.members)

    @invariant()
    def stable_members_have_assignments(self) -> None:
        g = self.group
        if g.state == STABLE:
            assigned = g.member_assignments if self.kind == KAFKA else g.assignment
            assert set(g.members) <= set(assigned)

    @invariant()
    def static_members_name_their_members(self) -> None:
        g = self.group
        assert {m.instance_id: mid for mid, m in g.members.items() if m.instance_id} == g.static_members

    @invariant()
    def only_kafka_groups_complete_rebalance(self) -> None:
        assert self.group.state != AWAITING_SYNC or self.kind == KAFKA


TestGroupMachine = GroupMachine.TestCase
TestGroupMachine.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
