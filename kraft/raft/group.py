"""One Raft group: a pysyncobj ``SyncObj`` driven by the node's RaftHost, with kraft's own rules
at its seams.

Owns: the pysyncobj configuration kraft relies on, and the adapter between pysyncobj's internals and
kraft's pure Raft rules:
- elections: a vote counts once per voter and term (``raft.election``; pysyncobj counts messages);
- follower side, AppendEntries: ``raft.follower`` decides (strip matching entries, truncate only at a
  real conflict, point the leader at the conflicting term, clamp the commit index); this module
  rewrites the message pysyncobj then handles and arms the journal's truncation guard;
- leader side, replication: ``raft.progress`` tracks each follower (probe / stream / in-flight
  window; stale replies never rewind it); this module sends what it allows and mirrors match and
  next indexes into pysyncobj, whose commit rule (a majority of matches in the current term) stands;
  what a partition group sends to a learner (entries and snapshot parts) is paced by the node's one
  ``raft.throttle`` bucket: a send waits for tokens and the tick retries it; voters never wait;
- apply: commands are kraft's own bytes (never pickle), handed to a state machine with their Raft
  index so the machine can skip entries it already applied before a restart; outcomes go to the
  host's outbox, released only after the fsync that covers them;
- the head of the log: a machine that keeps its data in the log (``LogMachine``: the partition's
  record log) says from which entry on it still needs it (``log_floor``); the journal discards the
  rest at that apply, on every replica alike, and ``reclaim`` deletes the rows in slices. A follower
  whose log does not reach the leader's base gets a **snapshot** instead of entries: the machine's
  rows in parts (``kraft_snapshot``, each acknowledged by ``kraft_snapshot_ack`` before the next),
  the last part with its state at the leader's last applied entry and the base; the follower's log
  becomes the base alone, its machine takes the state, and the entries after the base follow as
  usual (those it already holds in the state are skipped by the machine, as after a restart);
- **membership**: the group's configuration is its voters and learners; it changes only by
  ``MEMBERS`` commands in its own log, each the whole configuration that results from one change (a
  learner added, promoted or removed; a voter removed), one at a time, each taking effect as soon
  as it is in the log, committed or not (Raft §4.1: a configuration is used once appended, and a
  truncation that removes it restores the one before), proposed only once the last one is applied
  (``propose_membership`` refuses a second while one is on its way, and before the leadership's
  first entry is applied); the applied one is persisted with the journal and carried by snapshots,
  the ones after it are found in the log again at start-up. Commits
  and elections count the voters only (the leader computes both itself: pysyncobj divides by every
  member); ``raft.membership`` orders the steps of a move;
- **learners**: a replica that is a learner in the configuration, or whose journal says it is one
  (its node lost its disk, and with it this group's log and vote), never stands for election; a
  leader does not count its acknowledgements toward a commit (the lost disk's learner marks its
  replies, the configuration names the others). The lost disk's
  learner never votes either (it forgot its votes); a learner by configuration does (it may already
  be a voter by a promotion it has not received; candidates count their voters' votes only). A
  lost disk's learner is promoted by its leader once its log holds the leader's commit index of
  the leader's own term (so it covers everything committed before): a ``MEMBERS`` entry naming it
  (node, disk) as promoted, committed by a majority of the voters and applied by the learner, makes
  it a voter again, having
  voted for that leader in that term. A committed promotion is what makes this safe where a
  replica promoting itself is not: an election that counted the lost disk's old vote can win only
  with a log that already holds the promotion (research/pysyncobj.md "Membership"). Replies carry
  the replier's disk id: a leader that sees a follower answer from a new disk starts its progress
  again (nothing the old disk acknowledged holds).
- **quiescence** (partition groups): an idle group must cost next to nothing, so a leader whose
  followers all hold its whole log and its commit index, with nothing to propose, apply or send, for
  ``QUIESCE_AFTER_S``, sends them one last heartbeat marked ``quiesce`` and stops ticking; a follower
  that gets it holding the same log, all of it applied, stops too (no election timer). Nothing in
  Raft's rules changes: a quiescent group wakes at the first sign of anything (a proposal, any
  message but the quiesce heartbeat and its replies, a member's node connecting or disconnecting,
  a transfer or an earlier election asked for) and goes on as a normal group; the node's
  connection to a quiescent leader stands in for its heartbeats (the host closes a silent
  connection, and a follower whose leader's node disconnects wakes and elects).
- **failover on a closed connection** (``LEADER_GONE_SPREAD_S``): when the leader's node
  disconnects, one surviving voter per group (ranked by group id, so the dead node's leaderships
  spread over the survivors) stands within a fraction of a second and the others wait a full election
  timeout; its peers forget they heard that leader, so they grant the pre-vote. A disconnect is only
  a hint: pre-votes and votes decide as ever, and a leader still reachable keeps its followers.
Must not: touch sockets (the MuxTransport does) or commit store transactions (the host does).
Time is read from ``raft.clock`` (the node's or the simulator's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pysyncobj.syncobj as _pso
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.config import FAIL_REASON
from pysyncobj.node import Node
from pysyncobj.syncobj import _RAFT_STATE

from kraft.log.entry import MEMBERS, OP_COMPACT, REGULAR, encode_members, members_fields
from kraft.log.entry import intact as _intact
from kraft.raft import clock, follower
from kraft.raft.election import VoteLedger, grants_pre_vote
from kraft.raft.journal import INITIAL_REPLICA, RaftJournal
from kraft.raft.membership import Action
from kraft.raft.outbox import OnOutcome, Outbox, outcome_of
from kraft.raft.progress import FollowerProgress, LeaderProgress
from kraft.raft.proposals import Joiner, ProposalQueue
from kraft.raft.stats import RaftStats
from kraft.raft.throttle import LearnerThrottle
from kraft.raft.transport import MuxTransport

log = logging.getLogger(__name__)

APPEND_MAX_BYTES = 2 * 1024 * 1024  # one AppendEntries (always at least one entry)
SNAPSHOT_PART_ROWS = 16_384  # machine rows per snapshot part (index rows: ~40 bytes each)
SNAPSHOT_PART_JOURNAL_ROWS = 256  # journal rows (compacted batches) per snapshot part
# An idle partition group stops ticking after this long without a change (two heartbeats: the
# followers have heard the last commit index by then).
QUIESCE_AFTER_S = 1.0
# A follower whose leader's node disconnected (its connection closed: the node died or restarted)
# need not wait out an election timeout. The surviving voter first in the group's order stands within
# this spread (the groups of one dead node spread their elections over it rather than all at once);
# the others keep a full timeout, so they do not split the vote and still stand if the first cannot.
LEADER_GONE_SPREAD_S = 0.3
PROMOTE_RETRY_S = 5.0  # a leader proposes a lost disk's promotion again if it is still a learner then
Configuration = tuple[dict[int, str], set[int]]  # voters (node -> replica id) and learners
# A follower's base term while it installs a snapshot: no leader's log matches it (nor the -1 that a
# rewritten mismatch sends pysyncobj as prevLogTerm, or pysyncobj would accept it).
PENDING_TERM = -2


class _NullPoller:
    """The host polls every socket itself; a group's own ``poll()`` must do nothing."""

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        pass

    def unsubscribe(self, *args: Any, **kwargs: Any) -> None:
        pass

    def poll(self, timeout: float) -> None:
        pass


def _install_seams() -> None:
    # The journal object travels in conf.journalFile; pysyncobj's factory only knows files.
    orig_create_journal = _pso.createJournal

    def create_journal(journal_file: Any) -> Any:
        if isinstance(journal_file, RaftJournal):
            return journal_file
        return orig_create_journal(journal_file)

    _pso.createJournal = create_journal
    _pso.createPoller = lambda *_a, **_k: _NullPoller()
    # One wake-up pipe per host, not one per group: RaftGroup._applyCommand wakes the host.
    _pso.PIPE_NOTIFIER_ENABLED = False
    # pysyncobj announces a truncation it is about to ask for; kraft's journal refuses those that
    # would remove matching entries (and logs real conflicts itself), so the line would only alarm.
    logging.getLogger("pysyncobj.syncobj").addFilter(
        lambda record: not record.getMessage().startswith("truncating already-applied log entries"))


_install_seams()


class StateMachine(Protocol):
    def apply(self, raft_index: int, command: bytes) -> Any: ...

    @property
    def last_applied(self) -> int: ...


@runtime_checkable
class LogMachine(Protocol):
    """A state machine whose data is the log itself: it says which entries it still needs, and can
    copy its state to a replica whose log does not reach them (``PartitionMachine``)."""

    log_floor: int  # the first Raft index whose row the record log needs (0: every entry)

    @property
    def raft_floor(self) -> int: ...  # the first Raft index Raft may still read (above: compacted)

    @property
    def compaction_epoch(self) -> int: ...  # changes whenever rows below the Raft floor are rewritten

    def compaction_settled(self) -> bool: ...  # no rewrite in progress here

    def snapshot_rows(self, after: int, max_rows: int) -> tuple[int, int, list[tuple[int, bytes]]]: ...

    def install_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None: ...

    def snapshot_state(self) -> Any: ...

    def producers(self) -> Any: ...

    def install(self, state: Any, producers: Any) -> None: ...

    def reclaim(self, budget: int) -> int: ...

    def apply(self, raft_index: int, command: bytes, term: int = 0) -> Any:
        """As ``StateMachine.apply``, with the Raft term of the entry (a partition's leader epochs)."""
        ...


class GroupTimers:
    """Raft timing of every group on a node (seconds), the node's one pacing of what its
    partition groups send to learners (``raft.throttle``; None or rate 0: unthrottled), and the
    node's Raft counters (``raft.stats``), which every group shares."""

    def __init__(self, heartbeat_s: float, election_min_s: float, election_max_s: float,
                 learner_throttle: LearnerThrottle | None = None, stats: RaftStats | None = None) -> None:
        self.heartbeat_s = heartbeat_s
        self.election_min_s = election_min_s
        self.election_max_s = election_max_s
        self.learner_throttle = learner_throttle
        self.stats = stats  # the node's Raft counters (elections); None: not counted


class RaftGroup(SyncObj):
    # pysyncobj is untyped: the types of the SyncObj state and methods this adapter relies on
    # (declarations only; the attributes and methods are SyncObj's).
    _SyncObj__raftCommitIndex: int
    _SyncObj__raftLastApplied: int
    if TYPE_CHECKING:
        def _isLeader(self) -> bool: ...

    def __init__(
        self,
        gid: int,
        self_id: int,
        members: list[int],
        journal: RaftJournal,
        machine: StateMachine,
        transport_factory: Callable[..., MuxTransport],
        timers: GroupTimers,
        outbox: Outbox,
        forward_to_leader: bool = False,
        learners: list[int] | None = None,
        joiner: Joiner | None = None,
    ) -> None:
        """``members``: the voters the group was created with, ``learners`` its learners then (a
        replica added by a move); once a membership command has been applied, the journal's
        configuration replaces both. ``joiner``: which queued proposals become one entry
        (``kraft.raft.proposals``)."""
        self.gid = gid
        self.self_id = self_id
        # A replica the group was created with has the initial replica id; one added later (a move's
        # learner) or rebuilt after a lost disk (become_learner) a random one.
        self.replica_id = journal.assign_replica_id(initial=self_id not in (learners or ()))
        config = journal.config
        # The configuration as of the last applied MEMBERS entry, and the entries after it in the log
        # (index, voters, learners): the last of those is the one in effect.
        self._applied_config: Configuration = (
            ({m: INITIAL_REPLICA for m in members}, set(learners or ())) if config is None
            else (dict(config[0]), set(config[1])))
        self._pending_configs: list[tuple[int, Configuration]] = []
        for idx, command in journal.members_after(machine.last_applied):
            voter_ids, config_learners, _promoted = members_fields(command)
            self._pending_configs.append((idx, (voter_ids, config_learners)))
        effective = self._effective_config()
        # Voters by node and the replica id whose votes and acknowledgements count ("": any).
        self._voter_ids: dict[int, str] = dict(effective[0])
        self._voters: set[int] = set(self._voter_ids)
        self._config_learners: set[int] = set(effective[1])
        self._config_pending = False  # leader: a membership command proposed and not applied yet
        self._config_pending_term = -1
        self.members = sorted(self._voters | self._config_learners)
        self.journal = journal
        self.machine = machine
        self.outbox = outbox
        self._progress = LeaderProgress()
        self._votes = VoteLedger()
        self._pre_vote_term = -1  # the term of the pre-vote this replica last asked for
        self._pre_vote_grants: set[int] = set()  # voters that said yes to it
        self._forward = forward_to_leader
        self._hb_deadline = 0.0
        self._log_machine = machine if isinstance(machine, LogMachine) else None
        self._snapshots_sent = 0
        self._receiving_snapshot: tuple[int, int] | None = None  # follower: (term, id) whose parts it takes
        self._installed_snapshot: tuple[int, int] | None = None  # follower: the last one it installed
        self._learners: dict[int, str] = {}  # leader: node -> disk id, from each node's latest reply
        self._rids: dict[int, str] = {}  # node -> the replica its latest reply came from
        self._leader_heard_at = float("-inf")  # when an AppendEntries of a current leader last came
        self._promoting: dict[tuple[int, str], float] = {}  # leader: (node, disk) -> when to propose again
        self.reclaim_pending = True  # a restart may have left discarded rows behind
        # Quiescence (see the module docstring): the driver does not tick a quiescent group.
        self.quiescent = False
        # Partition groups only: the metadata group's traffic is what keeps every node's view fresh.
        self.may_quiesce = self._log_machine is not None and not forward_to_leader
        self._idle_state: tuple[int, int, int] = (-1, -1, -1)  # leader: (last, commit, term) last seen
        self._idle_since = 0.0
        self._quiesce_asked: tuple[int, int] | None = None  # follower: (term, leader's last index)
        # Sends to learners are paced by the node's bucket, partition groups only: the metadata
        # group's followers need every change promptly, and its log is small.
        throttle = timers.learner_throttle
        paced = throttle is not None and throttle.enabled and self._log_machine is not None
        self._throttle = throttle if paced else None
        self._held_back: set[int] = set()  # leader: learners a send waited for tokens (retried each tick)
        conf = SyncObjConf(
            autoTick=False,
            appendEntriesUseBatch=False,  # batching adds a 100 ms commit floor
            appendEntriesPeriod=timers.heartbeat_s,
            raftMinTimeout=timers.election_min_s,
            raftMaxTimeout=timers.election_max_s,
            connectionTimeout=timers.election_max_s + 0.5,
            leaderFallbackTimeout=timers.election_max_s,  # check quorum: a cut-off leader steps down
            appendEntriesBatchSizeBytes=1 << 40,  # chunked transmission never used (buggy, Exp6b)
            logCompactionMinEntries=1 << 62,  # pysyncobj snapshots off: they would destroy the log
            logCompactionMinTime=1 << 40,
            commandsWaitLeader=False,  # no leader -> fail fast, the client retries
            dynamicMembershipChange=False,
            journalFile=journal,
            onStateChanged=self._state_changed_counter(timers.stats),
        )
        others = [Node(str(m)) for m in self.members if m != self_id]
        super().__init__(Node(str(self_id)), others, conf=conf, transportClass=transport_factory)
        self._SyncObj__commandsQueue = ProposalQueue(conf.commandsQueueSize, joiner)  # no lock (kraft.raft.proposals)
        self._transport: MuxTransport = self._SyncObj__transport
        journal.on_members_appended = self._on_members_appended
        journal.on_truncated = self._on_truncated
        # Do not re-apply from index 1 after a restart: the machine persisted how far it got.
        applied = max(1, machine.last_applied)
        self._SyncObj__raftLastApplied = applied
        self._durable_applied = applied  # applied and committed to the store (readers see it)
        # The log's last index as of the last store commit: entries after it may not survive a crash
        # (a leader's appends leave before its fsync, see ``_send_append``).
        self._durable_last = journal.last_index
        # After a snapshot the machine may be ahead of the log (the entries it covers are still on
        # their way): the commit index never points past the log.
        if self._SyncObj__raftCommitIndex < min(applied, journal.last_index):
            self._SyncObj__raftCommitIndex = min(applied, journal.last_index)

    @staticmethod
    def _state_changed_counter(stats: RaftStats | None) -> Callable[[int, int], None] | None:
        """pysyncobj's state-change callback, counting elections stood and won into ``stats``."""
        if stats is None:
            return None

        def changed(_old: int, new: int) -> None:
            stats.state_changed(candidate=new == _RAFT_STATE.CANDIDATE, leader=new == _RAFT_STATE.LEADER)

        return changed

    # --- proposals --------------------------------------------------------------------------------
    def submit(self, payload: bytes, on_outcome: OnOutcome | None = None) -> None:
        """Propose ``payload`` (any thread). ``on_outcome`` runs on the driver thread once the entry is
        applied here and the store commit covering it is done, or once it is refused."""
        callback = None
        if on_outcome is not None:
            outbox = self.outbox

            def callback(result: Any, reason: int) -> None:
                outbox.proposal_done(on_outcome, outcome_of(result, reason))

        self._applyCommand(REGULAR + payload, callback)

    def propose_through_peers(self, payload: bytes) -> None:
        """Driver thread: send ``payload`` to every member this replica knows, for whichever of them
        leads to propose it (a follower passes it on to its leader: pysyncobj's ``apply_command``
        without a request id). For a replica that no leader knows yet (a node added to the cluster:
        it hears no leader until the group has it as a learner) and idempotent commands only: every
        copy that reaches a leader is proposed."""
        for node in list(self._SyncObj__otherNodes):
            self._transport.send(node, {"type": "apply_command", "command": REGULAR + payload})

    def _checkCommandsToApply(self) -> None:
        if self._forward or self._isLeader():
            super()._checkCommandsToApply()
            return
        # pysyncobj would forward to the leader and might later report LEADER_CHANGED for a write
        # the leader did commit; a client retrying that would write twice. Refuse definitely instead.
        queue = self._SyncObj__commandsQueue
        while True:
            try:
                _command, callback = queue.get_nowait()
            except Exception:
                return
            if callback is not None and not isinstance(callback, tuple):
                callback(None, FAIL_REASON.NOT_LEADER)

    def _applyCommand(self, command: Any, callback: Any, commandType: Any = None) -> None:
        super()._applyCommand(command, callback, commandType)
        self._transport.wake()

    # --- membership and learners ------------------------------------------------------------------
    def is_learner(self) -> bool:
        """This replica may not vote nor count toward a commit: it lost its disk and is catching
        up, or the group's configuration has it as a learner (or not at all: it was removed)."""
        return self.journal.learner is not None or not self._counts(self.self_id, self.replica_id)

    def _counts(self, node_id: int, replica_id: object) -> bool:
        """Whether ``node_id``'s replica ``replica_id`` is one of the configuration's voters (a
        node's replica removed and added again, or rebuilt after a lost disk, is another replica:
        a configuration that knew the old one must not count the new one's votes or acks)."""
        wanted = self._voter_ids.get(node_id)
        return wanted is not None and (wanted == "" or wanted == replica_id)

    def configuration(self) -> tuple[frozenset[int], frozenset[int]]:
        """(voters, learners) in effect: as of the last membership command in the log."""
        return frozenset(self._voters), frozenset(self._config_learners)

    def committed_configuration(self) -> tuple[frozenset[int], frozenset[int]]:
        """(voters, learners) as of the last membership change applied (so committed): what the group
        is known to be, as operators are told (a change only appended may yet be truncated away)."""
        voters, learners = self._applied_config
        return frozenset(voters), frozenset(learners)

    def configuration_committed(self) -> bool:
        """Whether the configuration in effect is committed: a membership change only appended to
        this log still counts for elections and commits (Raft's rule) but may be truncated away, so
        a move or the metadata group's voter keeping must not act on it (call it finished, drop the
        replicas it removed) until it is committed and applied."""
        return not self._pending_configs

    def caught_up_learner(self, node_id: int) -> str | None:
        """Leader: the disk id of ``node_id`` if it is a learner whose log holds this leader's commit
        index of its own term (ready to be promoted); else None."""
        disk = self._learners.get(node_id)
        if disk is None and node_id in self._config_learners:
            disk = self._rids.get(node_id)
        progress = self._progress.get(node_id) if self._progress.term == self.raftCurrentTerm else None
        noop = self._SyncObj__noopIDx
        commit = self.raftCommitIndex
        if disk is None or progress is None or noop is None or commit < noop or progress.match < commit:
            return None
        return disk

    def follower_applied(self, node_id: int, index: int) -> bool:
        """Leader: whether ``node_id``'s replica has applied ``index`` by its replies to this
        leadership (its state, a view of the metadata say, shows everything up to there, durably).
        A node whose replies do not say (from before they did): whether its log holds this leader's
        commit index, the nearest the leader can tell."""
        progress = self._progress.get(node_id) if self._progress.term == self.raftCurrentTerm else None
        if progress is None:
            return False
        if progress.says_applied:
            return progress.applied is not None and progress.applied >= index
        return progress.match >= max(index, self.commit_index())

    def follower_caught_up(self, node_id: int) -> bool:
        """Leader: ``node_id`` holds this leader's whole log (a leadership transfer may go to it)."""
        progress = self._progress.get(node_id) if self._progress.term == self.raftCurrentTerm else None
        return progress is not None and node_id not in self._learners and progress.match == self.journal.last_index

    def propose_membership(self, action: Action, node_id: int) -> bool:
        """Leader: propose one membership change (add ``node_id`` as a learner, promote it, demote it
        to a learner, remove it) as the whole configuration that results, only when this leadership
        has applied its own first entry and no other change is on its way (Raft's
        one-change-at-a-time rule; configurations take effect when applied). False: not now, or
        nothing to change. A demotion, like a removal, takes one voter away (a single-server change);
        the demoted replica keeps its place among the members, so the log keeps reaching it."""
        term = self.raftCurrentTerm
        if self._config_pending and self._config_pending_term == term:
            return False
        if not self.leadership_ready():
            return False
        voters, learners = dict(self._voter_ids), set(self._config_learners)
        promoted: tuple[int, str] | None = None
        if action is Action.ADD_LEARNER and node_id not in set(voters) | learners:
            learners.add(node_id)
        elif action is Action.PROMOTE and node_id in learners:
            replica = self.caught_up_learner(node_id)
            if replica is None:
                return False
            learners.discard(node_id)
            voters[node_id] = replica
            promoted = (node_id, replica)
            # its "learner" replies lag this: no second promotion meanwhile
            self._promoting[promoted] = clock.installed().now() + PROMOTE_RETRY_S
        elif action is Action.REMOVE and node_id in learners:
            learners.discard(node_id)
        elif action in (Action.REMOVE, Action.DEMOTE) and node_id in voters and len(voters) > 1 \
                and node_id != self.self_id:
            del voters[node_id]
            if action is Action.DEMOTE:
                learners.add(node_id)
        else:
            return False
        self._config_pending, self._config_pending_term = True, term
        self._applyCommand(encode_members(voters, learners, promoted), None)
        return True

    def _effective_config(self) -> Configuration:
        return self._pending_configs[-1][1] if self._pending_configs else self._applied_config

    def _on_members_appended(self, idx: int, command: bytes) -> None:
        """The journal appended a MEMBERS entry (leader or follower): it takes effect now."""
        if idx <= self.raftLastApplied:
            # Applied already: a snapshot's state reached past its log base, and the entries between
            # come after it; the snapshot's configuration holds this one (never pending again).
            return
        voters, learners, _promoted = members_fields(command)
        self._pending_configs.append((idx, (voters, learners)))
        self._take_effect(voters, learners)

    def _on_truncated(self, from_idx: int) -> None:
        """Entries from ``from_idx`` on left the log: a configuration among them no longer holds."""
        kept = [p for p in self._pending_configs if p[0] < from_idx]
        if len(kept) != len(self._pending_configs):
            self._pending_configs = kept
            self._take_effect(*self._effective_config())

    def _apply_members(self, index: int, command: bytes) -> None:
        voters, learners, promoted = members_fields(command)
        self._applied_config = (voters, learners)
        self._pending_configs = [p for p in self._pending_configs if p[0] > index]
        self.journal.save_config(voters, sorted(learners))
        self._take_effect(*self._effective_config())  # in effect already, unless it came by a snapshot
        if promoted is None:
            return
        node_id, disk = promoted
        if node_id == self.self_id and self.journal.learner == disk:
            self.journal.end_learning()
            leader = self._getLeader()
            if self._SyncObj__votedForNodeId is None and leader is not None:
                # Its vote of this term was lost with its disk: vote for the term's leader, the one
                # vote that cannot make a second leader.
                self._SyncObj__setCurrentTerm(self.raftCurrentTerm, leader.id)
            self._SyncObj__raftElectionDeadline = clock.installed().now() + self._SyncObj__generateRaftTimeout()
            log.info("group %d: this replica is a voter now (caught up on its new disk)", self.gid)
        elif self._learners.get(node_id) == disk:
            self._learners.pop(node_id)

    def _take_effect(self, voter_ids: dict[int, str], learners: set[int]) -> None:
        """Make ``voter_ids`` and ``learners`` the configuration in effect (appended, truncated
        back to, or installed by a snapshot) and meet the new members; nothing if it already is."""
        if (voter_ids, learners) == (self._voter_ids, self._config_learners):
            return
        voters = set(voter_ids)
        log.info("group %d: voters %s, learners %s", self.gid, sorted(voters), sorted(learners) or "none")
        self._voter_ids, self._voters, self._config_learners = dict(voter_ids), voters, set(learners)
        self.members = sorted(voters | learners)
        wanted = (voters | learners) - {self.self_id}
        current = {int(n.id): n for n in self._SyncObj__otherNodes}
        now = clock.installed().now()
        for node_id in wanted - set(current):
            node = Node(str(node_id))
            self._SyncObj__otherNodes.add(node)
            self._transport.addNode(node)
            self._SyncObj__raftNextIndex[node] = self.journal.last_index + 1
            self._SyncObj__raftMatchIndex[node] = 0
            self._SyncObj__lastResponseTime[node] = now
            if self._transport.host.is_connected(node_id):
                self._SyncObj__connectedNodes.add(node)
            self._progress.add(node_id, self.journal.last_index + 1)
        for node_id in set(current) - wanted:
            node = current[node_id]
            self._SyncObj__otherNodes.discard(node)
            self._SyncObj__connectedNodes.discard(node)
            self._transport.dropNode(node)
            for table in (self._SyncObj__raftNextIndex, self._SyncObj__raftMatchIndex, self._SyncObj__lastResponseTime):
                table.pop(node, None)
            self._progress.remove(node_id)
            self._learners.pop(node_id, None)
        if self._isLeader() and not self._counts(self.self_id, self.replica_id):
            log.warning("group %d: this leader is no longer a voter: stepping down", self.gid)
            self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
            self._SyncObj__raftLeader = None

    def _advance_commit(self) -> None:
        """Leader: the commit rule over the configuration's voters only (pysyncobj counts every
        member, learners too, which is never less safe but stalls a move when a voter is down)."""
        voters = self._voters
        if not self._counts(self.self_id, self.replica_id) or self._progress.term != self.raftCurrentTerm:
            return
        matches = [self.journal.last_index]
        for node_id in voters - {self.self_id}:
            progress = self._progress.get(node_id)
            counted = progress is not None and self._counts(node_id, self._rids.get(node_id)) \
                and (node_id not in self._learners or self._promoted_by_configuration(node_id))
            matches.append(progress.match if counted and progress is not None else 0)
        matches.sort(reverse=True)
        candidate = matches[len(voters) // 2]  # held by a majority of the voters
        if candidate > self.raftCommitIndex and self.journal.term_at(candidate) == self.raftCurrentTerm:
            self._SyncObj__raftCommitIndex = candidate
            self.journal.setRaftCommitIndex(candidate)

    def _promoted_by_configuration(self, node_id: int) -> bool:
        """Whether the configuration in effect names, as a voter, the very replica of ``node_id``
        whose replies still say "learner" (after a lost disk, until it applies its promotion): its
        promotion is appended, and under Raft's rule (a configuration counts from when it is
        appended) its acknowledgements count, its promotion's own entry included. Without them a
        promotion could never commit while another voter is a learner too (seed 460019: voters 1,
        3, 4 and 5, 3 back on an empty disk, only 1 and 5 counted)."""
        named = self._voter_ids.get(node_id)
        return bool(named) and named == self._learners.get(node_id)

    def _check_quorum(self) -> None:
        """Leader: step down unless a majority of the voters (itself included) answered within the
        election timeout; configured learners are kept out of pysyncobj's own check, which counts
        every member."""
        deadline = clock.installed().now() - self.conf.leaderFallbackTimeout
        heard = 1 if self.self_id in self._voters else 0
        for node in self._SyncObj__otherNodes:
            if int(node.id) in self._voters and self._SyncObj__lastResponseTime.get(node, 0.0) > deadline:
                heard += 1
        if heard * 2 <= len(self._voters):
            self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
            self._SyncObj__raftLeader = None

    def _count_votes(self) -> None:
        """Candidate: a majority of the voters' votes (pysyncobj divides by every member)."""
        if self._SyncObj__raftState != _RAFT_STATE.CANDIDATE or not self._counts(self.self_id, self.replica_id):
            return
        votes = 1 + len(self._votes.voters_in(self.raftCurrentTerm) - {self.self_id})
        if votes * 2 > len(self._voters):
            self._SyncObj__onBecomeLeader()

    def learners(self) -> dict[int, str]:
        """Leader: the members whose latest reply says they are learners (node -> disk id)."""
        return dict(self._learners) if self._isLeader() else {}

    def follower_states(self) -> dict[int, tuple[str, int]]:
        """Leader: each other member's state ("voter", "learner", or "unreachable": no reply within
        the leader's quorum-check time) and how many entries it lacks. Any thread (reads only; a
        leadership changing meanwhile gives a moment's stale answer)."""
        if not self._isLeader():
            return {}
        last = self.journal.last_index
        current = self._progress.term == self.raftCurrentTerm
        heard_since = clock.installed().now() - self.conf.leaderFallbackTimeout
        replied = self._SyncObj__lastResponseTime
        quiet = self.quiescent  # its followers held the whole log when it quiesced; connected is heard
        connected = self._SyncObj__connectedNodes
        out = {}
        for node in list(self._SyncObj__otherNodes):
            node_id = int(node.id)
            progress = self._progress.get(node_id) if current else None
            match = 0 if progress is None else progress.match
            if node_id in self._learners or node_id in self._config_learners:
                state = "learner"
            elif replied.get(node, 0.0) < heard_since and not (quiet and node in connected):
                state = "unreachable"
            else:
                state = "voter"
            out[node_id] = (state, max(0, last - match))
        return out

    def _onTick(self, timeToWait: float = 0.0) -> None:
        if self.quiescent:
            if not self._has_work():
                return  # woken for nothing (the driver ticks every group it was asked to)
            self._wake_up(leader_alive=True)
        if self.is_learner():
            self._SyncObj__raftElectionDeadline = float("inf")  # a learner never stands
        else:
            self._pre_vote()
        if self._isLeader():
            now = clock.installed().now()
            for node in self._SyncObj__otherNodes:
                if int(node.id) not in self._voters:
                    self._SyncObj__lastResponseTime[node] = now  # see _check_quorum
        if self._isLeader():
            # Before pysyncobj's tick: its own commit rule then finds nothing left to count, where
            # it would read every entry a majority holds past its commit index (for the term alone),
            # from the store once a deep pipeline outgrows the journal's in-memory tail.
            self._advance_commit()
        super()._onTick(timeToWait)
        if self._held_back:
            self._retry_held_back()
        if self._isLeader():
            self._check_quorum()
        if self._isLeader():
            self._advance_commit()
        self._count_votes()
        self._try_quiesce()
        self._trim_tail()

    def _trim_tail(self) -> None:
        """The journal's in-memory tail keeps what is still to be applied here or, on a leader, sent
        to a follower; the rest goes (an idle group's tail is empty)."""
        upto = self.raftLastApplied
        if self._isLeader():
            for progress in self._progress.followers.values():
                upto = min(upto, progress.match)
        self.journal.trim_tail(upto)

    # --- quiescence -------------------------------------------------------------------------------
    def _has_work(self) -> bool:
        """Something a tick must do (driver thread): a proposal queued, entries to apply, a send
        waiting for tokens, a leadership transfer."""
        return (len(self._SyncObj__commandsQueue) > 0 or self.raftCommitIndex > self.raftLastApplied
                or bool(self._held_back) or bool(self._SyncObj__transferInProgress))

    def _wake_up(self, leader_alive: bool) -> None:
        """Leave quiescence: tick again as a normal group, timers restarted from now."""
        if not self.quiescent:
            return
        self.quiescent = False
        now = clock.installed().now()
        self._idle_state, self._idle_since = (-1, -1, -1), now
        if self._isLeader():
            self._hb_deadline = 0.0
            self._SyncObj__newAppendEntriesTime = 0.0
            for node in self._SyncObj__connectedNodes:
                self._SyncObj__lastResponseTime[node] = now  # connected all along: check quorum afresh
        else:
            if leader_alive:
                self._leader_heard_at = now  # a quiescent leader is one heard from (its node is up)
            self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()

    def _try_quiesce(self) -> None:
        """End of a tick: a leader idle for QUIESCE_AFTER_S, whose followers all hold its log and
        commit index, tells them and stops; a follower told so stops once it holds the same."""
        if self.quiescent or not self.may_quiesce:
            return
        asked, self._quiesce_asked = self._quiesce_asked, None
        last, commit = self.journal.last_index, self.raftCommitIndex
        if not self._isLeader():
            if (asked is not None and asked == (self.raftCurrentTerm, last) and commit == last
                    and self.raftLastApplied == last and self._receiving_snapshot is None
                    and self._getLeader() is not None and not self._has_work()):
                self.quiescent = True
            return
        now = clock.installed().now()
        state = (last, commit, self.raftCurrentTerm)
        if state != self._idle_state:
            self._idle_state, self._idle_since = state, now
            return
        if (now - self._idle_since < QUIESCE_AFTER_S or commit != last or self.raftLastApplied != last
                or not self.leadership_ready() or self._has_work() or self._config_pending or self._learners
                or self._promoting or self._SyncObj__commandsWaitingCommit):
            return
        followers = []
        for node in self._SyncObj__otherNodes:
            progress = self._follower(node)
            if (node not in self._SyncObj__connectedNodes or progress is None or progress.probing
                    or progress.snapshot is not None or progress.match != last or progress.sent_commit != commit):
                return
            followers.append((node, progress))
        for node, progress in followers:
            self._send_append(node, progress, commit, progress.heartbeat_prev(), [], quiesce=True)
        self.quiescent = True

    # --- pre-vote (kraft.raft.election) -----------------------------------------------------------
    def _last_log(self) -> tuple[int, int]:
        last = self.journal.last_index
        return (self.journal.term_at(last) or 0, last)

    def _pre_vote(self) -> None:
        """Follower or candidate whose election timer fired: stand only with a majority's pre-vote
        (asked for here; pysyncobj stands once it is won), or at once when the leader handed over."""
        if self._SyncObj__raftState == _RAFT_STATE.LEADER or self._SyncObj__transferInProgress:
            return
        now = clock.installed().now()
        if self._SyncObj__raftElectionDeadline >= now:
            return
        term = self.raftCurrentTerm + 1
        if self._pre_vote_term == term and self._pre_vote_won():
            return  # pysyncobj stands in this tick
        self._pre_vote_term, self._pre_vote_grants = term, {self.self_id}
        self._SyncObj__raftLeader = None  # not heard from for an election timeout: no leader known
        if self._pre_vote_won():
            return  # a group of one
        self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()
        ask = {"type": "kraft_pre_vote", "term": term, "last_log": list(self._last_log())}
        for node in self._SyncObj__otherNodes:
            self._transport.send(node, dict(ask))

    def _adopt_term(self, term: int) -> bool:
        """Raft's rule for any message of a later term: take the term, as a follower that has not
        voted in it (a leader steps down). False when ``term`` is not later than ours."""
        if term <= self.raftCurrentTerm:
            return False
        self._SyncObj__setCurrentTerm(term, None)
        self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
        self._SyncObj__raftLeader = None
        return True

    def _pre_vote_won(self) -> bool:
        granted = sum(1 for n in self._pre_vote_grants if n in self._voters)
        return granted * 2 > len(self._voters)

    def _on_pre_vote(self, node: Node, message: dict[str, Any]) -> None:
        now = clock.installed().now()
        asked = int(message.get("term", -1))
        last_log = message.get("last_log") or [0, 0]
        granted = grants_pre_vote(
            asked_term=asked, last_log=(int(last_log[0]), int(last_log[1])), own_term=self.raftCurrentTerm,
            own_last_log=self._last_log(), may_vote=self.journal.learner is None and not self._isLeader(),
            leader_heard_recently=now - self._leader_heard_at < self.conf.raftMinTimeout)
        self._transport.send(node, {"type": "kraft_pre_vote_reply", "term": asked, "granted": granted,
                                    "current": self.raftCurrentTerm, "rid": self.replica_id})

    def _on_pre_vote_reply(self, node: Node, message: dict[str, Any]) -> None:
        if self._adopt_term(int(message.get("current", -1))):
            return  # this replica's next pre-vote asks for a term that can be won
        if (message.get("granted") and message.get("term") == self._pre_vote_term == self.raftCurrentTerm + 1
                and self._counts(int(node.id), message.get("rid"))):
            self._pre_vote_grants.add(int(node.id))
            if self._pre_vote_won():
                self._SyncObj__raftElectionDeadline = 0.0  # stand at the next tick
                self._transport.wake()

    def _note_reply(self, node: Node, message: dict[str, Any]) -> None:
        """Leader: a follower's reply, before its progress reads it. From another disk than the last
        one: the follower's log is new, its progress starts again. A learner's acknowledgements do
        not count toward a commit."""
        node_id = int(node.id)
        disk = message.get("rid")
        if message.get("learner"):
            self._learners[node_id] = disk if isinstance(disk, str) else ""
        else:
            self._learners.pop(node_id, None)
        # The quorum check asks whether the leader still reaches its voters, learners or not (a
        # voter's "learner" mark lags its promotion by a round trip: leaving it out there made a
        # leader step down right after each election, seed 304 with moves and lost disks).
        self._SyncObj__lastResponseTime[node] = clock.installed().now()
        if isinstance(disk, str):
            if self._rids.get(node_id, disk) != disk:
                log.warning("group %d: node %s answers from another replica (a new disk, or removed and added "
                            "again): its log starts again", self.gid, node.id)
                self._rids[node_id] = disk
                progress = self._progress.replaced(node_id, self.journal.last_index + 1)
                if progress is not None:
                    self._mirror(node, progress)
            self._rids[node_id] = disk

    def _maybe_promote(self, node: Node, progress: FollowerProgress) -> None:
        """Leader: propose a caught-up lost disk's learner's promotion (again after ``PROMOTE_RETRY_S``)."""
        disk = self._learners.get(int(node.id))
        commit = self.raftCommitIndex
        noop = self._SyncObj__noopIDx
        configured = int(node.id) in self._voters or int(node.id) in self._config_learners
        if disk is None or not configured or noop is None or commit < noop or progress.match < commit:
            return
        now = clock.installed().now()
        key = (int(node.id), disk)
        term = self.raftCurrentTerm
        if self._promoting.get(key, 0.0) > now or not self.leadership_ready() \
                or (self._config_pending and self._config_pending_term == term):
            return  # one membership change at a time: a configuration built on a stale one would undo it
        self._promoting[key] = now + PROMOTE_RETRY_S
        self._config_pending, self._config_pending_term = True, term
        log.info("group %d: learner node %s (disk %s) has caught up to %d: proposing it as a voter",
                 self.gid, node.id, disk, commit)
        # A voter: from now on that replica's votes count. A learner by configuration stays one (it is
        # promoted by whoever moves the group: propose_membership); the entry only ends its learning
        # after the lost disk, so its node can tell it has caught up.
        voters = {**self._voter_ids, int(node.id): disk} if int(node.id) in self._voters else self._voter_ids
        self._applyCommand(encode_members(voters, self._config_learners, (int(node.id), disk)), None)

    def _SyncObj__sendNextNodeIdx(self, node: Node, reset: bool = False, nextNodeIdx: int | None = None,
                                  success: bool = False) -> None:
        message: dict[str, Any] = {
            "type": "next_node_idx",
            "next_node_idx": self.journal.last_index + 1 if nextNodeIdx is None else nextNodeIdx,
            "reset": reset,
            "success": success,
            # How far this replica's state machine is, in the store: a leader lets a decommissioned
            # node leave the metadata group only once its view holds the entries that emptied it
            # (follower_applied).
            "applied": self._durable_applied,
        }
        self._mark(message)
        if not success and self.journal.term_at(self.journal.base_index) == PENDING_TERM:
            # No entry can match here before a snapshot completes, one that keeps the commit index.
            message["snapshot_pending"] = self.raftCommitIndex
        self._transport.send(node, message)

    def _mark(self, reply: dict[str, Any]) -> None:
        """What a follower's reply says of its disk: which one, and whether this replica is a learner."""
        reply["rid"] = self.replica_id
        if self.journal.learner is not None:
            # Only a replica that lost its disk says so: the leader's own configuration tells it
            # which members vote (a removed voter's log still counts for a leader that has not
            # applied the removal yet: found by the simulator, seed 5 with moves and lost disks).
            reply["learner"] = True

    # --- leadership -------------------------------------------------------------------------------
    def leadership_ready(self) -> bool:
        """Leader, and its own term's no-op is applied and in the store: everything committed before
        is applied too, and readers of the store (other threads) see it. (Applied alone is not enough:
        a new leader applies its predecessors' last entries in the same tick as its no-op, and a fetch
        or list_offsets between that tick and the store commit read a high watermark without them.)"""
        noop = self._SyncObj__noopIDx
        return self._isLeader() and noop is not None and self._durable_applied >= noop

    def note_durable(self) -> None:
        """Driver thread, right after the store commit: what is applied now is what readers see,
        and what is in the log now survives a crash."""
        self._durable_applied = self._SyncObj__raftLastApplied
        self._durable_last = self.journal.last_index

    def needs_tick(self) -> bool:
        """Work pysyncobj left for its next tick: entries to apply, or a lone leader's commit."""
        if self.raftCommitIndex > self.raftLastApplied:
            # ... unless those entries were discarded under it: a snapshot is on its way instead
            return bool(self.raftLastApplied >= self.journal.base_index)
        return self._isLeader() and not self._SyncObj__otherNodes and self.journal.last_index > self.raftCommitIndex

    def hand_over_to(self, node_id: int) -> bool:
        """Transfer leadership to ``node_id`` if its log is complete (Raft TimeoutNow); best effort."""
        target = Node(str(node_id))
        if node_id in self._learners or node_id not in self._voters \
                or self._SyncObj__raftMatchIndex.get(target, 0) != self.journal.last_index:
            return False
        self._wake_up(leader_alive=True)
        self.transferLeadership(target)
        return True

    def bring_election_forward(self, delay_s: float) -> None:
        """Make this replica stand first (preferred leader), unless it has heard from a leader."""
        if self.is_learner():
            return
        self._wake_up(leader_alive=False)
        self._SyncObj__raftElectionDeadline = clock.installed().now() + delay_s

    # Plain methods, not properties: SyncObj's constructor calls getattr() on every name in dir(self).
    def is_leader(self) -> bool:
        return self._isLeader()

    def leader_id(self) -> int | None:
        leader = self._getLeader()
        return None if leader is None else int(leader.id)

    def current_term(self) -> int:
        return int(self.raftCurrentTerm)

    def commit_index(self) -> int:
        return int(self.raftCommitIndex)

    def last_applied(self) -> int:
        return int(self.raftLastApplied)

    # --- apply ------------------------------------------------------------------------------------
    def _SyncObj__doApplyCommand(self, command: bytes) -> Any:
        index = self._SyncObj__raftLastApplied + 1
        if command[:1] == MEMBERS:
            self._apply_members(index, command)
            self._config_pending = False
        floors = self._log_machine
        if floors is not None:
            # The entry's term, which every replica has for it: a partition's leader epochs
            term = self.journal.term_at(index) or 0
            if command[:1] != REGULAR:
                return floors.apply(index, b"", term)  # a no-op still moves last_applied (and starts an epoch)
            result = floors.apply(index, command[1:], term)
        elif command[:1] != REGULAR:
            return self.machine.apply(index, b"")  # a no-op still moves last_applied
        else:
            result = self.machine.apply(index, command[1:])
        if floors is not None and (floors.raft_floor - 1 > self.journal.base_index
                                   or floors.log_floor > self.journal.rows_floor):
            self.journal.discard_before(floors.raft_floor, floors.log_floor)
            self.reclaim_pending = True
        if floors is not None and command[1:2] == OP_COMPACT:
            self.reclaim_pending = True  # the pass runs in the reclaim slices
        return result

    def reclaim(self, budget: int) -> int:
        """Delete up to ``budget`` rows of what the log discarded (driver thread); how many. Fewer than
        ``budget``: nothing is left, and ``reclaim_pending`` is cleared."""
        done = self.journal.reclaim(budget)
        if done < budget and self._log_machine is not None:
            done += self._log_machine.reclaim(budget - done)
        if done < budget:
            self.reclaim_pending = False
        return done

    # --- messages in ------------------------------------------------------------------------------
    def _SyncObj__onMessageReceived(self, node: Node, message: dict[str, Any]) -> None:
        mtype = message.get("type")
        now = clock.installed().now()
        if mtype == "append_entries" and message.get("quiesce") and "prevLogIdx" in message:
            self._quiesce_asked = (int(message.get("term", -1)), int(message["prevLogIdx"]))
        else:
            self._quiesce_asked = None
            if self.quiescent and not (mtype == "next_node_idx" and message.get("success")
                                       and message.get("next_node_idx") == self.journal.last_index + 1):
                self._wake_up(leader_alive=True)  # anything but the quiesce heartbeat's replies
        member = int(node.id) in self._voters or int(node.id) in self._config_learners
        if mtype == "append_entries" and message.get("term", -1) >= self.raftCurrentTerm:
            self._leader_heard_at = now
        elif mtype == "append_entries":
            # A leader of an earlier term: tell it ours (Raft's reply to a stale request, which
            # pysyncobj leaves out). Without it a replica whose failed election raised its term
            # would ignore that leader for good, now that pre-votes keep it from standing again.
            self._transport.send(node, {"type": "kraft_stale_term", "term": self.raftCurrentTerm})
            return
        if mtype == "kraft_stale_term":
            self._adopt_term(int(message.get("term", -1)))
            return
        if mtype == "request_vote" and not member and now - self._leader_heard_at < self.conf.raftMinTimeout:
            # A node outside the configuration this replica knows: a member it has not heard of yet
            # (then there is no leader around, and it gets a vote), or one removed, which must not
            # disrupt a working leader (Raft's rule for removed servers: ignore its vote requests
            # while a leader is heard from within the minimum election timeout).
            return
        if mtype == "timeout_now" and self.is_learner():
            return  # a learner never stands
        if mtype == "request_vote" and self.journal.learner is not None:
            # A replica that lost its disk forgot its votes: it must not vote. A learner by the
            # configuration it knows does vote: it may be a voter already by a promotion it has
            # not received, and without its vote such a group could elect no one (the simulator,
            # seed 5 with moves and lost disks); candidates count only their voters' votes.
            return
        if mtype == "append_entries" and "prevLogIdx" in message and "transmission" not in message:
            if message["term"] >= self.raftCurrentTerm:
                self._prepare_append(message)
        elif mtype == "next_node_idx":
            if self._isLeader():
                self._on_next_node_idx(node, message)
            return
        elif mtype in ("kraft_fetch_entry", "kraft_entry"):
            self._on_repair_message(node, message)
            return
        elif mtype == "kraft_snapshot":
            self._on_snapshot(node, message)
            return
        elif mtype == "kraft_pre_vote":
            self._on_pre_vote(node, message)
            return
        elif mtype == "kraft_pre_vote_reply":
            self._on_pre_vote_reply(node, message)
            return
        elif mtype == "kraft_snapshot_ack":
            if self._isLeader():
                self._on_snapshot_ack(node, message)
            return
        elif mtype == "response_vote":
            if not self._counts(int(node.id), message.get("rid")) \
                    or not self._votes.first_vote(message.get("term", -1), int(node.id)):
                return  # a learner's vote, another replica's of that node, or a repeat pysyncobj would count
            SyncObj._SyncObj__onMessageReceived(self, node, message)
            self._count_votes()
            return
        SyncObj._SyncObj__onMessageReceived(self, node, message)

    def _prepare_append(self, message: dict[str, Any]) -> None:
        """Rewrite an AppendEntries into what pysyncobj may safely act on (``raft.follower`` decides)."""
        entries = message.get("entries") or []
        decision = follower.on_append(self.journal, message["prevLogIdx"], message["prevLogTerm"], entries,
                                      message["commit_index"])
        if isinstance(decision, follower.Mismatch):
            message["commit_index"] = min(message["commit_index"], message["prevLogIdx"] + len(entries))
            if decision.hint is not None:
                # pysyncobj answers a term mismatch with a reset to prevLogIdx: make that the hint.
                # (A log that ends before prev: pysyncobj resets the leader to the log's end itself.)
                message["prevLogIdx"], message["prevLogTerm"], message["entries"] = decision.hint, -1, []
            return
        message["prevLogIdx"], message["prevLogTerm"] = decision.prev, decision.prev_term
        message["entries"] = decision.entries
        message["commit_index"] = decision.commit_index
        if decision.truncate_from is not None:
            self.journal.arm_truncation(decision.truncate_from)

    # --- repair of damaged entries ----------------------------------------------------------------
    def repair_entry(self, idx: int) -> None:
        """Ask every other replica for entry ``idx``; the first intact copy of it replaces ours."""
        log.error("group %d: entry %d is damaged on disk; asking the other replicas for it", self.gid, idx)
        for node in self._SyncObj__otherNodes:
            self._transport.send(node, {"type": "kraft_fetch_entry", "index": idx})

    def _on_repair_message(self, node: Node, message: dict[str, Any]) -> None:
        idx = message.get("index")
        if not isinstance(idx, int) or idx <= self.journal.base_index:
            return  # a discarded entry: nothing to repair or to repair it with
        if message["type"] == "kraft_fetch_entry":
            entries = self.journal.entries_from(idx, 1, 1)
            if entries and entries[0][1] == idx and _intact(entries[0][0]):
                command, _, term = entries[0]
                self._transport.send(node, {"type": "kraft_entry", "index": idx, "term": term, "command": command})
        elif (self.journal.term_at(idx) == message.get("term") and isinstance(message.get("command"), bytes)
              and _intact(message["command"])):
            current = self.journal.entries_from(idx, 1, 1)
            if current and not _intact(current[0][0]):
                self.journal.rewrite(idx, message["command"], message["term"])
                log.warning("group %d: entry %d repaired from node %s", self.gid, idx, node.id)

    # --- leader: replication ----------------------------------------------------------------------
    def _follower(self, node: Node) -> FollowerProgress | None:
        """This leadership's progress of ``node`` (None for a non-member); a new term starts afresh
        from where pysyncobj put each follower when it became leader."""
        term = self.raftCurrentTerm
        if term != self._progress.term:  # checked here: the mapping below is built once per term
            nxt = self._SyncObj__raftNextIndex
            self._progress.for_term(term, {int(n.id): nxt.get(n, 1) for n in self._SyncObj__otherNodes})
        return self._progress.get(int(node.id))

    def _mirror(self, node: Node, progress: FollowerProgress) -> None:
        """pysyncobj's commit rule and leadership transfer read its own match/next indexes (a learner's
        match counts for neither)."""
        counts = int(node.id) not in self._learners and self._counts(int(node.id), self._rids.get(int(node.id)))
        # (pysyncobj's own rule must never count a learner: it divides by every member, so learners
        # it counted could stand in for voters; kraft's rule, _advance_commit, decides anyway.)
        self._SyncObj__raftMatchIndex[node] = progress.match if counts else 0
        self._SyncObj__raftNextIndex[node] = progress.next

    def _on_next_node_idx(self, node: Node, message: dict[str, Any]) -> None:
        if node not in self._SyncObj__raftMatchIndex:
            return
        if message.get("term", self.raftCurrentTerm) != self.raftCurrentTerm:
            return  # a reply to an older leadership of this node
        if self._follower(node) is None:
            return
        self._note_reply(node, message)
        progress = self._follower(node)
        assert progress is not None
        progress.on_applied(message.get("applied"))
        if message.get("success"):
            progress.on_success(message["next_node_idx"])
            self._maybe_promote(node, progress)
        elif message.get("reset"):
            if not progress.on_reset(message["next_node_idx"], self.journal.last_index, self.journal.base_index,
                                     message.get("snapshot_pending")):
                return
        else:
            return
        self._mirror(node, progress)
        self._replicate(node, heartbeat=False)  # reply-driven: no waiting for the next heartbeat

    def _SyncObj__sendAppendEntries(self) -> None:
        now = clock.installed().now()
        heartbeat = now >= self._hb_deadline
        if heartbeat:
            self._hb_deadline = now + self.conf.appendEntriesPeriod
        self._SyncObj__newAppendEntriesTime = now + self.conf.appendEntriesPeriod
        for node in self._SyncObj__otherNodes:
            self._replicate(node, heartbeat)

    def _throttle_for(self, node: Node) -> LearnerThrottle | None:
        """The node's bucket if ``node`` is catching up as a learner (added by a move, or its disk
        was lost); None for a voter, whose acknowledgements producers wait for."""
        if self._throttle is None:
            return None
        node_id = int(node.id)
        return self._throttle if node_id in self._learners or node_id in self._config_learners else None

    def _allowance(self, node: Node, throttle: LearnerThrottle | None, now: float) -> int:
        """Bytes the next send to ``node`` may carry (0: wait for tokens; the tick retries it)."""
        if throttle is None:
            return APPEND_MAX_BYTES
        allowance = throttle.allowance(now)
        if allowance <= 0:
            self._held_back.add(int(node.id))
        return min(APPEND_MAX_BYTES, allowance)

    def _retry_held_back(self) -> None:
        """Each tick: send again to the learners that waited for tokens (the bucket refills with
        time, and nothing else would wake them before the next heartbeat or reply)."""
        held, self._held_back = self._held_back, set()
        if not self._isLeader():
            return
        for node in self._SyncObj__otherNodes:
            if int(node.id) in held:
                self._replicate(node, heartbeat=False)

    def _replicate(self, node: Node, heartbeat: bool) -> None:
        """Send ``node`` what its progress allows: a probe, a window of entries, or a heartbeat."""
        if node not in self._SyncObj__connectedNodes:
            return
        progress = self._follower(node)
        if progress is None:
            return
        commit = self.raftCommitIndex
        if progress.snapshot_pending is not None and self._log_machine is not None:
            self._raise_base_for(progress.snapshot_pending)
        if progress.needs_snapshot(self.journal.base_index) and self._log_machine is not None:
            self._snapshots_sent += 1
            progress.start_snapshot(self._snapshots_sent, self._log_machine.compaction_epoch)
            log.info("group %d: node %s needs entries before %d, which are discarded: sending a snapshot",
                     self.gid, node.id, self.journal.base_index + 1)
        if progress.snapshot is not None:
            self._send_snapshot(node, progress, commit, heartbeat)
            return
        if progress.probing:
            now = clock.installed().now()
            if progress.probe_due(now, heartbeat, self.conf.appendEntriesPeriod):
                progress.note_probe_sent(now)
                self._send_append(node, progress, commit, progress.next - 1, [])
            return
        sent = False
        throttle = self._throttle_for(node)
        now = clock.installed().now()
        while self._transport.can_queue(node):
            room = progress.room(self.journal.last_index)
            if not room:
                break
            max_bytes = self._allowance(node, throttle, now)
            if not max_bytes:
                break  # a learner waiting for the node's tokens: heartbeats still go, below
            entries = self.journal.entries_from(progress.next, room, max_bytes)
            if not entries:
                break  # nothing readable there: never spin
            self._send_append(node, progress, commit, progress.next - 1, entries)
            size = sum(len(e[0]) for e in entries)
            progress.note_sent(entries[-1][1], size)
            if throttle is not None:
                throttle.spend(size)
            sent = True
        self._mirror(node, progress)
        if not sent and progress.heartbeat_due(heartbeat, commit):
            self._send_append(node, progress, commit, progress.heartbeat_prev(), [])

    def _raise_base_for(self, wanted: int) -> None:
        """Discard this log's head up to ``wanted`` (kept as rows for the record log) so that a snapshot
        can bring a follower stuck half way through another leader's snapshot up without its commit
        index going back; only entries this node has applied (the machine's state covers them)."""
        wanted = max(1, wanted)
        if self.journal.base_index < wanted <= min(self.raftCommitIndex, self.raftLastApplied, self.journal.last_index):
            log.info("group %d: discarding the log's head up to %d for a snapshot a follower needs", self.gid, wanted)
            self.journal.discard_before(wanted + 1, self.journal.rows_floor)

    def _sendable_commit(self, commit: int) -> int:
        """A leader's AppendEntries leave before its own fsync (``GroupDriver.run_iteration``), so the
        commit index they carry never covers this leader's entries the store does not hold yet: a
        majority counted on this leader's copy of them (a group of one voter and its learners)
        would otherwise let a follower apply what a crash of this leader can still undo."""
        return min(commit, self._durable_last)

    def _send_append(self, node: Node, progress: FollowerProgress, commit: int, prev: int,
                     entries: list[follower.Entry], quiesce: bool = False) -> None:
        commit = self._sendable_commit(commit)
        progress.note_commit_sent(commit)
        prev_term = self.journal.term_at(prev) if prev >= 1 else 0
        message = {
            "type": "append_entries",
            "term": self.raftCurrentTerm,
            "commit_index": commit,
            "entries": entries,
            "prevLogIdx": prev,
            "prevLogTerm": prev_term if prev_term is not None else -1,
        }
        if quiesce:
            message["quiesce"] = True
        self._transport.send(node, message)

    # --- snapshots ----------------------------------------------------------------------------------
    def _send_snapshot(self, node: Node, progress: FollowerProgress, commit: int, heartbeat: bool) -> None:
        """A snapshot goes in parts: the journal's rows below the base that still hold records (phase
        0: a compacted log's batches), then the machine's rows (phase 1), the last of them with the
        state, read at the same moment. Rows are copied only while no compaction rewrites them here,
        and a new pass restarts the copy."""
        machine, snap = self._log_machine, progress.snapshot
        assert machine is not None and snap is not None
        base = self.journal.base_index
        if heartbeat:
            # Keeps the follower's election timer and tells it the term; its reply cannot rewind us.
            self._send_append(node, progress, commit, base, [])
        now = clock.installed().now()
        if not snap.part_due(now, self.conf.appendEntriesPeriod) or not machine.compaction_settled():
            return
        throttle = self._throttle_for(node)
        if not self._allowance(node, throttle, now):
            return  # the part waits for the node's tokens (the tick retries)
        if snap.version != machine.compaction_epoch:
            self._snapshots_sent += 1
            snap = progress.start_snapshot(self._snapshots_sent, machine.compaction_epoch)
        message: dict[str, Any] = {"type": "kraft_snapshot", "term": self.raftCurrentTerm, "id": snap.id,
                                   "seq": snap.seq}
        if snap.seq == 0:
            if self._follower_state_ahead(progress):
                return  # it would refuse the snapshot (_on_snapshot): again once this state caught up
            message["begin"] = [base, self.journal.term_at(base), self.journal.rows_floor, self.machine.last_applied]
        phase, after = snap.cursor
        final = False
        if phase == 0:
            low = max(after + 1, self.journal.rows_floor)
            jrows = self.journal.raw_rows(after, SNAPSHOT_PART_JOURNAL_ROWS)
            high = jrows[-1][0] if len(jrows) == SNAPSHOT_PART_JOURNAL_ROWS else base
            if low <= high:
                message["journal"] = [low, high, jrows]
            cursor = (0, high) if high < base else (1, -1)
        else:
            low, high, rows = machine.snapshot_rows(after, SNAPSHOT_PART_ROWS)
            message["rows"] = [low, high, rows]
            final = len(rows) < SNAPSHOT_PART_ROWS
            cursor = (1, high)
        if final:  # the last part: the state as of now, read at the same moment as the last rows
            message.update(base=base, base_term=self.journal.term_at(base), rows_floor=self.journal.rows_floor,
                           state=machine.snapshot_state(), producers=machine.producers(),
                           config=[[[n, r] for n, r in sorted(self._voter_ids.items())],
                                   sorted(self._config_learners)])
        snap.note_part_sent(now, cursor)
        self._transport.send(node, message)
        if throttle is not None:
            throttle.spend(_snapshot_part_bytes(message))

    def _follower_state_ahead(self, progress: FollowerProgress) -> bool:
        """Whether the follower said it applied more than this leader's state machine has (a new
        leader still applying what the last one committed)."""
        return progress.applied is not None and progress.applied > self.machine.last_applied

    def _on_snapshot(self, node: Node, message: dict[str, Any]) -> None:
        """Follower: a part of the leader's snapshot (only from the leader of this term).

        The first part says where the leader's log begins; a follower that needs it makes its own log
        that base alone at once, with a term no leader has (``PENDING_TERM``), so that until the last
        part has installed the state, nothing, not even this node after a restart, takes the log for
        one that reaches the base. Rows then land below the base, where Raft never looks."""
        leader = self._getLeader()
        if (message.get("term") != self.raftCurrentTerm or self._isLeader() or leader is None
                or leader.id != node.id or self._log_machine is None):
            return
        machine = self._log_machine
        self._SyncObj__raftElectionDeadline = clock.installed().now() + self._SyncObj__generateRaftTimeout()
        reply: dict[str, Any] = {"type": "kraft_snapshot_ack", "term": self.raftCurrentTerm,
                                 "id": message["id"], "seq": message["seq"]}
        self._mark(reply)
        snapshot = (self.raftCurrentTerm, message["id"])  # ids are a leader's own: with its term, unique
        if "begin" in message:
            base, base_term, rows_floor = (int(v) for v in message["begin"][:3])
            # A log that holds the base, or committed past it (committed entries are the leader's),
            # needs nothing.
            if not self._needs_snapshot(base, base_term):
                self._receiving_snapshot = None
                reply["next"] = base + 1
                self._transport.send(node, reply)
                return
            leader_applied = int(message["begin"][3]) if len(message["begin"]) > 3 else None
            if leader_applied is not None and leader_applied < self.machine.last_applied:
                # A new leader that has not applied what this replica has: its last part would
                # make this index its older one and delete rows of batches applied here, and its
                # state would not be installed (seed 427127). It sends again once it has caught up.
                self._receiving_snapshot = None
                reply["restart"] = True
                reply["applied"] = self._durable_applied
                self._transport.send(node, reply)
                return
            log.info("group %d: receiving a snapshot (leader's log base %d; this log ends at %d)",
                     self.gid, base, self.journal.last_index)
            self.journal.install_base(base, PENDING_TERM, rows_floor)
            self._receiving_snapshot = snapshot
        elif self._receiving_snapshot != snapshot:
            if (snapshot == self._installed_snapshot and "state" in message
                    and not self._needs_snapshot(int(message["base"]), int(message["base_term"]))):
                reply["next"] = int(message["base"]) + 1  # a resent last part: installed already
            else:
                reply["restart"] = True  # its first part went to an earlier life of this node
            self._transport.send(node, reply)
            return
        if "rows" in message:
            low, high, rows = message["rows"]
            machine.install_rows(int(low), int(high), [(int(o), bytes(r)) for o, r in rows])
        if "journal" in message:
            low, high, jrows = message["journal"]
            self.journal.put_raw_rows(int(low), int(high), [(int(i), bytes(r)) for i, r in jrows])
        if "state" in message:
            base, base_term = int(message["base"]), int(message["base_term"])
            # Else a resent last part, installed already (maybe long since caught up past it).
            if self._needs_snapshot(base, base_term):
                self._install_snapshot(machine, base, base_term, message)
            self._receiving_snapshot, self._installed_snapshot = None, snapshot
            reply["next"] = base + 1
        self._transport.send(node, reply)

    def _needs_snapshot(self, base: int, base_term: int) -> bool:
        """Whether this log lacks the leader's ``base``: it does not hold it, and has not committed
        past it either (committed entries are the leader's) — or is itself half way through
        installing a snapshot, whatever its commit index says."""
        if self.journal.term_at(base) == base_term:
            return False
        return self.raftCommitIndex < base or self.journal.term_at(self.journal.base_index) == PENDING_TERM

    def _install_snapshot(self, machine: LogMachine, base: int, base_term: int, message: dict[str, Any]) -> None:
        state = message["state"]
        log.info("group %d: installing a snapshot (log base %d, applied %d)", self.gid, base, state["last_applied"])
        self.journal.install_base(base, base_term, int(message["rows_floor"]))
        if state["last_applied"] > self.machine.last_applied:
            machine.install(state, {int(p): st for p, st in message["producers"].items()})
            self._SyncObj__raftLastApplied = state["last_applied"]
            if "config" in message:
                voters, learners = message["config"]
                self._applied_config = ({int(n): str(r) for n, r in voters}, {int(v) for v in learners})
                self.journal.save_config(self._applied_config[0], sorted(self._applied_config[1]))
                # The log is the base alone now: what it held after the base went with it.
                self._pending_configs = [p for p in self._pending_configs if p[0] > base]
                self._take_effect(*self._effective_config())
        self._SyncObj__raftCommitIndex = base
        self.journal.setRaftCommitIndex(base)
        self.reclaim_pending = True

    def _on_snapshot_ack(self, node: Node, message: dict[str, Any]) -> None:
        if message.get("term") != self.raftCurrentTerm:
            return
        if self._follower(node) is None:
            return
        self._note_reply(node, message)
        progress = self._follower(node)
        assert progress is not None
        if "applied" in message:  # a refusal: the follower's state is ahead of this leader's
            progress.on_applied(message["applied"])
        installed = message.get("next")
        if progress.on_snapshot_ack(message.get("id", -1), message.get("seq", -1),
                                    None if installed is None else int(installed), bool(message.get("restart"))):
            self._mirror(node, progress)
            self._replicate(node, heartbeat=False)

    def _SyncObj__onNodeDisconnected(self, node: Node) -> None:
        SyncObj._SyncObj__onNodeDisconnected(self, node)
        leader = self._getLeader()
        leader_gone = leader is not None and leader.id == node.id and not self._isLeader()
        if self.quiescent:
            # A follower whose leader's node went: elect. A leader: check its quorum again.
            self._wake_up(leader_alive=not leader_gone)
        if leader_gone:
            self._stand_soon(int(node.id))

    def _stand_soon(self, gone: int) -> None:
        """Follower whose leader's node ``gone`` disconnected: stand within LEADER_GONE_SPREAD_S if
        this replica ranks first among the surviving voters, else after a full election timeout."""
        self._leader_heard_at = float("-inf")  # grant a peer's pre-vote: this leader is not heard any more
        if self.is_learner():
            return
        survivors = sorted(self._voters - {gone})
        if self.self_id not in survivors:
            return
        first = survivors[self.gid % len(survivors)]
        now = clock.installed().now()
        if first == self.self_id:
            deadline = now + LEADER_GONE_SPREAD_S * _pso.random.random()  # pysyncobj's (the simulator seeds it)
        else:
            deadline = now + self._SyncObj__generateRaftTimeout()
        self._SyncObj__raftElectionDeadline = min(self._SyncObj__raftElectionDeadline, deadline) \
            if first == self.self_id else max(self._SyncObj__raftElectionDeadline, deadline)

    def _SyncObj__onNodeConnected(self, node: Node) -> None:
        SyncObj._SyncObj__onNodeConnected(self, node)
        leader = self._getLeader()
        if self._isLeader() or leader is None or leader.id == node.id:
            self._wake_up(leader_alive=True)  # a member back: it may have missed the quiesce heartbeat
        # A follower whose leader is known stays as it is when another member's node connects: the
        # leader sees that node connect too and wakes the group. Woken alone (its connection to the
        # member came up after the leader had woken and gone quiet again), it would hear nothing,
        # stand once its election timer ran out and depose a working leader with the pre-vote of the
        # member that had just come back and not heard the leader for as long.
        if not self._isLeader():
            return  # progress belongs to a leadership; the next one starts afresh
        progress = self._follower(node)  # never an older term's (its match may no longer hold)
        if progress is not None:
            self._progress.reconnected(int(node.id))
            self._mirror(node, progress)


def _snapshot_part_bytes(message: dict[str, Any]) -> int:
    """The row bytes a snapshot part carries (what the throttle counts; the rest is small)."""
    size = 0
    for key in ("rows", "journal"):
        if key in message:
            size += sum(len(row) for _, row in message[key][2])
    return size
