"""Scripted fault schedules, and the mutants that show the checker can fail.

``empty-disk``: node 2 is cut off while nodes 1 and 3 acknowledge writes; node 3 loses its disk;
node 1 crashes. Were node 3 to rejoin as a voter (mutant ``wiped-node-votes``, the defect before
issue 13), it would vote for node 2, which lacks the writes it had acknowledged, and node 2's new
entries would overwrite them. As a learner it waits: writes stop until node 1 returns, and nothing
acknowledged is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from pysyncobj.syncobj import _RAFT_STATE

from kraft.log.compactor import CompactionPass
from kraft.log.entry import members_fields
from kraft.log.index_rows import emptied
from kraft.log.store import DB_OFFSETS
from kraft.raft import follower
from kraft.raft.election import VoteLedger
from kraft.raft.group import RaftGroup
from kraft.raft.journal import RaftJournal
from kraft.raft.membership import Action
from kraft.raft.progress import FollowerProgress
from kraft.raft.transport import MuxTransport
from kraft.state.partition import PartitionMachine, PartitionState, ProducerState
from tests.sim.cluster import SimConfig
from tests.sim.faults import Fault

EMPTY_DISK_CONFIG = SimConfig(nodes=3, partitions=1, duration_s=10.0)
EMPTY_DISK_SCHEDULE = [
    Fault(1.0, "cut", a=1, b=2, value=5.0),
    Fault(1.0, "cut", a=2, b=3, value=5.0),
    Fault(5.5, "wipe", a=3, value=0.2),
    Fault(5.9, "crash", a=1, value=30.0),
]

SCENARIOS: dict[str, tuple[SimConfig, list[Fault]]] = {
    "empty-disk": (EMPTY_DISK_CONFIG, EMPTY_DISK_SCHEDULE),
}


def _truncate_matching() -> Callable[[], None]:
    """pysyncobj's own follower rule (research/pysyncobj.md, Exp4a): drop every entry after prev
    whenever the log is longer, matching or not."""
    original = follower.on_append

    def on_append(log: follower.LogTerms, prev: int, prev_term: int, entries: list[follower.Entry],
                  leader_commit: int) -> follower.Mismatch | follower.Accept:
        decision = original(log, prev, prev_term, entries, leader_commit)
        if isinstance(decision, follower.Accept) and log.last_index > prev:
            return replace(decision, prev=prev, prev_term=prev_term, entries=list(entries),
                           truncate_from=prev + 1, commit_index=min(leader_commit, prev + len(entries)))
        return decision

    follower.on_append = on_append  # type: ignore[assignment]

    def undo() -> None:
        follower.on_append = original

    return undo


def _stale_reset_ignored() -> Callable[[], None]:
    """The leader's rule before seed 297: a reset below the match index is stale and ignored."""
    original = FollowerProgress.on_reset

    def on_reset(self: FollowerProgress, next_index: int, last_index: int, base_index: int = 0,
                 snapshot_pending: int | None = None) -> bool:
        if next_index - 1 < self.match:
            return False
        return original(self, next_index, last_index, base_index, snapshot_pending)

    FollowerProgress.on_reset = on_reset  # type: ignore[method-assign]

    def undo() -> None:
        FollowerProgress.on_reset = original  # type: ignore[method-assign]

    return undo


def _votes_counted_per_message() -> Callable[[], None]:
    """pysyncobj's rule before seed 5001: every response_vote message counts."""
    original = VoteLedger.first_vote
    VoteLedger.first_vote = lambda self, term, voter: True  # type: ignore[method-assign]

    def undo() -> None:
        VoteLedger.first_vote = original  # type: ignore[method-assign]

    return undo


def _snapshot_without_producers() -> Callable[[], None]:
    """A snapshot that forgets the producers' idempotence states (the follower's state diverges)."""
    original = PartitionMachine.install

    def install(self: PartitionMachine, state: PartitionState, producers: dict[int, ProducerState]) -> None:
        original(self, state, {})

    PartitionMachine.install = install  # type: ignore[method-assign]

    def undo() -> None:
        PartitionMachine.install = original  # type: ignore[method-assign]

    return undo


def _floor_from_unapplied_rows() -> Callable[[], None]:
    """A trim that takes its floor from any index row, even one a snapshot wrote ahead of what this
    replica applied (seed 525: replicas then discard different entries)."""
    original = PartitionMachine._trim

    def trim(self: PartitionMachine, raft_index: int, offset: int) -> int:
        offset = min(offset, self.next_offset)
        if offset <= self.log_start_offset:
            return self.log_start_offset
        kept = self._store.batch_at(offset)
        self.log_start_offset = offset
        self.log_floor = raft_index if kept is None else kept[0]
        self._store.trim_index(offset)
        return offset

    PartitionMachine._trim = trim  # type: ignore[method-assign]

    def undo() -> None:
        PartitionMachine._trim = original  # type: ignore[method-assign]

    return undo


def _snapshot_producers_by_reference() -> Callable[[], None]:
    """The leader's snapshot holds its live producer states, encoded only when the iteration ends,
    after later applies changed them (seed 315: the follower's state is from two moments)."""
    original = PartitionMachine.producers
    PartitionMachine.producers = lambda self: self._producers  # type: ignore[method-assign]

    def undo() -> None:
        PartitionMachine.producers = original  # type: ignore[method-assign]

    return undo


def _emptied_index_rows_deleted() -> Callable[[], None]:
    """Compaction deletes an emptied batch's index row (seed 34): a trim's floor then depends on how
    far each replica's compaction has got, and replicas discard different entries."""
    original = CompactionPass._rewrite

    def rewrite(self: CompactionPass, raft_index: int, base: int, index_key: bytes, index_row: bytes,
                row: bytes) -> None:
        original(self, raft_index, base, index_key, index_row, row)
        stored = self.store.get(DB_OFFSETS, index_key)
        if stored is not None and emptied(bytes(stored)):
            self.store.delete(DB_OFFSETS, index_key)

    CompactionPass._rewrite = rewrite  # type: ignore[method-assign]

    def undo() -> None:
        CompactionPass._rewrite = original  # type: ignore[method-assign]

    return undo


def _wiped_node_votes() -> Callable[[], None]:
    """A node that lost its disk rejoins its groups as a voter at once (issue 13's defect): it
    forgot its vote and the entries it acknowledged."""
    original = RaftJournal.become_learner
    RaftJournal.become_learner = lambda self: None  # type: ignore[method-assign]

    def undo() -> None:
        RaftJournal.become_learner = original  # type: ignore[method-assign]

    return undo


def _elect_with_half() -> Callable[[], None]:
    """The voters' election rule off by one: half the voters elect (a majority of 3, but 2 of 4, the
    size of a group in the middle of a move), so two candidates can win one term."""
    original = RaftGroup._count_votes

    def count_votes(self: RaftGroup) -> None:
        if self._SyncObj__raftState != _RAFT_STATE.CANDIDATE or self.self_id not in self._voters:
            return
        votes = 1 + len(self._votes.voters_in(self.raftCurrentTerm) & (self._voters - {self.self_id}))
        if votes * 2 >= len(self._voters):
            self._SyncObj__onBecomeLeader()

    RaftGroup._count_votes = count_votes  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._count_votes = original  # type: ignore[method-assign]

    return undo


def _any_replica_counts() -> Callable[[], None]:
    """A configuration counts a node's votes and acknowledgements whichever replica of it answers:
    a node removed and added again (its replica rebuilt, empty) then counts as the voter it was."""
    original = RaftGroup._counts
    RaftGroup._counts = lambda self, node_id, replica_id: node_id in self._voter_ids  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._counts = original  # type: ignore[method-assign]

    return undo


def _no_pre_vote() -> Callable[[], None]:
    """Elections before seed 30044: a replica stands whenever its election timer fires."""
    original = RaftGroup._pre_vote
    RaftGroup._pre_vote = lambda self: None  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._pre_vote = original  # type: ignore[method-assign]

    return undo


def _uncommitted_configuration_acted_on() -> Callable[[], None]:
    """A move (or the metadata group's voter keeping) acts on a configuration only appended, as
    before seed 401241: the move is called finished and the removed voter's replica destroyed while
    the change may still be truncated away, leaving the committed configuration without a majority."""
    original = RaftGroup.configuration_committed
    RaftGroup.configuration_committed = lambda self: True  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup.configuration_committed = original  # type: ignore[method-assign]

    return undo


def _applied_configuration_pending_again() -> Callable[[], None]:
    """A MEMBERS entry appended after a snapshot whose state already applied it (the leader's state
    reaches past its log base) waits to be applied again, forever: the group's configuration never
    counts as committed, so a move through that replica's leadership never finishes (seed 402210)."""
    original = RaftGroup._on_members_appended

    def appended(self: RaftGroup, idx: int, command: bytes) -> None:
        voters, learners, _promoted = members_fields(command)
        self._pending_configs.append((idx, (voters, learners)))
        self._take_effect(voters, learners)

    RaftGroup._on_members_appended = appended  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._on_members_appended = original  # type: ignore[method-assign]

    return undo


def _replies_before_fsync() -> Callable[[], None]:
    """Every message leaves before the store commit, followers' acknowledgements and votes too: a
    node that dies inside its iteration (``--crashes-inside-iterations``) has vouched for entries and
    votes its disk never got."""
    original = MuxTransport.may_leave_early
    MuxTransport.may_leave_early = lambda self, message: True  # type: ignore[method-assign]

    def undo() -> None:
        MuxTransport.may_leave_early = original  # type: ignore[method-assign]

    return undo


def _early_commit_unclamped() -> Callable[[], None]:
    """A leader's early appends carry its commit index even where it counts entries its own store
    does not hold yet (a group whose only voter is the leader, and its learners)."""
    original = RaftGroup._sendable_commit
    RaftGroup._sendable_commit = lambda self, commit: commit  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._sendable_commit = original  # type: ignore[method-assign]

    return undo


def _lost_voter_removed() -> Callable[[], None]:
    """The metadata voter keeping before seed 902: a voter that stops voting is removed from the
    group rather than demoted to a learner, so a decommissioned voter lost while it was drained is
    out of the group for good with the view it had when it went down."""
    original = RaftGroup.propose_membership

    def propose_membership(self: RaftGroup, action: Action, node_id: int) -> bool:
        return original(self, Action.REMOVE if action is Action.DEMOTE else action, node_id)

    RaftGroup.propose_membership = propose_membership  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup.propose_membership = original  # type: ignore[method-assign]

    return undo


def _left_when_log_holds_commit() -> Callable[[], None]:
    """The rule before seed 70 with decommissions: a decommissioned node leaves the metadata group
    once its log holds the leader's commit index, whether or not it has learnt that the index is
    committed (and so applied it)."""
    original = RaftGroup.follower_applied

    def follower_applied(self: RaftGroup, node_id: int, index: int) -> bool:
        progress = self._progress.get(node_id) if self._progress.term == self.raftCurrentTerm else None
        return progress is not None and progress.match >= max(index, self.raftCommitIndex)

    RaftGroup.follower_applied = follower_applied  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup.follower_applied = original  # type: ignore[method-assign]

    return undo


def _snapshot_from_a_leader_behind() -> Callable[[], None]:
    """The rule before seed 427127: a follower takes a snapshot whatever the leader has applied. A new
    leader behind the follower's state then sends index rows that delete batches the follower
    applied, and a state it does not install: its next trim takes its floor from another batch."""
    original = RaftGroup._on_snapshot

    def on_snapshot(self: RaftGroup, node: object, message: dict[str, object]) -> None:
        begin = message.get("begin")
        if isinstance(begin, list):
            message = {**message, "begin": begin[:3]}
        original(self, node, message)  # type: ignore[arg-type]

    original_ahead = RaftGroup._follower_state_ahead
    RaftGroup._on_snapshot = on_snapshot  # type: ignore[method-assign]
    RaftGroup._follower_state_ahead = lambda self, progress: False  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._on_snapshot = original  # type: ignore[method-assign]
        RaftGroup._follower_state_ahead = original_ahead  # type: ignore[method-assign]

    return undo


def _promoted_learner_not_counted() -> Callable[[], None]:
    """The commit rule before seed 460019: a replica whose replies say "learner" (after a lost disk)
    never counts, even once the configuration in effect names it as a voter; a promotion then never
    commits while another voter is a learner too."""
    original = RaftGroup._promoted_by_configuration
    RaftGroup._promoted_by_configuration = lambda self, node_id: False  # type: ignore[method-assign]

    def undo() -> None:
        RaftGroup._promoted_by_configuration = original  # type: ignore[method-assign]

    return undo


MUTANTS: dict[str, Callable[[], Callable[[], None]]] = {
    "promoted-learner-not-counted": _promoted_learner_not_counted,
    "snapshot-from-a-leader-behind": _snapshot_from_a_leader_behind,
    "lost-voter-removed": _lost_voter_removed,
    "left-when-log-holds-commit": _left_when_log_holds_commit,
    "replies-before-fsync": _replies_before_fsync,
    "early-commit-unclamped": _early_commit_unclamped,
    "applied-configuration-pending-again": _applied_configuration_pending_again,
    "uncommitted-configuration-acted-on": _uncommitted_configuration_acted_on,
    "no-pre-vote": _no_pre_vote,
    "any-replica-counts": _any_replica_counts,
    "elect-with-half": _elect_with_half,
    "wiped-node-votes": _wiped_node_votes,
    "emptied-index-rows-deleted": _emptied_index_rows_deleted,
    "snapshot-producers-by-reference": _snapshot_producers_by_reference,
    "snapshot-without-producers": _snapshot_without_producers,
    "floor-from-unapplied-rows": _floor_from_unapplied_rows,
    "truncate-matching": _truncate_matching,
    "stale-reset-ignored": _stale_reset_ignored,
    "votes-counted-per-message": _votes_counted_per_message,
}


@contextmanager
def mutant(name: str | None) -> Iterator[None]:
    undo = MUTANTS[name]() if name else (lambda: None)
    try:
        yield
    finally:
        undo()
