"""The head of a partition's log: a trim moves the log start (whole batches go, offsets stay), the
Raft journal discards the entries below the record log's floor and deletes their rows in slices, and
a snapshot turns a lagging follower's log into the leader's base. Over the real ``PartitionLog`` and
``RaftJournal`` on the in-memory store; the leader's snapshot bookkeeping is pure (``progress``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraft.invariants import InvariantViolation
from kraft.log.entry import NO_OP, OP_NATIVE, REGULAR, encode_row, encode_trim
from kraft.log.memory_store import MemoryStore
from kraft.log.partition_log import PartitionLog
from kraft.log.store import DB_JOURNAL, gid_u64_key, u64_of
from kraft.protocol.batch import encode_batch
from kraft.raft.follower import Accept, Mismatch, on_append
from kraft.raft.journal import RECLAIM_ROW_BYTES, RaftJournal
from kraft.raft.progress import FollowerProgress
from kraft.state.partition import PartitionMachine

GID = 7


def produce(n: int, ts: int = 1000, producer_id: int = -1, sequence: int = -1) -> bytes:
    return OP_NATIVE + encode_batch([(ts + i, None, b"v%d" % i, []) for i in range(n)], producer_id, sequence)


def partition(store: MemoryStore) -> tuple[PartitionLog, PartitionMachine]:
    plog = PartitionLog(store, GID)
    return plog, PartitionMachine(plog)


def filled(store: MemoryStore) -> tuple[PartitionLog, PartitionMachine]:
    """Raft entries 2..5 hold batches of 3 records each: offsets 0-2, 3-5, 6-8, 9-11."""
    plog, machine = partition(store)
    for raft_index in range(2, 6):
        machine.apply(raft_index, produce(3))
    store.commit()
    return plog, machine


# (trim offset) -> (result log start, log floor): the floor is the entry of the batch holding the start
TRIM_CASES = [
    ("a batch boundary", 6, 6, 4),
    ("inside a batch: the whole batch stays", 7, 7, 4),
    ("below the current start: nothing moves", 0, 0, 0),
    ("the whole log: the floor is the trim's own entry", 12, 12, 6),
    ("past the end: clamped to the end", 99, 12, 6),
]


@pytest.mark.parametrize(("name", "offset", "start", "floor"), TRIM_CASES, ids=[c[0] for c in TRIM_CASES])
def test_a_trim_moves_the_log_start_and_the_floor(name: str, offset: int, start: int, floor: int) -> None:
    store = MemoryStore()
    plog, machine = filled(store)
    assert machine.apply(6, encode_trim(offset)) == (0, start)
    assert (machine.log_start_offset, machine.log_floor, machine.next_offset) == (start, floor, 12)
    while plog.reclaim(1):
        pass
    store.commit()
    with store.read() as view:
        assert plog.read_state(view)["log_start_offset"] == start
    assert [last for last, _ in plog.index_rows(-1, 100)] == [last for last in (2, 5, 8, 11) if last >= start]


def test_trim_state_and_producers_survive_a_restart() -> None:
    store = MemoryStore()
    _, machine = filled(store)
    machine.apply(6, produce(2, producer_id=4, sequence=0))
    machine.apply(7, encode_trim(9))
    store.commit()
    again = PartitionMachine(PartitionLog(store, GID))
    assert again.state() == machine.state()
    assert again.apply(8, produce(2, producer_id=4, sequence=0)) == (0, 12), "the retry is still known"


def journal_with(store: MemoryStore, terms: list[int]) -> RaftJournal:
    journal = RaftJournal(store, GID)
    for i, term in enumerate(terms, start=1):
        journal.add(REGULAR + b"c%d" % i, i, term)
    journal.setRaftCommitIndex(len(terms))
    store.commit()
    return journal


def test_the_journal_discards_its_head_and_pysyncobj_sees_the_base_as_first_entry() -> None:
    store = MemoryStore()
    journal = journal_with(store, [1, 1, 2, 2, 2, 3])
    journal.discard_before(4)
    assert (journal.base_index, journal.first_index, journal.last_index, len(journal)) == (3, 3, 6, 4)
    assert journal[0] == (b"", 3, 2), "the base: index and term, no command"
    assert [e[1] for e in journal[0:4]] == [3, 4, 5, 6]
    assert journal.term_at(2) is None and journal.term_at(3) == 2
    assert journal.entries_from(1, 10, 1 << 20)[0][1] == 3
    journal.discard_before(3)  # below the base already: nothing happens
    assert journal.base_index == 3
    with pytest.raises(InvariantViolation):
        journal.discard_before(8)  # beyond the log's end


def test_discarded_rows_go_in_slices_and_a_restart_keeps_the_base() -> None:
    store = MemoryStore()
    journal = journal_with(store, [1] * 10)
    journal.discard_before(9)
    assert journal.reclaim(3) == 3 and journal.reclaim(3) == 3
    assert journal.reclaim(3) == 2, "fewer than the budget: done"
    assert journal.reclaim(3) == 0
    store.commit()
    again = RaftJournal(store, GID)
    assert (again.base_index, again.first_index, again.last_index, again.term_at(8)) == (8, 8, 10, 1)
    assert again.getRaftCommitIndex() == 10


def test_a_discarded_row_costs_the_budget_by_its_bytes_too() -> None:
    """A budget of rows alone let one slice delete a gigabyte of 1 MiB batches (issue 12's p99): a
    row costs 1 plus 1 per RECLAIM_ROW_BYTES of it; rows go while the budget is not spent, so the
    last one may overdraw it."""
    store = MemoryStore()
    journal = RaftJournal(store, GID)
    big = REGULAR + bytes(10 * RECLAIM_ROW_BYTES)
    for i in range(1, 7):
        journal.add(big if i <= 4 else REGULAR + b"small", i, 1)
    journal.setRaftCommitIndex(6)
    journal.discard_before(6)  # rows 1..5 go: four big, one small
    assert journal.reclaim(22) == 22, "two big rows of 11 each"
    assert len(list(store.scan(DB_JOURNAL, gid_u64_key(GID, 0), gid_u64_key(GID, 6)))) == 3
    assert journal.reclaim(1) == 11, "one row at least, whatever it costs"
    assert journal.reclaim(25) == 12, "the last big row and the small one: fewer than the budget, done"
    assert journal.reclaim(25) == 0
    assert [u64_of(k) for k, _ in store.scan(DB_JOURNAL, gid_u64_key(GID, 0), gid_u64_key(GID, 99))] == [6]


def test_a_restart_before_the_rows_are_deleted_still_hides_them() -> None:
    store = MemoryStore()
    journal = journal_with(store, [1] * 6)
    journal.discard_before(5)
    store.commit()
    again = RaftJournal(store, GID)
    assert again.entries_from(2, 10, 1 << 20)[0] == (b"", 4, 1)
    assert again.reclaim(100) == 4


def test_a_snapshot_replaces_a_log_that_does_not_reach_the_base() -> None:
    store = MemoryStore()
    journal = journal_with(store, [1, 1, 2, 2])
    journal.setRaftCommitIndex(2)
    journal.install_base(40, 5)
    assert (journal.base_index, journal.last_index, journal.getRaftCommitIndex()) == (40, 40, 2)
    journal.add(REGULAR + b"x", 41, 5)
    assert journal.term_at(41) == 5 and journal[-1][1] == 41
    assert journal.reclaim(100) == 4, "the old rows are deleted like discarded ones"


def test_a_snapshot_below_a_pending_reclaim_keeps_the_rows_it_brings() -> None:
    """A follower whose own discarded rows were not all deleted yet gets a snapshot whose rows floor
    is below them (a compacted log's batches): the old reclaim bound must not delete the new rows."""
    store = MemoryStore()
    journal = journal_with(store, [1] * 10)
    journal.discard_before(9)  # rows 1..8 wait for reclaim
    journal.install_base(40, 5, rows_floor=3)
    journal.put_raw_rows(3, 40, [(3, encode_row(1, REGULAR + b"kept-3")), (5, encode_row(1, REGULAR + b"kept-5"))])
    while journal.reclaim(100) >= 100:
        pass
    kept = [u64_of(k) for k, _ in store.scan(DB_JOURNAL, gid_u64_key(GID, 0), gid_u64_key(GID, 99))]
    assert kept == [3, 5], "rows below the new floor go, the snapshot's stay"


def test_a_snapshot_carries_the_index_state_and_producers_to_a_lagging_replica() -> None:
    leader_store, follower_store = MemoryStore(), MemoryStore()
    _, leader = filled(leader_store)
    leader.apply(6, produce(2, producer_id=4, sequence=0))
    leader.apply(7, encode_trim(4))
    flog, follower = partition(follower_store)
    low, high, rows = leader.snapshot_rows(-1, 2)
    assert (low, high, [last for last, _ in rows]) == (4, 8, [5, 8]), "from the batch holding the log start"
    follower.install_rows(low, high, rows)
    low, high, rows = leader.snapshot_rows(high, 2)
    follower.install_rows(low, high, rows)
    follower.install(leader.state(), leader.producers())
    follower_store.commit()
    assert follower.state() == leader.state()
    assert flog.index_rows(-1, 100) == leader.snapshot_rows(-1, 100)[2]
    assert [last for last, _ in flog.index_rows(-1, 100)] == [5, 8, 11, 13]
    assert follower.apply(8, produce(2, producer_id=4, sequence=0)) == (0, 12), "idempotence carried over"
    assert follower.apply(5, produce(1)) is None, "an entry the snapshot covers is not applied again"
    assert follower.apply(8, NO_OP) is None


# --- the follower's rule below the base ---------------------------------------------------------------
class BaseLog:
    """A log whose head was discarded: base ``first`` with its term, then entries."""

    def __init__(self, first: int, terms: list[int]) -> None:
        self.first, self.terms = first, terms

    @property
    def first_index(self) -> int:
        return self.first

    @property
    def last_index(self) -> int:
        return self.first + len(self.terms) - 1

    def term_at(self, idx: int) -> int | None:
        if idx < self.first or idx > self.last_index:
            return None
        return self.terms[idx - self.first]


def test_a_prev_below_the_base_matches_at_the_base() -> None:
    log = BaseLog(10, [3, 3, 4])  # base 10 (term 3), entries 11, 12
    sent = [(b"c%d" % i, i, 3 if i <= 11 else 4) for i in range(8, 14)]
    decision = on_append(log, 7, 2, sent, 13)
    assert decision == Accept(12, 4, [sent[-1]], None, 13)
    assert on_append(log, 5, 1, [], 9) == Accept(10, 3, [], None, 9)


def test_a_prev_below_the_base_of_an_unknown_term_is_a_mismatch() -> None:
    assert isinstance(on_append(BaseLog(10, [3, 3]), 12, 3, [], 9), Mismatch)


# --- the leader's snapshot bookkeeping ----------------------------------------------------------------
def test_the_leader_probes_at_its_base_before_it_sends_a_snapshot() -> None:
    p = FollowerProgress(match=0, next=1)
    assert not p.needs_snapshot(50) and p.next == 51, "first ask whether the follower reaches the base"
    assert p.on_reset(20, last_index=80, base_index=50)  # it does not: its log ends at 19
    assert p.needs_snapshot(50)
    snap = p.start_snapshot(1)
    assert p.room(80) == 0 and not p.on_reset(3, last_index=80, base_index=50), "nothing else meanwhile"
    assert snap.part_due(now=0.0, heartbeat_s=0.4)
    snap.note_part_sent(0.0, cursor=(0, 99))
    assert not snap.part_due(now=0.5, heartbeat_s=0.4) and snap.part_due(now=0.9, heartbeat_s=0.4)
    assert not p.on_snapshot_ack(1, 1, None), "an acknowledgement of a part not sent"
    assert not p.on_snapshot_ack(2, 0, None), "of another snapshot"
    assert p.on_snapshot_ack(1, 0, None) and (snap.cursor, snap.seq) == ((0, 99), 1)
    snap.note_part_sent(1.0, cursor=(0, 120))
    assert p.on_snapshot_ack(1, 1, 51)
    assert (p.snapshot, p.match, p.next, p.probing) == (None, 50, 51, False)
    assert p.room(80) > 0, "then entries stream from the base on"


def test_a_follower_that_reaches_the_base_gets_no_snapshot() -> None:
    p = FollowerProgress(match=0, next=1)
    p.needs_snapshot(50)
    p.on_success(70)
    assert not p.needs_snapshot(50) and p.match == 69


def test_a_follower_half_way_through_another_leaders_snapshot_gets_one_and_is_not_probed_meanwhile() -> None:
    """Simulator seed 8132: a follower whose log base is a snapshot it had not finished installing
    answered every probe with a hint (its base, then the entry after it, in turn), and each hint made
    the leader probe again at once: a ping-pong without end that duplicated messages multiplied."""
    p = FollowerProgress(match=0, next=25, probing=False)
    assert p.on_reset(16, last_index=24, base_index=0, snapshot_pending=14)  # its commit index is 14
    assert not p.on_reset(15, last_index=24, base_index=0, snapshot_pending=14), "no new probe at once"
    assert not p.needs_snapshot(0), "a leader that never discarded its head has no snapshot yet"
    assert not p.needs_snapshot(8), "a snapshot at 8 would take the follower's commit index back from 14"
    assert p.needs_snapshot(14), "once the leader's base is there, the snapshot goes (though next is above it)"
    p.start_snapshot(1)
    assert p.snapshot_pending is None and not p.on_reset(16, last_index=24, base_index=14, snapshot_pending=14)


# --- retention: which log start the oldest batches' age or the log's size asks for -----------------
def aged(store: MemoryStore, stamps: list[int], size: int = 100) -> PartitionLog:
    """One single-record batch per timestamp, each ``size`` bytes of value."""
    plog, machine = partition(store)
    for raft_index, ts in enumerate(stamps, start=2):
        machine.apply(raft_index, OP_NATIVE + encode_batch([(ts, None, b"x" * size, [])]))
    store.commit()
    return plog


# (batch timestamps, older than, keep bytes) -> new log start (None: nothing goes)
RETENTION_CASES = [
    ("nothing old", [500, 600, 700], 100, None, None),
    ("the two oldest", [100, 200, 700], 300, None, 2),
    ("all of them", [100, 200, 300], 1000, None, 3),
    ("only the head goes: an old batch after a new one stays", [100, 900, 200], 300, None, 1),
    ("no limits", [100, 200], None, None, None),
    ("size: the newest that fit (144-byte batches)", [1, 2, 3, 4], None, 300, 2),
    ("size: everything fits", [1, 2, 3, 4], None, 10_000, None),
    ("size: not even the newest fits", [1, 2, 3], None, 10, 3),
    ("either rule removes", [100, 200, 900, 950], 150, 300, 2),
]


@pytest.mark.parametrize(("name", "stamps", "older_than", "keep_bytes", "expected"), RETENTION_CASES,
                         ids=[c[0] for c in RETENTION_CASES])
def test_retention_target(name: str, stamps: list[int], older_than: int | None, keep_bytes: int | None,
                          expected: int | None) -> None:
    store = MemoryStore()
    plog = aged(store, stamps)
    with store.read() as view:
        assert plog.retention_target(view, older_than_ms=older_than, keep_bytes=keep_bytes) == expected


def test_size_counts_from_the_log_start() -> None:
    store = MemoryStore()
    plog = aged(store, [1, 2, 3, 4])
    with store.read() as view:
        whole = plog.size(view)
    machine = PartitionMachine(plog)
    machine.apply(6, encode_trim(2))
    store.commit()
    with store.read() as view:
        assert plog.size(view) * 2 == whole > 400


def test_a_learner_stays_one_across_restarts_until_promoted() -> None:
    store = MemoryStore()
    journal = RaftJournal(store, GID)
    assert not journal.existed and journal.learner is None
    journal.become_learner()
    store.commit()
    again = RaftJournal(store, GID)
    assert again.existed and again.learner == again.replica_id != "0", "a rebuilt replica is a new replica"
    again.end_learning()
    store.commit()
    assert RaftJournal(store, GID).learner is None


def test_a_follower_ahead_of_a_new_leaders_state_refuses_its_snapshot(tmp_path: Path) -> None:
    """Seed 427127's rule (``snapshot-from-a-leader-behind``, a mutant no seed of the simulator shows
    since its workload changed): a new leader that has not applied what a follower has would make the
    follower's index its older one; the follower refuses such a snapshot and the leader holds it back
    until its own state has caught up."""
    from tests.unit.test_raft_replication import Sim

    sim = Sim(tmp_path, machine=lambda store: PartitionMachine(PartitionLog(store, 7)))
    try:
        sim.elect(1)
        acks: list[object] = []
        for i in range(3):
            sim.submit(1, OP_NATIVE + encode_batch([(1000 + i, None, b"v", [])]), acks)
        sim.settle()
        follower = sim.groups[2]
        applied = follower.machine.last_applied
        last = follower.journal.last_index
        assert applied >= 4 and len(acks) == 3
        leader = follower._getLeader()
        term = follower.raftCurrentTerm

        def first_part(snapshot_id: int, leader_applied: int) -> list[dict[str, object]]:
            sim.net.in_flight.clear()
            follower._on_snapshot(leader, {"type": "kraft_snapshot", "term": term, "id": snapshot_id, "seq": 0,
                                           "begin": [last + 10, term, last + 10, leader_applied]})
            return [m for _src, _dst, m in sim.net.in_flight if m["type"] == "kraft_snapshot_ack"]

        [refused] = first_part(1, applied - 1)
        assert refused["restart"] and refused["applied"] == applied
        assert follower._receiving_snapshot is None and follower.journal.last_index == last
        [taken] = first_part(2, applied)
        assert "restart" not in taken and follower._receiving_snapshot == (term, 2)

        progress = FollowerProgress()
        progress.applied = sim.groups[1].machine.last_applied + 1
        assert sim.groups[1]._follower_state_ahead(progress)
        progress.applied -= 1
        assert not sim.groups[1]._follower_state_ahead(progress)
    finally:
        sim.close()
