"""Quiescent Raft groups: an idle partition group stops ticking and sending once every replica holds
the leader's log and commit index, wakes at the first proposal or message, and a follower whose
leader's node disconnects wakes and elects (three RaftGroups over the test's in-memory network, on a
clock the test moves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft.raft import clock
from kraft.raft.group import LEADER_GONE_SPREAD_S, QUIESCE_AFTER_S
from kraft.raft.outbox import Applied
from tests.unit.test_raft_replication import GID, Sim


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    clock.install(fake)
    try:
        yield fake
    finally:
        clock.install(clock.MONOTONIC)


@pytest.fixture
def sim(tmp_path: Path, fake_clock: FakeClock) -> Iterator[Sim]:
    s = Sim(tmp_path)
    for g in s.groups.values():
        g.may_quiesce = True  # as a partition group
    yield s
    s.close()


def elect(sim: Sim, fake: FakeClock, node: int) -> None:
    for g in sim.groups.values():
        g._leader_heard_at = float("-inf")  # an election timeout has passed: pre-votes are free
    sim.groups[node].bring_election_forward(0)
    fake.t += 0.01
    sim.tick(node)
    sim.settle()
    assert sim.groups[node].is_leader()


def idle(sim: Sim, fake: FakeClock) -> None:
    """Let the group sit idle past QUIESCE_AFTER_S, ticking as the driver would."""
    for _ in range(3):
        fake.t += QUIESCE_AFTER_S / 2 + 0.01
        sim.settle()
        for g in sim.groups.values():
            g.note_durable()  # the store commit the driver makes after each iteration


def test_an_idle_group_goes_quiet_and_wakes_for_a_proposal(sim: Sim, fake_clock: FakeClock) -> None:
    elect(sim, fake_clock, 1)
    acks: list[Any] = []
    sim.submit(1, b"a", acks)
    sim.settle()
    assert not any(g.quiescent for g in sim.groups.values()), "not idle long enough yet"
    idle(sim, fake_clock)
    assert all(g.quiescent for g in sim.groups.values())
    sim.heartbeat_due()
    sim.tick()
    assert not sim.net.in_flight, "a quiescent group sends nothing, not even heartbeats"
    fake_clock.t += 30.0  # far past any election timeout: quiescent followers do not stand
    sim.tick()
    assert sim.groups[1].is_leader() and not sim.net.in_flight
    assert sim.groups[1].follower_states() == {2: ("voter", 0), 3: ("voter", 0)}, \
        "quiet, connected followers are in sync (ISR, under-replicated), not unreachable"
    sim.submit(1, b"b", acks)
    sim.settle()
    assert [a[0] for a in acks if isinstance(a[1], Applied)] == [b"a", b"b"]
    assert not any(g.quiescent for g in sim.groups.values()), "the write woke every replica"
    assert sim.machines[2].applied == sim.machines[1].applied == [b"a", b"b"]


def test_followers_wake_and_elect_when_the_leaders_node_goes(sim: Sim, fake_clock: FakeClock) -> None:
    elect(sim, fake_clock, 1)
    idle(sim, fake_clock)
    assert all(g.quiescent for g in sim.groups.values())
    sim.net.down.add(1)
    for n in (2, 3):
        sim.net.transports[n].peer_disconnected(1)
    assert not sim.groups[2].quiescent and not sim.groups[3].quiescent
    for _ in range(10):
        fake_clock.t += 1.0
        sim.settle()
        if sim.groups[2].is_leader() or sim.groups[3].is_leader():
            break
    assert sim.groups[2].is_leader() or sim.groups[3].is_leader(), "no new leader"


def test_a_message_other_than_the_quiesce_heartbeat_wakes_a_follower(sim: Sim, fake_clock: FakeClock) -> None:
    elect(sim, fake_clock, 1)
    idle(sim, fake_clock)
    follower = sim.groups[3]
    assert follower.quiescent
    sim.net.transports[3].deliver(2, {"type": "kraft_pre_vote", "term": follower.raftCurrentTerm + 1,
                                      "last_log": [0, 0]})
    assert not follower.quiescent
    assert sim.net.in_flight and not sim.net.in_flight[-1][2]["granted"], \
        "its quiescent leader counts as heard from: no pre-vote for a stale candidate"


@pytest.mark.parametrize("quiet", [True, False])
def test_one_survivor_stands_at_once_when_the_leaders_node_goes(sim: Sim, fake_clock: FakeClock, quiet: bool) -> None:
    """A closed connection to the leader's node: the surviving voter ranked first for this group
    stands within LEADER_GONE_SPREAD_S, long before an election timeout, whether the group was quiet
    or busy (its peer forgets the leader, so it grants the pre-vote); the other one waits."""
    elect(sim, fake_clock, 1)
    if quiet:
        idle(sim, fake_clock)
        assert all(g.quiescent for g in sim.groups.values())
    else:
        sim.submit(1, b"a", [])
        sim.settle()
        for n in (2, 3):
            sim.groups[n]._leader_heard_at = fake_clock.t  # heard a moment ago, as a busy follower
    first = [2, 3][GID % 2]
    other = 5 - first
    sim.net.down.add(1)
    for n in (2, 3):
        sim.net.transports[n].peer_disconnected(1)
    timeout_min = sim.groups[2].conf.raftMinTimeout
    waited = 0.0
    while not sim.groups[first].is_leader() and waited < timeout_min / 2:
        fake_clock.t += 0.05
        waited += 0.05
        sim.settle()
    assert sim.groups[first].is_leader(), f"no leader {waited:.2f} s after the disconnect"
    assert waited <= LEADER_GONE_SPREAD_S + 0.1
    assert not sim.groups[other].is_leader()


def test_a_cut_off_follower_neither_raises_its_term_nor_deposes_the_leader(sim: Sim, fake_clock: FakeClock) -> None:
    """Pre-votes (seed 30044; the simulator's mutant no-pre-vote): a follower that hears no leader for
    many election timeouts asks first and, answered by no one, stays at its term; back in touch it
    follows the leader instead of deposing it with a higher term."""
    for g in sim.groups.values():
        # Losing messages here is not a disconnection (which wakes a quiescent leader): a leader
        # quiescent through the cut would reach node 3 only at its next pre-vote, seconds later.
        g.may_quiesce = False
    elect(sim, fake_clock, 1)
    term = sim.groups[1].raftCurrentTerm
    for _ in range(10):
        fake_clock.t += 1.0
        sim.settle(keep=lambda src, dst, _msg: 3 in (src, dst))  # node 3's messages are all lost
    assert sim.groups[3].raftCurrentTerm == term, "a pre-vote it could not win left its term alone"
    sim.net.in_flight.clear()
    for _ in range(3):
        fake_clock.t += 0.2
        sim.settle()
    assert sim.groups[1].is_leader() and sim.groups[1].raftCurrentTerm == term
    assert sim.groups[3].leader_id() == 1


def test_a_member_connecting_to_a_follower_late_does_not_wake_it_alone(sim: Sim, fake_clock: FakeClock) -> None:
    """Node 2 restarts: its connection to the leader comes up first (the leader wakes, brings it up to
    date and goes quiet again with both followers), its connection to follower 3 a moment later. That
    connect must not wake follower 3 on its own: woken, with its leader quiet, it heard nothing, stood
    once its election timer ran out, and node 2, awake and not hearing the quiet leader either,
    granted its pre-vote: a working leader deposed (test_leaders' elect-leaders test, under load)."""
    elect(sim, fake_clock, 1)
    term = sim.groups[1].raftCurrentTerm
    idle(sim, fake_clock)
    assert all(g.quiescent for g in sim.groups.values())
    sim.net.down.add(2)
    for n in (1, 3):
        sim.net.transports[n].peer_disconnected(2)
    fake_clock.t += 1.0
    sim.settle()
    sim.net.down.discard(2)
    sim.net.transports[1].peer_connected(2)
    sim.net.transports[2].peer_connected(1)
    idle(sim, fake_clock)
    assert all(g.quiescent for g in sim.groups.values()), "back in sync and quiet again"
    sim.net.transports[3].peer_connected(2)  # the late connection between the followers
    sim.net.transports[2].peer_connected(3)
    sim.groups[2]._leader_heard_at = float("-inf")  # as the restarted node: no leader heard lately
    for _ in range(10):
        fake_clock.t += 3.0  # far past an election timeout
        sim.settle()
    assert sim.groups[1].is_leader() and sim.groups[1].raftCurrentTerm == term, \
        [(n, g.raftCurrentTerm, g.leader_id()) for n, g in sim.groups.items()]
