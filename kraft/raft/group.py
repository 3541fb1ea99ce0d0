"""One Raft group: a pysyncobj ``SyncObj`` hardened at its seams, driven by the node's RaftHost.

Owns: the pysyncobj configuration kraft relies on, and the fixes to pysyncobj's replication that
research/pysyncobj.md calls for, each at a seam pysyncobj already has:

- follower side, AppendEntries: entries that already match the local log are stripped before
  pysyncobj sees the message, a truncation is armed in the journal only at a real conflict, and the
  leader's commit index is clamped to the last entry the message carried (Raft §5.3 rules 3-5);
- leader side, replication: kraft's own ``__sendAppendEntries`` (probe until a follower's log
  matches, then stream with a bounded in-flight window, heartbeats at the follower's match index)
  and its own ``next_node_idx`` handling, which ignores stale replies instead of rewinding;
- apply: commands are kraft's own bytes (never pickle), handed to a state machine with their Raft
  index so the machine can skip entries it already applied before a restart.

Must not: touch sockets (the MuxTransport does) or commit LMDB transactions (the host does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import pysyncobj.syncobj as _pso
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.config import FAIL_REASON
from pysyncobj.monotonic import monotonic as raft_clock  # CLOCK_MONOTONIC_RAW: compare only with it
from pysyncobj.node import Node

from kraft.log.entry import REGULAR
from kraft.log.entry import intact as _intact
from kraft.raft.journal import LmdbJournal

log = logging.getLogger(__name__)

MAX_INFLIGHT_ENTRIES = 256  # per follower, sent but not acknowledged
MAX_INFLIGHT_BYTES = 8 * 1024 * 1024  # per follower: big batches must not flood one peer connection
APPEND_MAX_BYTES = 2 * 1024 * 1024  # one AppendEntries (always at least one entry)


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
        if isinstance(journal_file, LmdbJournal):
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


class GroupTimers:
    """Raft timing of every group on a node (seconds)."""

    def __init__(self, heartbeat_s: float, election_min_s: float, election_max_s: float) -> None:
        self.heartbeat_s = heartbeat_s
        self.election_min_s = election_min_s
        self.election_max_s = election_max_s


class RaftGroup(SyncObj):
    def __init__(
        self,
        gid: int,
        self_id: int,
        members: list[int],
        journal: LmdbJournal,
        machine: StateMachine,
        transport_factory: Callable[..., Any],
        timers: GroupTimers,
        forward_to_leader: bool = False,
    ) -> None:
        self.gid = gid
        self.self_id = self_id
        self.members = sorted(members)
        self.journal = journal
        self.machine = machine
        self._probing: set[Node] = set()
        self._probe_sent: dict[Node, float] = {}
        self._inflight: dict[Node, list[tuple[int, int]]] = {}  # (last index, bytes) per AppendEntries
        self._sent_commit: dict[Node, int] = {}
        self._forward = forward_to_leader
        self._progress_term = -1
        self._hb_deadline = 0.0
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
        )
        others = [Node(str(m)) for m in self.members if m != self_id]
        super().__init__(Node(str(self_id)), others, conf=conf, transportClass=transport_factory)
        # Do not re-apply from index 1 after a restart: the machine persisted how far it got.
        applied = max(1, machine.last_applied)
        self._SyncObj__raftLastApplied = applied
        if self._SyncObj__raftCommitIndex < applied:
            self._SyncObj__raftCommitIndex = applied

    # --- wiring ---------------------------------------------------------------------------------
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

    def leadership_ready(self) -> bool:
        """Leader, and its own term's no-op is applied: everything committed before is applied too."""
        noop = self._SyncObj__noopIDx
        return self._isLeader() and noop is not None and self.raftLastApplied >= noop

    def _applyCommand(self, command: Any, callback: Any, commandType: Any = None) -> None:
        super()._applyCommand(command, callback, commandType)
        transport = self._SyncObj__transport
        transport.wake()

    def submit(self, payload: bytes, callback: Callable[[Any, int], None]) -> None:
        """Propose ``payload``; ``callback(result, fail_reason)`` runs on the driver after apply."""
        self._applyCommand(REGULAR + payload, callback)

    def needs_tick(self) -> bool:
        """Work pysyncobj left for its next tick: entries to apply, or a lone leader's commit."""
        if self.raftCommitIndex > self.raftLastApplied:
            return True
        return self._isLeader() and not self._SyncObj__otherNodes and self.journal.last_index > self.raftCommitIndex

    def hand_over_to(self, node_id: int) -> bool:
        """Transfer leadership to ``node_id`` if its log is complete (Raft TimeoutNow); best effort."""
        target = Node(str(node_id))
        if self._SyncObj__raftMatchIndex.get(target, 0) != self.journal.last_index:
            return False
        self.transferLeadership(target)
        return True

    def bring_election_forward(self, delay_s: float) -> None:
        """Make this replica stand first (preferred leader), unless it has heard from a leader."""
        self._SyncObj__raftElectionDeadline = raft_clock() + delay_s

    # Plain methods, not properties: SyncObj's constructor calls getattr() on every name in dir(self).
    def is_leader(self) -> bool:
        return self._isLeader()

    def leader_id(self) -> int | None:
        leader = self._getLeader()
        return None if leader is None else int(leader.id)

    # --- apply ----------------------------------------------------------------------------------
    def _SyncObj__doApplyCommand(self, command: bytes) -> Any:
        index = self._SyncObj__raftLastApplied + 1
        if command[:1] != REGULAR:
            return self.machine.apply(index, b"")  # a no-op still moves last_applied
        return self.machine.apply(index, command[1:])

    # --- follower: AppendEntries ----------------------------------------------------------------
    def _SyncObj__onMessageReceived(self, node: Node, message: dict[str, Any]) -> None:
        mtype = message.get("type")
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
        SyncObj._SyncObj__onMessageReceived(self, node, message)

    def _prepare_append(self, message: dict[str, Any]) -> None:
        prev = message["prevLogIdx"]
        entries = message.get("entries") or []
        last_new = prev + len(entries)
        message["commit_index"] = min(message["commit_index"], last_new)
        mine = self.journal.term_at(prev)
        if mine != message["prevLogTerm"]:
            if mine is not None:
                # pysyncobj's reset says "try prevLogIdx", one entry back per round trip. Point the
                # leader at the first entry of our conflicting term instead (Raft §5.3's optimisation).
                first = prev
                while first - 1 > self.journal.first_index and self.journal.term_at(first - 1) == mine:
                    first -= 1
                message["prevLogIdx"], message["prevLogTerm"], message["entries"] = first, -1, []
            return
        k = 0
        for _command, idx, term in entries:
            if self.journal.term_at(idx) != term:
                break
            k += 1
        if k:
            message["prevLogIdx"] = entries[k - 1][1]
            message["prevLogTerm"] = entries[k - 1][2]
            message["entries"] = entries = entries[k:]
        if entries and entries[0][1] <= self.journal.last_index:
            self.journal.arm_truncation(entries[0][1])

    # --- repair of damaged entries ---------------------------------------------------------------
    def repair_entry(self, idx: int) -> None:
        """Ask every other replica for entry ``idx``; the first intact copy of it replaces ours."""
        log.error("group %d: entry %d is damaged on disk; asking the other replicas for it", self.gid, idx)
        transport = self._SyncObj__transport
        for node in self._SyncObj__otherNodes:
            transport.send(node, {"type": "kraft_fetch_entry", "index": idx})

    def _on_repair_message(self, node: Node, message: dict[str, Any]) -> None:
        idx = message.get("index")
        if not isinstance(idx, int):
            return
        if message["type"] == "kraft_fetch_entry":
            entries = self.journal.entries_from(idx, 1, 1)
            if entries and entries[0][1] == idx and _intact(entries[0][0]):
                command, _, term = entries[0]
                self._SyncObj__transport.send(node, {"type": "kraft_entry", "index": idx, "term": term,
                                                     "command": command})
        elif (self.journal.term_at(idx) == message.get("term") and isinstance(message.get("command"), bytes)
              and _intact(message["command"])):
            current = self.journal.entries_from(idx, 1, 1)
            if current and not _intact(current[0][0]):
                self.journal.rewrite(idx, message["command"], message["term"])
                log.warning("group %d: entry %d repaired from node %s", self.gid, idx, node.id)

    # --- leader: replication --------------------------------------------------------------------
    def _on_next_node_idx(self, node: Node, message: dict[str, Any]) -> None:
        match = self._SyncObj__raftMatchIndex
        nxt = self._SyncObj__raftNextIndex
        if node not in match:
            return
        if message.get("term", self.raftCurrentTerm) != self.raftCurrentTerm:
            return  # a reply to an older leadership of this node
        self._SyncObj__lastResponseTime[node] = raft_clock()
        n = message["next_node_idx"]
        if message.get("success"):
            if n - 1 > match[node]:
                match[node] = n - 1
            nxt[node] = max(nxt[node], match[node] + 1)
            inflight = self._inflight.setdefault(node, [])
            while inflight and inflight[0][0] <= match[node]:
                inflight.pop(0)
            if node in self._probing:
                self._probing.discard(node)
                self._probe_sent.pop(node, None)
        elif message.get("reset"):
            if n - 1 < match[node]:
                return  # stale: the follower has since acknowledged more
            # The follower's log ends before what we sent (lost in flight, or a new leadership):
            # probe from where it says; matching entries it already has are skipped on arrival.
            nxt[node] = max(match[node] + 1, min(n, self.journal.last_index + 1))
            self._probing.add(node)
            self._probe_sent.pop(node, None)
            self._inflight[node] = []
        else:
            return
        self._replicate(node, heartbeat=False)  # reply-driven: no waiting for the next heartbeat

    def _SyncObj__sendAppendEntries(self) -> None:
        now = raft_clock()
        heartbeat = now >= self._hb_deadline
        if heartbeat:
            self._hb_deadline = now + self.conf.appendEntriesPeriod
        self._SyncObj__newAppendEntriesTime = now + self.conf.appendEntriesPeriod
        for node in self._SyncObj__otherNodes:
            self._replicate(node, heartbeat)

    def _replicate(self, node: Node, heartbeat: bool) -> None:
        """Send ``node`` what it lacks: an empty probe while its log is unknown, else a bounded window."""
        if node not in self._SyncObj__connectedNodes:
            return
        term = self.raftCurrentTerm
        if self._progress_term != term:
            self._progress_term = term
            self._probing = set(self._SyncObj__otherNodes)
            self._probe_sent.clear()
            self._inflight.clear()
        transport = self._SyncObj__transport
        nxt = self._SyncObj__raftNextIndex
        commit = self.raftCommitIndex
        if node in self._probing:
            # One empty probe in flight; a new one only if it went unanswered for a heartbeat.
            sent_at = self._probe_sent.get(node)
            if sent_at is None or (heartbeat and raft_clock() - sent_at > self.conf.appendEntriesPeriod):
                self._probe_sent[node] = raft_clock()
                self._send_append(transport, node, term, commit, nxt[node], with_entries=False)
            return
        match = self._SyncObj__raftMatchIndex
        inflight = self._inflight.setdefault(node, [])
        last = self.journal.last_index
        sent = False
        while (nxt[node] <= last and nxt[node] - 1 - match[node] < MAX_INFLIGHT_ENTRIES
               and sum(b for _, b in inflight) < MAX_INFLIGHT_BYTES and transport.can_queue(node)):
            start = nxt[node]
            nxt[node] = self._send_append(transport, node, term, commit, start, with_entries=True)
            if nxt[node] == start:
                break  # nothing readable at start: never spin
            sent = True
        if not sent and (heartbeat or self._sent_commit.get(node, 0) < commit):
            # prev = the last entry sent: one connection is FIFO, so the follower has it unless it
            # was lost, and then its reset makes us resend. prev >= 1: index 1 always matches.
            self._send_append(transport, node, term, commit, max(nxt[node], 2), with_entries=False)

    def _send_append(self, transport: Any, node: Node, term: int, commit: int, start: int,
                     with_entries: bool) -> int:
        """Send entries from ``start`` (or none, as a probe or heartbeat); return the next index to send."""
        prev = start - 1
        self._sent_commit[node] = commit
        prev_term = self.journal.term_at(prev) if prev >= 1 else 0
        entries = []
        if with_entries:
            room = MAX_INFLIGHT_ENTRIES - (start - 1 - self._SyncObj__raftMatchIndex[node])
            entries = self.journal.entries_from(start, max(room, 1), APPEND_MAX_BYTES)
        transport.send(node, {
            "type": "append_entries",
            "term": term,
            "commit_index": commit,
            "entries": entries,
            "prevLogIdx": prev,
            "prevLogTerm": prev_term if prev_term is not None else -1,
        })
        if not entries:
            return start
        self._inflight.setdefault(node, []).append((entries[-1][1], sum(len(e[0]) for e in entries)))
        return entries[-1][1] + 1

    def _SyncObj__onNodeConnected(self, node: Node) -> None:
        SyncObj._SyncObj__onNodeConnected(self, node)
        # Whatever was in flight on the old connection is gone: find the follower's log again.
        self._probing.add(node)
        self._probe_sent.pop(node, None)
        self._inflight[node] = []
        match = self._SyncObj__raftMatchIndex
        if node in match:
            self._SyncObj__raftNextIndex[node] = match[node] + 1
