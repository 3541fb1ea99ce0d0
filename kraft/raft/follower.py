"""A follower's rules for an AppendEntries: pure decisions over a read-only view of its log.

Owns Raft §5.3 as kraft applies it in front of pysyncobj (research/pysyncobj.md, Exp4a):
- entries the follower already holds with the leader's term are stripped (a stale or repeated
  AppendEntries must never truncate entries that match the leader's: they may be acknowledged);
- a truncation is asked for only at the first real conflict (same index, other term);
- on a mismatch at ``prev``, the leader is pointed at the first entry of the follower's conflicting
  term instead of one entry back per round trip;
- the commit index the follower may adopt is clamped to the last entry the message carried (the
  follower's log beyond it may still be a deposed leader's);
- entries at or below the log's first index (the base, when the head was discarded) are committed
  here, so they match any legitimate leader's: a ``prev`` below it is read as the base itself.
Must not: write the log, send messages or read clocks; the pysyncobj adapter (``group.py``) acts
on the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Entry = tuple[bytes, int, int]  # (command, raft index, term), pysyncobj's shape


class LogTerms(Protocol):
    """What the rules read of the follower's log."""

    @property
    def first_index(self) -> int: ...  # 0 when the log is empty; the base when the head was discarded

    @property
    def last_index(self) -> int: ...

    def term_at(self, idx: int) -> int | None: ...  # None: no entry at idx


@dataclass(frozen=True)
class Mismatch:
    """The log does not hold ``prev`` with the leader's term: reject. ``hint`` is the index the
    leader should try next (the first entry of the follower's conflicting term), or None when the
    follower's log simply ends before ``prev`` (the leader learns its end from the reply)."""

    hint: int | None


@dataclass(frozen=True)
class Accept:
    """Append ``entries`` after ``prev`` (already-held entries stripped); ``truncate_from`` is set when
    the first of them replaces a conflicting entry. ``commit_index`` is what the follower may adopt."""

    prev: int
    prev_term: int
    entries: Sequence[Entry]
    truncate_from: int | None
    commit_index: int


def on_append(log: LogTerms, prev: int, prev_term: int, entries: Sequence[Entry],
              leader_commit: int) -> Mismatch | Accept:
    first = log.first_index
    if first > 1 and prev < first:
        # Below the base everything is committed (and gone): start matching at the base.
        covered = first - prev
        base_term = log.term_at(first)
        if base_term is None or base_term < 0:  # < 0: a snapshot is being installed over this log
            return Mismatch(hint=None)
        prev, prev_term, entries = first, base_term, entries[covered:]
    mine = log.term_at(prev)
    if mine != prev_term:
        if mine is None:
            return Mismatch(hint=None)
        first = prev
        while first - 1 > log.first_index and log.term_at(first - 1) == mine:
            first -= 1
        return Mismatch(hint=first)
    commit = min(leader_commit, prev + len(entries))
    held = 0
    for _command, idx, term in entries:
        if log.term_at(idx) != term:
            break
        held += 1
    if held:
        prev, prev_term = entries[held - 1][1], entries[held - 1][2]
        entries = entries[held:]
    truncate_from = entries[0][1] if entries and entries[0][1] <= log.last_index else None
    return Accept(prev, prev_term, entries, truncate_from, commit)
