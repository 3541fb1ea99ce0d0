"""kraft's own Raft rules as pure functions: the follower's AppendEntries decision and the leader's
per-follower progress. Tables of (log, message) -> decision, and the rules that keep a stale or
repeated message from doing harm."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.raft.election import VoteLedger, grants_pre_vote
from kraft.raft.follower import Accept, Mismatch, on_append
from kraft.raft.progress import MAX_INFLIGHT_ENTRIES, FollowerProgress, LeaderProgress


class ListLog:
    """A log given as the term of each entry, from index ``first``."""

    def __init__(self, terms: list[int], first: int = 1) -> None:
        self.terms = terms
        self.first = first

    @property
    def first_index(self) -> int:
        return self.first if self.terms else 0

    @property
    def last_index(self) -> int:
        return self.first + len(self.terms) - 1 if self.terms else 0

    def term_at(self, idx: int) -> int | None:
        if not self.terms or idx < self.first or idx > self.last_index:
            return None
        return self.terms[idx - self.first]


def entries(first: int, terms: list[int]) -> list[tuple[bytes, int, int]]:
    return [(b"c%d" % (first + i), first + i, t) for i, t in enumerate(terms)]


# (log terms, prev, prev_term, entry terms from prev+1, leader commit) -> expected decision
APPEND_CASES = [
    ("append to the end", [1, 1], 2, 1, [1, 2], 3,
     Accept(2, 1, entries(3, [1, 2]), None, 3)),
    ("commit clamped to what the message carried", [1, 1, 1, 1], 1, 1, [1], 9,
     Accept(2, 1, [], None, 2)),
    ("repeat of held entries is stripped, nothing truncated", [1, 1, 2, 2], 1, 1, [1, 2], 2,
     Accept(3, 2, [], None, 2)),
    ("stale message below a longer log keeps the suffix", [1, 1, 2, 2, 2], 2, 1, [2], 4,
     Accept(3, 2, [], None, 3)),
    ("real conflict truncates from the first differing entry", [1, 1, 2, 2], 2, 1, [2, 3, 3], 4,
     Accept(3, 2, entries(4, [3, 3]), 4, 4)),
    ("log ends before prev", [1, 1], 4, 1, [1], 4, Mismatch(hint=None)),
    ("term mismatch at prev points at the first entry of that term", [1, 1, 2, 2, 2], 5, 3, [3], 5,
     Mismatch(hint=3)),
    ("empty log, first message", [], 0, 0, [1], 1, Mismatch(hint=None)),
]


@pytest.mark.parametrize(("name", "log", "prev", "prev_term", "terms", "commit", "expected"), APPEND_CASES,
                         ids=[c[0] for c in APPEND_CASES])
def test_follower_append_table(name: str, log: list[int], prev: int, prev_term: int, terms: list[int],
                               commit: int, expected: Accept | Mismatch) -> None:
    got = on_append(ListLog(log), prev, prev_term, entries(prev + 1, terms), commit)
    if isinstance(expected, Accept):
        assert isinstance(got, Accept)
        assert (got.prev, got.prev_term, list(got.entries), got.truncate_from, got.commit_index) == (
            expected.prev, expected.prev_term, list(expected.entries), expected.truncate_from,
            expected.commit_index)
    else:
        assert got == expected


@given(st.lists(st.integers(1, 3), min_size=1, max_size=12).map(sorted), st.data())
def test_a_message_drawn_from_the_followers_own_log_never_truncates(terms: list[int], data: st.DataObject) -> None:
    """Any AppendEntries whose entries the follower already holds (a stale or repeated one) is
    accepted without a truncation: matching entries are never removed."""
    log = ListLog(terms)
    prev = data.draw(st.integers(1, len(terms)))
    n = data.draw(st.integers(0, len(terms) - prev))
    got = on_append(log, prev, terms[prev - 1], entries(prev + 1, terms[prev:prev + n]), 10**6)
    assert isinstance(got, Accept)
    assert got.truncate_from is None and not got.entries
    assert got.commit_index == prev + n


def test_progress_success_moves_match_and_frees_the_window() -> None:
    p = FollowerProgress(match=0, next=5)
    p.on_success(5)  # probe answered: the follower holds 1..4
    assert (p.match, p.next, p.probing) == (4, 5, False)
    assert p.room(last_index=10) == 6
    p.note_sent(7, 300)
    p.note_sent(10, 400)
    assert p.room(last_index=10) == 0 and p.inflight_bytes == 700
    p.on_success(8)
    assert (p.match, p.next, p.inflight_bytes) == (7, 11, 400)


def test_progress_stale_replies_never_rewind() -> None:
    p = FollowerProgress(match=0, next=1)
    p.on_success(11)
    p.on_success(6)  # an older success arriving late
    assert (p.match, p.next) == (10, 11)
    assert p.on_reset(4, last_index=20)  # from before the follower acknowledged 10: probe after 10
    assert (p.match, p.next, p.probing) == (10, 11, True)
    assert not p.on_reset(4, last_index=20)  # again: already probing there
    p.on_success(11)
    assert p.on_reset(12, last_index=20)  # a real one: entries after 10 were lost in flight
    assert (p.match, p.next, p.probing) == (10, 12, True)


def test_progress_conflict_hint_below_match_probes_after_match() -> None:
    """A follower's conflicting term may have begun before the leader's match index (it led that
    term itself): its hint then points below match. The leader must not ignore it as stale, or the
    follower never catches up (simulator seed 297)."""
    p = FollowerProgress(match=19, next=25, probing=False)
    assert p.on_reset(16, last_index=24)
    assert (p.match, p.next, p.probing) == (19, 20, True)


def test_progress_reset_never_points_past_the_leaders_log() -> None:
    p = FollowerProgress(match=3, next=4, probing=False)
    assert p.on_reset(50, last_index=9)
    assert p.next == 10


def test_progress_window_is_bounded() -> None:
    p = FollowerProgress(match=0, next=1, probing=False)
    assert p.room(last_index=10_000) == MAX_INFLIGHT_ENTRIES
    p.note_sent(MAX_INFLIGHT_ENTRIES, 10)
    assert p.room(last_index=10_000) == 0


def test_probe_is_resent_only_after_a_silent_heartbeat() -> None:
    p = FollowerProgress()
    assert p.probe_due(now=0.0, heartbeat=False, heartbeat_s=0.5)
    p.note_probe_sent(0.0)
    assert not p.probe_due(now=0.3, heartbeat=True, heartbeat_s=0.5)
    assert not p.probe_due(now=0.9, heartbeat=False, heartbeat_s=0.5)
    assert p.probe_due(now=0.9, heartbeat=True, heartbeat_s=0.5)


def test_heartbeats_and_commit_news() -> None:
    p = FollowerProgress(match=4, next=5, probing=False)
    assert p.heartbeat_due(heartbeat=True, commit_index=0)
    p.note_commit_sent(4)
    assert not p.heartbeat_due(heartbeat=False, commit_index=4)
    assert p.heartbeat_due(heartbeat=False, commit_index=5)
    assert FollowerProgress(next=1).heartbeat_prev() == 1


def test_a_new_term_starts_every_follower_afresh() -> None:
    leader = LeaderProgress()
    assert leader.for_term(3, {2: 8, 3: 8})
    p2 = leader.get(2)
    assert p2 is not None
    p2.on_success(8)
    assert not leader.for_term(3, {2: 1, 3: 1})  # same term: kept
    assert leader.get(2) is p2
    assert leader.for_term(4, {2: 9, 3: 9})
    fresh = leader.get(2)
    assert fresh is not None and (fresh.match, fresh.next, fresh.probing) == (0, 9, True)
    leader.reconnected(3)
    p3 = leader.get(3)
    assert p3 is not None and (p3.next, p3.probing) == (1, True)


def test_a_vote_counts_once_per_voter_and_term() -> None:
    ledger = VoteLedger()
    assert ledger.first_vote(3, 2)
    assert not ledger.first_vote(3, 2)  # the same vote delivered twice
    assert ledger.first_vote(3, 4)
    assert ledger.first_vote(4, 2)  # a new term: everyone votes afresh


def test_a_follower_on_a_new_disk_starts_from_scratch() -> None:
    leader = LeaderProgress()
    leader.for_term(4, {2: 101})
    progress = leader.get(2)
    assert progress is not None
    progress.on_success(101)
    assert progress.match == 100
    fresh = leader.replaced(2, 101)
    assert fresh is not None and fresh.match == 0 and fresh.probing, "nothing the old disk held counts"
    assert fresh.on_reset(2, 100)
    assert fresh.next == 2, "its empty log is probed from the start"
    assert leader.replaced(9, 101) is None, "not a member"


# --- pre-vote -------------------------------------------------------------------------------------
PRE_VOTES = [
    # asked term, candidate's (last term, last index), own term, own last log, leader heard, may vote, granted
    (6, (3, 33), 5, (0, 1), False, True, True),  # seed 30044: the replica with the log asks a stale one
    (6, (0, 1), 5, (3, 33), False, True, False),  # a log behind ours
    (6, (3, 30), 5, (3, 33), False, True, False),  # same last term, shorter
    (6, (4, 2), 5, (3, 33), False, True, True),  # a later last term wins whatever the length
    (5, (3, 33), 5, (3, 33), False, True, False),  # not above our term: a real vote there may be taken
    (6, (3, 33), 5, (3, 33), True, True, False),  # a working leader is not disrupted
    (6, (3, 33), 5, (3, 33), False, False, False),  # a replica that lost its disk never votes
]


@pytest.mark.parametrize(("asked", "last_log", "own_term", "own_last_log", "heard", "may_vote", "granted"), PRE_VOTES)
def test_pre_vote_is_granted_only_where_a_real_vote_would_be_free(asked: int, last_log: tuple[int, int],
                                                                  own_term: int, own_last_log: tuple[int, int],
                                                                  heard: bool, may_vote: bool, granted: bool) -> None:
    assert grants_pre_vote(asked_term=asked, last_log=last_log, own_term=own_term, own_last_log=own_last_log,
                           leader_heard_recently=heard, may_vote=may_vote) is granted
