"""Kafka fetch sessions (KIP-227): a node's bounded cache of incremental fetch sessions.

A consumer's full fetch (Fetch v7+, session epoch 0) lists every partition it reads; the node
remembers them as a session and answers its id. The consumer's next fetches are incremental: they
carry the session id and the next epoch, list only the partitions whose fetch position (or limit, or
leader epoch) changed or that were added, and name the ones to forget; the answer leaves out the
partitions with nothing new (no records, no error, the same high watermark and log start offset).
Epoch -1 closes a session (and the fetch is served without one); epoch 0 with a session id closes
that session and starts a new one.

Owns: the sessions, their partitions (in serving order: a partition that returned records moves to
the end, so under a byte limit every partition gets its turn, as Kafka rotates them), the epoch
rules and their errors (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH), which partitions
an answer includes, and eviction. The cache holds at most ``max_sessions`` sessions (cluster.ini's
``max_fetch_sessions``; 0 turns sessions off). When it is full, a new session may take the place of
(Kafka's ``FetchSessionCache.tryEvict``): the least recently used session if it has not been used
for ``eviction_ms``, else the smallest session (fewest partitions, then lowest id) created more than
``eviction_ms`` ago, if the new one has more partitions; otherwise the fetch is served without a
session (session id 0) and the consumer goes on with full fetches. A flood of new sessions thus
never grows the cache, and cannot push out sessions younger than ``eviction_ms``.
Must not: read clocks or global randomness (``now_ms`` is passed in, the id generator injected), or
read partitions (the fetch handler does, with the broker). Fetches from kraft's Kafka listener are
all consumers' (kraft's replicas replicate by Raft), so Kafka's "privileged" follower sessions do not
exist here.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from kraft import errors

INITIAL_EPOCH = 0  # a full fetch that creates a session
FINAL_EPOCH = -1  # a full fetch that closes its session and creates none
NO_SESSION = 0
EVICTION_MS = 120_000  # Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS
_MAX_ID = (1 << 31) - 1


class FetchKind(Enum):
    SESSIONLESS = "sessionless"  # every partition asked, every partition answered, no session kept
    FULL = "full"  # the same, and a session is created from it (if the cache lets it)
    INCREMENTAL = "incremental"  # a session's partitions; the answer leaves out unchanged ones


@dataclass(frozen=True, slots=True)
class Wanted:
    """One partition of a fetch request (or of a session)."""

    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1

    @property
    def key(self) -> tuple[str, int]:
        return self.topic, self.partition


@dataclass(frozen=True, slots=True)
class Served:
    """What an answer said about one partition: what decides whether the next incremental answer
    must include it."""

    error_code: int
    high_watermark: int
    log_start_offset: int
    has_records: bool


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What to read for one fetch request, in order, and how to answer it (``finish``)."""

    kind: FetchKind
    partitions: tuple[Wanted, ...]
    session_id: int = NO_SESSION  # the session an incremental fetch belongs to


@dataclass(slots=True)
class _Cached:
    wanted: Wanted
    high_watermark: int = -1  # as the last answer told it (-1: never, or it was an error)
    log_start_offset: int = -1


@dataclass(slots=True)
class _Session:
    id: int
    created_ms: int
    last_used_ms: int
    epoch: int = 1  # the epoch the next incremental fetch must carry
    partitions: OrderedDict[tuple[str, int], _Cached] = field(default_factory=OrderedDict)


def next_epoch(epoch: int) -> int:
    """Kafka's epoch sequence: 1, 2, ... up to INT32_MAX, then 1 again (0 and -1 mean full fetches)."""
    return 1 if epoch >= _MAX_ID else epoch + 1


class FetchSessions:
    """The cache (one per node's Kafka listener; asyncio loop only)."""

    def __init__(self, max_sessions: int, eviction_ms: int = EVICTION_MS, rng: random.Random | None = None) -> None:
        if max_sessions < 0:
            raise ValueError(f"max_sessions must be >= 0, not {max_sessions}")
        self.max_sessions = max_sessions
        self.eviction_ms = eviction_ms
        self._rng = rng if rng is not None else random.Random()
        self._sessions: OrderedDict[int, _Session] = OrderedDict()  # least recently used first
        self.created = 0
        self.evicted = 0
        self.refused = 0  # full fetches served without a session: the cache was full of better ones
        self.incremental = 0  # incremental fetches begun (each one a session's next epoch)

    def __len__(self) -> int:
        return len(self._sessions)

    def partitions_of(self, session_id: int) -> list[tuple[str, int]] | None:
        """A session's partitions in serving order (None: no such session)."""
        s = self._sessions.get(session_id)
        return None if s is None else list(s.partitions)

    def epoch_of(self, session_id: int) -> int | None:
        """The epoch a session's next incremental fetch must carry (None: no such session)."""
        s = self._sessions.get(session_id)
        return None if s is None else s.epoch

    def begin(self, session_id: int, epoch: int, wanted: Sequence[Wanted], forgotten: Sequence[tuple[str, int]],
              now_ms: int) -> FetchPlan:
        """The plan for a fetch request carrying ``session_id`` and ``epoch``: full fetches close the
        session they name; an incremental one updates its session (``wanted`` added or changed,
        ``forgotten`` removed) and moves it to the next epoch. FetchSessionIdNotFound or
        InvalidFetchSessionEpoch for an incremental fetch the cache cannot take."""
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != NO_SESSION:
                self._sessions.pop(session_id, None)
            kind = FetchKind.FULL if epoch == INITIAL_EPOCH and self.max_sessions > 0 else FetchKind.SESSIONLESS
            return FetchPlan(kind, tuple(wanted))
        session = self._sessions.get(session_id)
        if session is None:
            raise errors.FetchSessionIdNotFound(f"fetch session {session_id} is not on this node (evicted or closed)")
        if epoch != session.epoch:
            raise errors.InvalidFetchSessionEpoch(
                f"fetch session {session_id} expects epoch {session.epoch}, not {epoch}")
        for key in forgotten:
            session.partitions.pop(key, None)
        for w in wanted:
            cached = session.partitions.get(w.key)
            if cached is None:
                session.partitions[w.key] = _Cached(w)
            else:
                cached.wanted = w  # keeps its place and what the client was last told
        session.epoch = next_epoch(session.epoch)
        self._touch(session, now_ms)
        self.incremental += 1
        return FetchPlan(FetchKind.INCREMENTAL, tuple(c.wanted for c in session.partitions.values()), session_id)

    def finish(self, plan: FetchPlan, served: Sequence[Served], now_ms: int) -> tuple[int, list[bool]]:
        """(the session id to answer with, which of ``plan.partitions`` the answer includes), once
        they were read (``served``, in the plan's order). A full fetch creates its session here,
        if the cache has room for it or can evict one for it."""
        if len(served) != len(plan.partitions):
            raise ValueError(f"{len(served)} partitions served for a plan of {len(plan.partitions)}")
        if plan.kind is FetchKind.SESSIONLESS:
            return NO_SESSION, [True] * len(served)
        if plan.kind is FetchKind.FULL:
            return self._create(plan.partitions, served, now_ms), [True] * len(served)
        session = self._sessions.get(plan.session_id)
        if session is None:  # closed or evicted while this fetch waited: its next fetch learns it
            return plan.session_id, [True] * len(served)
        include = []
        for w, s in zip(plan.partitions, served, strict=True):
            cached = session.partitions.get(w.key)
            if cached is None:  # forgotten by a later fetch meanwhile
                include.append(False)
                continue
            must = s.has_records or s.error_code != 0 or (cached.high_watermark, cached.log_start_offset) != (
                s.high_watermark, s.log_start_offset)
            # an error leaves the high watermark unknown, so the partition is sent again once it is gone
            cached.high_watermark = -1 if s.error_code else s.high_watermark
            cached.log_start_offset = s.log_start_offset
            if s.has_records:
                session.partitions.move_to_end(w.key)
            include.append(must)
        return plan.session_id, include

    def _create(self, partitions: Sequence[Wanted], served: Sequence[Served], now_ms: int) -> int:
        size = len(partitions)
        if len(self._sessions) >= self.max_sessions and not self._evict_for(size, now_ms):
            self.refused += 1
            return NO_SESSION
        session_id = self._new_id()
        session = _Session(session_id, now_ms, now_ms)
        for w, s in zip(partitions, served, strict=True):
            session.partitions[w.key] = _Cached(w, -1 if s.error_code else s.high_watermark, s.log_start_offset)
        self._sessions[session_id] = session
        self.created += 1
        return session_id

    def _evict_for(self, size: int, now_ms: int) -> bool:
        """Make room for a new session of ``size`` partitions, if one may go (Kafka's rules)."""
        if not self._sessions:
            return False
        lru = next(iter(self._sessions.values()))
        if now_ms - lru.last_used_ms > self.eviction_ms:
            victim = lru
        else:
            evictable = [s for s in self._sessions.values() if now_ms - s.created_ms > self.eviction_ms]
            if not evictable:
                return False
            victim = min(evictable, key=lambda s: (len(s.partitions), s.id))
            if size <= len(victim.partitions):
                return False
        del self._sessions[victim.id]
        self.evicted += 1
        return True

    def _touch(self, session: _Session, now_ms: int) -> None:
        session.last_used_ms = now_ms
        self._sessions.move_to_end(session.id)

    def _new_id(self) -> int:
        while True:
            session_id = self._rng.randint(1, _MAX_ID)
            if session_id not in self._sessions:
                return session_id
