"""What a leader knows of each follower's log, and what it may send next: pure Raft bookkeeping.

Owns: per follower, the match index (highest entry known to be in the follower's log), the next
index to send, the mode (probing while the follower's log end is unknown, streaming once it is) and
the in-flight window (entries sent but not yet acknowledged, bounded in count and bytes).
Rules it enforces:
- a stale reply (older term, or a reset from before a later acknowledgement) never rewinds the
  leader: match only grows, and next never drops below match + 1 (a reset below it probes from
  match + 1, since the follower's log is known to match up to there);
- a probe is one empty AppendEntries in flight, resent only when unanswered for a heartbeat;
- a reconnect or a new leadership forgets the window (what was in flight may be lost) and probes;
- a follower that answers from another disk than before (a replaced disk) starts from scratch: its
  match index is 0 again, the one case where match goes down;
- a follower that needs entries the leader has discarded gets a snapshot instead: parts sent one at a
  time (each acknowledged before the next; one unanswered for two heartbeats is sent again), and
  nothing else is sent to it meanwhile but heartbeats; replies to those cannot rewind it;
- a follower half way through installing another leader's snapshot can match nothing until a
  snapshot completes: it gets one whose base is at or above its commit index (so that its commit
  index never goes back) as soon as this leader's log base is there, and is not probed over and
  over meanwhile (the simulator, seed 8132: hints alternating between its pending base and the
  entry after it made leader and follower ping-pong without end).
Must not: read clocks, sockets or storage: times and log facts come in as arguments, decisions go
out as return values; the pysyncobj adapter (``group.py``) does the sending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_INFLIGHT_ENTRIES = 256  # per follower, sent but not acknowledged
MAX_INFLIGHT_BYTES = 8 * 1024 * 1024  # per follower: big batches must not flood one peer connection


SNAPSHOT_RESEND_HEARTBEATS = 2


@dataclass
class SnapshotSend:
    """A snapshot on its way to one follower: parts in order, one in flight."""

    id: int
    version: int = 0  # of the leader's data it copies (a change restarts the snapshot)
    cursor: tuple[int, int] = (0, -1)  # what the acknowledged parts covered (opaque here)
    seq: int = 0  # the part to send, or in flight
    in_flight_cursor: tuple[int, int] | None = None  # where the part in flight ends
    sent_at: float | None = None

    def part_due(self, now: float, heartbeat_s: float) -> bool:
        return self.sent_at is None or now - self.sent_at > SNAPSHOT_RESEND_HEARTBEATS * heartbeat_s

    def note_part_sent(self, now: float, cursor: tuple[int, int]) -> None:
        self.sent_at = now
        self.in_flight_cursor = cursor


@dataclass
class FollowerProgress:
    match: int = 0
    next: int = 1
    probing: bool = True
    probe_sent_at: float | None = None
    inflight: deque[tuple[int, int]] = field(default_factory=deque)  # (last index, bytes) per message
    inflight_bytes: int = 0
    sent_commit: int = 0  # the commit index the follower was last told
    # The follower's last applied index by its replies (None: none said it yet), and whether its
    # replies say it (a node from before they did never does).
    applied: int | None = None
    says_applied: bool = True
    snapshot: SnapshotSend | None = None
    lacks_base: bool = False  # the follower answered that its log does not reach the leader's base
    # The follower is half way through installing an earlier snapshot: the base a snapshot for it
    # must reach (its commit index), else None.
    snapshot_pending: int | None = None

    def restart_probe(self) -> None:
        self.probing = True
        self.probe_sent_at = None
        self.inflight.clear()
        self.inflight_bytes = 0
        self.snapshot = None

    # --- snapshots --------------------------------------------------------------------------------
    def needs_snapshot(self, base_index: int) -> bool:
        """Whether only a snapshot can bring the follower up: the entry before ``next`` is discarded
        here, and the follower said its log does not reach the base. Until it has said so, the probe
        goes to the base itself (a restarted follower's log often does reach it)."""
        if self.snapshot is not None:
            return False
        if self.snapshot_pending is not None:
            return base_index >= max(1, self.snapshot_pending)
        if self.next - 1 >= base_index:
            return False
        if self.probing and not self.lacks_base:
            self.next = base_index + 1
            return False
        return True

    def start_snapshot(self, snapshot_id: int, version: int = 0) -> SnapshotSend:
        self.restart_probe()
        self.probing = False
        self.lacks_base = False
        self.snapshot_pending = None
        self.snapshot = SnapshotSend(snapshot_id, version)
        return self.snapshot

    def on_snapshot_ack(self, snapshot_id: int, seq: int, installed_next: int | None, restart: bool = False) -> bool:
        """A part was acknowledged (``installed_next``: the last one, or the follower needs nothing,
        and its log now ends right before it; ``restart``: the follower did not see the first part).
        False for a stale or unknown acknowledgement."""
        snap = self.snapshot
        if snap is None or snap.id != snapshot_id or snap.seq != seq or snap.sent_at is None:
            return False
        if restart:
            self.snapshot = None
            self.lacks_base = True
            return True
        if installed_next is not None:
            self.snapshot = None
            self.on_success(installed_next)
            return True
        if snap.in_flight_cursor is not None:
            snap.cursor = snap.in_flight_cursor
        snap.seq += 1
        snap.sent_at = None
        snap.in_flight_cursor = None
        return True

    # --- what to send -----------------------------------------------------------------------------
    def probe_due(self, now: float, heartbeat: bool, heartbeat_s: float) -> bool:
        """Whether to send a (new) probe: none in flight, or the last went unanswered for a heartbeat."""
        if self.probe_sent_at is None:
            return True
        return heartbeat and now - self.probe_sent_at > heartbeat_s

    def note_probe_sent(self, now: float) -> None:
        self.probe_sent_at = now

    def room(self, last_index: int) -> int:
        """How many entries may be sent now (0: nothing to send, or the window is full)."""
        if self.probing or self.snapshot is not None or self.next > last_index \
                or self.inflight_bytes >= MAX_INFLIGHT_BYTES:
            return 0
        in_window = self.next - 1 - self.match
        return max(0, min(MAX_INFLIGHT_ENTRIES - in_window, last_index - self.next + 1))

    def note_sent(self, last_sent: int, size_bytes: int) -> None:
        self.inflight.append((last_sent, size_bytes))
        self.inflight_bytes += size_bytes
        self.next = last_sent + 1

    def note_commit_sent(self, commit_index: int) -> None:
        self.sent_commit = commit_index

    def heartbeat_due(self, heartbeat: bool, commit_index: int) -> bool:
        """An empty AppendEntries is owed on every heartbeat, and whenever the commit index moved."""
        return heartbeat or self.sent_commit < commit_index

    def heartbeat_prev(self) -> int:
        """prev index of an empty AppendEntries: the last entry sent (the connection is FIFO, so the
        follower has it unless it was lost, and then its reset makes the leader resend); never below
        1, since entry 1 (the first leader's no-op) matches on every replica."""
        return max(self.next, 2) - 1

    # --- what came back ---------------------------------------------------------------------------
    def on_applied(self, applied: object) -> None:
        """What a reply says the follower has applied and committed to its store; ``applied`` absent
        (None) from a node that never says."""
        if not isinstance(applied, int):
            self.says_applied = False
            return
        self.says_applied = True
        self.applied = applied if self.applied is None else max(self.applied, applied)

    def on_success(self, next_index: int) -> None:
        acked = next_index - 1
        if acked > self.match:
            self.match = acked
        if self.snapshot is not None:
            # A heartbeat during the snapshot matched after all (its log reaches the leader's base).
            self.snapshot = None
        self.snapshot_pending = None
        self.next = max(self.next, self.match + 1)
        while self.inflight and self.inflight[0][0] <= self.match:
            self.inflight_bytes -= self.inflight.popleft()[1]
        if self.probing:
            self.probing = False
            self.probe_sent_at = None

    def on_reset(self, next_index: int, last_index: int, base_index: int = 0,
                 snapshot_pending: int | None = None) -> bool:
        """The follower's log ends (or conflicts) before what was sent: probe from where it says, never
        below match + 1. False when nothing changes (already probing from there, or a snapshot is on
        its way: the follower's log is known not to reach the leader's). ``snapshot_pending``: the
        follower is half way through installing a snapshot, so only a snapshot brings it up, with a
        base at or above this index (its commit index)."""
        if self.snapshot is not None:
            return False
        if snapshot_pending is not None:
            if self.snapshot_pending is not None and snapshot_pending <= self.snapshot_pending:
                return False  # said before: the snapshot goes once this leader's base is there
            self.restart_probe()
            self.snapshot_pending = snapshot_pending
            return True
        if next_index - 1 < base_index and self.match < base_index:
            self.lacks_base = True
        if next_index - 1 < self.match:
            # Stale (the follower has acknowledged more since), or a conflict hint that walked back
            # over entries known to match (the follower's conflicting term began before match: found
            # by the simulator, seed 297, where ignoring it left the follower behind for good). The
            # follower holds 1..match either way: probe right after it.
            if self.probing and self.next == self.match + 1:
                return False
            next_index = self.match + 1
        self.next = max(self.match + 1, min(next_index, last_index + 1))
        self.restart_probe()
        return True


class LeaderProgress:
    """Every follower's progress for one term of leadership; a new term starts from scratch."""

    def __init__(self) -> None:
        self.term = -1
        self.followers: dict[int, FollowerProgress] = {}

    def for_term(self, term: int, next_index: Mapping[int, int]) -> bool:
        """Start tracking a new leadership (False if ``term`` is the one tracked): every follower is
        probed, from the index the new leader starts at (its own log end when it was elected)."""
        if term == self.term:
            return False
        self.term = term
        self.followers = {f: FollowerProgress(match=0, next=n) for f, n in next_index.items()}
        return True

    def get(self, follower: int) -> FollowerProgress | None:
        return self.followers.get(follower)

    def add(self, follower: int, next_index: int) -> None:
        """A member joined the group during this leadership: probe it from ``next_index``."""
        self.followers.setdefault(follower, FollowerProgress(match=0, next=next_index))

    def remove(self, follower: int) -> None:
        self.followers.pop(follower, None)

    def replaced(self, follower: int, next_index: int) -> FollowerProgress | None:
        """The follower answers from another disk than before (its node lost its log): nothing it
        acknowledged holds any more; probe it from ``next_index`` like a new follower."""
        if follower not in self.followers:
            return None
        self.followers[follower] = FollowerProgress(match=0, next=next_index)
        return self.followers[follower]

    def reconnected(self, follower: int) -> None:
        """What was in flight on the old connection is gone: find the follower's log again."""
        progress = self.followers.get(follower)
        if progress is not None:
            progress.next = progress.match + 1
            progress.restart_probe()
