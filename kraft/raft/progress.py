"""What a leader knows of each follower's log, and what it may send next: pure Raft bookkeeping.

Owns: per follower, the match index (highest entry known to be in the follower's log), the next
index to send, the mode (probing while the follower's log end is unknown, streaming once it is) and
the in-flight window (entries sent but not yet acknowledged, bounded in count and bytes).
Rules it enforces:
- a stale reply (older term, or a reset from before a later acknowledgement) never rewinds the
  leader: match only grows, and next never drops below match + 1 (a reset below it probes from
  match + 1, since the follower's log is known to match up to there);
- a probe is one empty AppendEntries in flight, resent only when unanswered for a heartbeat;
- a reconnect or a new leadership forgets the window (what was in flight may be lost) and probes.
Must not: read clocks, sockets or storage: times and log facts come in as arguments, decisions go
out as return values; the pysyncobj adapter (``group.py``) does the sending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_INFLIGHT_ENTRIES = 256  # per follower, sent but not acknowledged
MAX_INFLIGHT_BYTES = 8 * 1024 * 1024  # per follower: big batches must not flood one peer connection


@dataclass
class FollowerProgress:
    match: int = 0
    next: int = 1
    probing: bool = True
    probe_sent_at: float | None = None
    inflight: deque[tuple[int, int]] = field(default_factory=deque)  # (last index, bytes) per message
    inflight_bytes: int = 0
    sent_commit: int = 0  # the commit index the follower was last told

    def restart_probe(self) -> None:
        self.probing = True
        self.probe_sent_at = None
        self.inflight.clear()
        self.inflight_bytes = 0

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
        if self.probing or self.next > last_index or self.inflight_bytes >= MAX_INFLIGHT_BYTES:
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
    def on_success(self, next_index: int) -> None:
        acked = next_index - 1
        if acked > self.match:
            self.match = acked
        self.next = max(self.next, self.match + 1)
        while self.inflight and self.inflight[0][0] <= self.match:
            self.inflight_bytes -= self.inflight.popleft()[1]
        if self.probing:
            self.probing = False
            self.probe_sent_at = None

    def on_reset(self, next_index: int, last_index: int) -> bool:
        """The follower's log ends (or conflicts) before what was sent: probe from where it says, never
        below match + 1. False when nothing changes (already probing from there)."""
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

    def reconnected(self, follower: int) -> None:
        """What was in flight on the old connection is gone: find the follower's log again."""
        progress = self.followers.get(follower)
        if progress is not None:
            progress.next = progress.match + 1
            progress.restart_probe()
