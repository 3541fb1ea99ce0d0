"""Deterministic Raft scenarios: three RaftGroups over an in-memory network that the test drives.

These pin down the pysyncobj defects kraft fixes at its seams (research/pysyncobj.md, Exp4a): a
repeated or stale AppendEntries must never truncate entries that match the leader's, a stale reply
must not rewind the leader, and every acknowledged entry survives the leader's crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from kraft.log.lmdb_store import LmdbStore
from kraft.raft.group import GroupTimers, RaftGroup
from kraft.raft.journal import RaftJournal
from kraft.raft.membership import Action
from kraft.raft.outbox import Applied, Outbox, Outcome
from kraft.raft.transport import MuxTransport

GID = 7
TIMERS = GroupTimers(heartbeat_s=0.4, election_min_s=1.5, election_max_s=3.0)


class ListMachine:
    """Applies commands by appending them to a list; the result is the entry's position."""

    def __init__(self) -> None:
        self.applied: list[bytes] = []

    @property
    def last_applied(self) -> int:
        return 0

    def apply(self, raft_index: int, payload: bytes) -> Any:
        if not payload:
            return None
        self.applied.append(payload)
        return len(self.applied) - 1


class Net:
    """Messages in flight between nodes; the test decides which are delivered, dropped or repeated."""

    def __init__(self) -> None:
        self.in_flight: list[tuple[int, int, dict[str, Any]]] = []
        self.down: set[int] = set()
        self.transports: dict[int, MuxTransport] = {}

    def deliver_all(self, keep: Any = None) -> list[tuple[int, int, dict[str, Any]]]:
        """Deliver everything in flight (and what that causes) except messages ``keep`` holds back."""
        held = []
        for _ in range(1000):
            if not self.in_flight:
                return held
            batch, self.in_flight = self.in_flight, []
            for src, dst, msg in batch:
                if src in self.down or dst in self.down:
                    continue
                if keep is not None and keep(src, dst, msg):
                    held.append((src, dst, msg))
                    continue
                self.transports[dst].deliver(src, wire(msg))
        raise AssertionError("messages never settled")


def wire(msg: dict[str, Any]) -> dict[str, Any]:
    return msgpack.unpackb(msgpack.packb(msg, use_bin_type=True), raw=False)


class NodeFacade:
    """What MuxTransport needs from a RaftHost, backed by the in-memory Net."""

    def __init__(self, node_id: int, net: Net) -> None:
        self.node_id = node_id
        self.net = net
        self.early: list[tuple[int, str, bool]] = []  # (to, message type, may leave early), in order

    def is_connected(self, peer: int) -> bool:
        return peer not in self.net.down and self.node_id not in self.net.down

    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0,
                early: bool = False) -> None:
        self.early.append((peer, str(message.get("type")), early))
        self.net.in_flight.append((self.node_id, peer, message))

    def release_early(self) -> None:
        pass

    def can_queue(self, peer: int) -> bool:
        return self.is_connected(peer)

    def wake(self, gid: int) -> None:
        pass


class Sim:
    def __init__(self, root: Path, learners: tuple[int, ...] = (),
                 machine: Callable[[LmdbStore], Any] | None = None) -> None:
        """Nodes 1, 2 and 3 in one group: voters, but for ``learners``; each replica's state machine
        ``machine(its store)`` (a ``ListMachine`` by default)."""
        self.net = Net()
        self.facades: dict[int, NodeFacade] = {}
        self.stores: dict[int, LmdbStore] = {}
        self.groups: dict[int, RaftGroup] = {}
        self.machines: dict[int, Any] = {}
        self.outbox = Outbox()  # no store commits here: outcomes are released after every tick
        for n in (1, 2, 3):
            store = LmdbStore(root / str(n), fsync=False, map_size_mb=64)
            self.stores[n] = store
            self.machines[n] = ListMachine() if machine is None else machine(store)
            facade = NodeFacade(n, self.net)
            self.facades[n] = facade

            def factory(so: Any, sn: Any, on: Any, facade: NodeFacade = facade, n: int = n) -> MuxTransport:
                t = MuxTransport(facade, GID, so, sn, on)
                self.net.transports[n] = t
                return t

            voters = [v for v in (1, 2, 3) if v not in learners]
            self.groups[n] = RaftGroup(GID, n, voters, RaftJournal(store, GID), self.machines[n], factory, TIMERS,
                                       self.outbox, learners=list(learners))
        for n, t in self.net.transports.items():
            for peer in (1, 2, 3):
                if peer != n:
                    t.peer_connected(peer)

    def tick(self, *nodes: int) -> None:
        for n in nodes or (1, 2, 3):
            if n not in self.net.down:
                for _ in range(3):
                    self.groups[n].doTick(0)
                self.groups[n].note_durable()  # as the driver after its store commit
        self.outbox.release()

    def heartbeat_due(self) -> None:
        """Let a heartbeat interval pass (without waiting for it): leaders send on the next tick."""
        for g in self.groups.values():
            g._hb_deadline = 0
            for progress in g._progress.followers.values():
                progress.probe_sent_at = None  # an unanswered probe is retried after a heartbeat interval
            g._SyncObj__newAppendEntriesTime = 0

    def settle(self, keep: Any = None) -> list[tuple[int, int, dict[str, Any]]]:
        held = []
        for _ in range(20):
            self.heartbeat_due()
            self.tick()
            held += self.net.deliver_all(keep)
            self.tick()
            if not self.net.in_flight:
                break
        return held

    def elect(self, node: int) -> None:
        for g in self.groups.values():
            g._leader_heard_at = float("-inf")  # an election timeout has passed: pre-votes are free
        self.groups[node].bring_election_forward(0)
        self.tick(node)
        self.settle()
        assert self.groups[node].is_leader()

    def log(self, n: int) -> list[tuple[int, int]]:
        j = self.groups[n].journal
        return [(e[1], e[2]) for e in j.entries_from(1, 10_000, 1 << 30)]

    def submit(self, node: int, payload: bytes, acks: list[Any]) -> None:
        def done(outcome: Outcome) -> None:
            acks.append((payload, outcome))

        self.groups[node].submit(payload, done)

    def close(self) -> None:
        for g in self.groups.values():
            g.destroy()
        for s in self.stores.values():
            s.close()


@pytest.fixture
def sim(tmp_path: Path):
    s = Sim(tmp_path)
    yield s
    s.close()


def is_append_to(dst: int):
    return lambda src, d, msg: d == dst and msg["type"] == "append_entries" and msg.get("entries")


def test_repeated_append_entries_never_truncate_matching_entries(sim: Sim) -> None:
    sim.elect(1)
    acks: list[Any] = []
    sim.submit(1, b"a", acks)
    # Hold back the first AppendEntries carrying "a" to node 2: it will arrive late, twice.
    held = sim.settle(keep=is_append_to(2))
    assert held, "the test needs a captured AppendEntries"
    sim.submit(1, b"b", acks)
    sim.submit(1, b"c", acks)
    sim.settle()
    assert [a[0] for a in acks if isinstance(a[1], Applied)] == [b"a", b"b", b"c"]
    before = sim.log(2)
    assert before == sim.log(1)
    for _ in range(2):  # the stale message, delivered after newer ones, and repeated
        for src, dst, msg in held:
            sim.net.transports[dst].deliver(src, wire(msg))
        sim.tick(2)
    assert sim.log(2) == before, "a stale AppendEntries truncated entries that match the leader's"
    assert sim.groups[2].raftCommitIndex <= before[-1][0]


def test_acknowledged_entries_survive_leader_crash_after_stale_messages(sim: Sim) -> None:
    sim.elect(1)
    sim.net.down.add(3)  # majority is {1, 2}: every ack depends on node 2's log
    acks: list[Any] = []
    held: list[Any] = []
    for i in range(5):
        sim.submit(1, b"r%d" % i, acks)
        held += sim.settle(keep=is_append_to(2) if i == 1 else None)
        for src, dst, msg in held:  # stale duplicates keep arriving after newer entries
            sim.net.transports[dst].deliver(src, wire(msg))
        sim.tick(2)
        sim.settle()
    acknowledged = [a[0] for a in acks if isinstance(a[1], Applied)]
    assert acknowledged, "nothing was acknowledged"
    # The leader dies; node 3 comes back; node 2 must win and keep every acknowledged entry.
    sim.net.down = {1}
    sim.elect(2)
    for _ in range(3):
        sim.settle()
    for n in (2, 3):
        assert sim.log(n) == sim.log(2)
        assert all(r in sim.machines[n].applied for r in acknowledged)


def test_conflicting_suffix_is_replaced(sim: Sim) -> None:
    sim.elect(1)
    acks: list[Any] = []
    sim.submit(1, b"x", acks)
    sim.settle()
    # Node 1 is cut off and appends entries no one else gets (never acknowledged).
    sim.net.down = {2, 3}
    sim.submit(1, b"lost-1", acks)
    sim.submit(1, b"lost-2", acks)
    sim.tick(1)
    sim.net.in_flight.clear()
    sim.net.down = {1}
    sim.elect(2)
    sim.submit(2, b"y", acks)
    sim.settle()
    sim.net.down = set()
    for _ in range(5):
        sim.settle()
    assert sim.log(1) == sim.log(2) == sim.log(3)
    assert b"lost-1" not in sim.machines[2].applied
    assert sim.machines[1].applied == sim.machines[2].applied


def test_a_configuration_takes_effect_when_appended_and_reverts_when_truncated(sim: Sim) -> None:
    """Raft §4.1: a MEMBERS entry counts from its append (committed or not) on the leader and on
    followers; a truncation that removes it restores the configuration before it."""
    before = (frozenset({1, 2, 3}), frozenset())
    after = (frozenset({1, 2, 3}), frozenset({4}))
    sim.net.down.add(4)  # node 4 never runs: it is only named as a learner
    sim.elect(1)
    # The leader appends the change while cut off: nobody else gets it.
    sim.net.down = {2, 3, 4}
    sim.groups[1].note_durable()  # the store commit the driver makes after each iteration
    assert sim.groups[1].propose_membership(Action.ADD_LEARNER, 4)
    sim.tick(1)
    assert sim.groups[1].configuration() == after, "the leader uses it once appended"
    assert sim.groups[1].raftCommitIndex < sim.groups[1].journal.last_index
    sim.net.in_flight.clear()
    # Node 2 leads a later term and writes over the entry; node 1 comes back and truncates it.
    sim.net.down = {1, 4}
    sim.elect(2)
    acks: list[Any] = []
    sim.submit(2, b"y", acks)
    sim.settle()
    sim.net.down = {4}
    for _ in range(5):
        sim.settle()
    assert sim.log(1) == sim.log(2) == sim.log(3)
    for n in (1, 2, 3):
        assert sim.groups[n].configuration() == before, f"node {n} kept a truncated configuration"
    # A follower uses an entry it appended before anyone committed it.
    sim.groups[2].note_durable()
    assert sim.groups[2].propose_membership(Action.ADD_LEARNER, 4)
    sim.tick(2)
    sim.settle(keep=lambda src, dst, msg: dst == 2)  # no acknowledgement reaches the leader
    assert sim.groups[3].configuration() == after
    assert sim.groups[3].raftCommitIndex < sim.groups[3].journal.last_index


def test_a_demoted_voter_stays_a_member_and_catches_up_as_a_learner(sim: Sim) -> None:
    """``Action.DEMOTE`` (the metadata group's lost voters, kraft.node.metadata_members rule 6): one
    voter fewer, as a removal, but the node stays a member, so once back it receives the entries
    committed without it (removed, it would never hear of them)."""
    sim.elect(1)
    sim.net.down = {3}
    assert not sim.groups[1].propose_membership(Action.DEMOTE, 1), "a leader never demotes itself"
    assert sim.groups[1].propose_membership(Action.DEMOTE, 3)
    sim.settle()
    assert sim.groups[1].configuration() == (frozenset({1, 2}), frozenset({3}))
    assert sim.groups[1].configuration_committed()
    acks: list[Any] = []
    sim.submit(1, b"while-3-was-down", acks)
    sim.settle()
    assert [type(o) for _, o in acks] == [Applied], "the two voters left commit alone"
    assert b"while-3-was-down" not in sim.machines[3].applied
    sim.net.down = set()
    for _ in range(5):
        sim.settle()
    assert sim.log(3) == sim.log(1)
    assert sim.groups[3].is_learner()
    assert sim.groups[3].configuration() == (frozenset({1, 2}), frozenset({3}))
    assert b"while-3-was-down" in sim.machines[3].applied
    assert sim.groups[1].caught_up_learner(3) is not None, "caught up: it may now leave (or be promoted)"


def test_a_follower_applied_index_is_what_its_replies_say_not_its_log(sim: Sim) -> None:
    """``RaftGroup.follower_applied``: a decommissioned node leaves the metadata group only once its
    view holds the entries that emptied it. Its log holding the leader's commit index is not that: a
    replica applies only what it knows is committed (the simulator, seed 70 with decommissions)."""
    sim.elect(1)
    acks: list[Any] = []
    sim.submit(1, b"a", acks)
    sim.settle()
    # The entry reaches node 3, the commit index that covers it does not (heartbeats held back).
    sim.submit(1, b"b", acks)

    def no_commit_to_3(src: int, dst: int, msg: dict[str, Any]) -> bool:
        return dst == 3 and msg["type"] == "append_entries" and not msg.get("entries")

    held = sim.settle(keep=no_commit_to_3)
    held += sim.settle(keep=no_commit_to_3)  # a reply says what was applied before the message it answers
    commit = sim.groups[1].raftCommitIndex
    progress = sim.groups[1]._progress.get(3)
    assert progress is not None and progress.match >= commit, "node 3's log holds the commit index"
    assert b"b" not in sim.machines[3].applied
    assert not sim.groups[1].follower_applied(3, commit)
    assert sim.groups[1].follower_applied(2, commit)
    assert held
    for _ in range(3):
        sim.settle()
    assert b"b" in sim.machines[3].applied
    assert sim.groups[1].follower_applied(3, commit)
