"""Leaders' AppendEntries leave before the store commit (``GroupDriver.run_iteration``), everything
else after it: which messages may go early, that the commit index they carry never covers entries
the leader's store does not hold yet, and the driver's order. The simulator's
``--crashes-inside-iterations`` runs crash nodes inside that window (mutants ``replies-before-fsync``
and ``early-commit-unclamped`` break these rules on purpose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kraft.raft.driver import GroupDriver
from tests.unit.test_raft_replication import Sim


def test_a_leaders_appends_go_early_and_replies_and_votes_wait(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    try:
        sim.elect(1)
        for facade in sim.facades.values():
            facade.early.clear()
        acks: list[Any] = []
        sim.submit(1, b"a", acks)
        sim.settle()
        assert acks, "the write was acknowledged"
        sent = {(n, kind, early) for n, f in sim.facades.items() for _, kind, early in f.early}
        assert (1, "append_entries", True) in sent
        assert {(n, kind) for n, kind, early in sent if early} == {(1, "append_entries")}, \
            "only the leader's appends may leave before its fsync"
        assert {(2, "next_node_idx", False), (3, "next_node_idx", False)} <= sent
        # A new election: vote requests and votes vouch for a term and vote on disk.
        for facade in sim.facades.values():
            facade.early.clear()
        sim.elect(2)
        votes = [(kind, early) for f in sim.facades.values() for _, kind, early in f.early if "vote" in kind]
        assert votes and not any(early for _, early in votes), votes
    finally:
        sim.close()


def test_early_appends_never_carry_a_commit_index_past_the_leaders_stored_log(tmp_path: Path) -> None:
    """Node 1 is the only voter, so its own copy is a majority: the entry is committed (and applied)
    in the tick that appends it. Its appends to the learners leave before its fsync and must not
    tell them so until the store commit: a crash of node 1 could still undo the entry."""
    sim = Sim(tmp_path, learners=(2, 3))
    try:
        group = sim.groups[1]
        group.bring_election_forward(0)
        sim.tick(1)
        sim.settle()
        assert group.is_leader()
        stored = group.journal.last_index
        sim.net.in_flight.clear()
        group.submit(b"a", lambda _outcome: None)
        for _ in range(3):
            group.doTick(0)  # no note_durable: the store commit has not happened yet
        assert group.commit_index() > stored, "a lone voter commits at once"
        appends = [m for _, _, m in sim.net.in_flight if m["type"] == "append_entries"]
        assert appends, "the learners were sent the entry"
        assert all(m["commit_index"] <= stored for m in appends), \
            [m["commit_index"] for m in appends]
        group.note_durable()  # the store commit: now the commit index may travel
        group._SyncObj__newAppendEntriesTime = 0
        group._hb_deadline = 0
        sim.net.in_flight.clear()
        group.doTick(0)
        assert any(m["type"] == "append_entries" and m["commit_index"] == group.commit_index()
                   for _, _, m in sim.net.in_flight)
    finally:
        sim.close()


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    # the store
    def has_writes(self) -> bool:
        return True

    def commit(self) -> bool:
        self.calls.append("commit")
        return True

    # the host
    def release_early(self) -> None:
        self.calls.append("release_early")


def test_the_driver_releases_early_sends_before_it_commits_the_store() -> None:
    recorder = _Recorder()
    driver = GroupDriver(host=recorder, store=recorder, tick_interval_s=0.1)  # type: ignore[arg-type]
    driver.outbox.release = lambda: recorder.calls.append("outbox")  # type: ignore[method-assign]
    driver.run_iteration(0.0)
    assert recorder.calls == ["release_early", "commit", "outbox"]
