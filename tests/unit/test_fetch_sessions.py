"""Kafka fetch sessions (KIP-227), the pure cache: epochs and their errors, what an incremental answer
includes, the serving order, and eviction under Kafka's rules (a table of scenarios each), a cache
bounded under a flood of sessions; then the Fetch handler over it (the wire fields)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, cast

import pytest

from kraft import errors
from kraft.groups.coordinator import GroupCoordinator
from kraft.node.broker import Broker
from kraft.node.broker_values import FetchedPartition, FetchRequest
from kraft.node.context import NodeServices
from kraft.node.kafka import handlers as kafka_handlers
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.fetch_sessions import (
    NO_SESSION,
    FetchKind,
    FetchPlan,
    FetchSessions,
    Served,
    Wanted,
    next_epoch,
)
from kraft.protocol.kafka.codec import encode_response
from kraft.protocol.kafka.records import encode_kafka_batch, with_base_offset
from tests.unit.allow_everything import AllowEverything

A0, A1, B0 = Wanted("a", 0, 10, 1000), Wanted("a", 1, 20, 1000), Wanted("b", 0, 5, 1000)
QUIET = Served(0, 50, 0, False)  # nothing new since the last answer (as cached below)


def quiet(n: int) -> list[Served]:
    return [QUIET] * n


def new_session(cache: FetchSessions, wanted: list[Wanted], now_ms: int = 0) -> int:
    plan = cache.begin(NO_SESSION, 0, wanted, [], now_ms)
    session_id, include = cache.finish(plan, quiet(len(wanted)), now_ms)
    assert include == [True] * len(wanted)
    return session_id


# --- epochs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EpochCase:
    name: str
    session: str  # "ours", "none" (0) or "other" (an id the cache does not have)
    epoch: int
    expected: FetchKind | type[errors.KraftError]
    session_left: bool  # whether our session is still there after the request


EPOCH_CASES = [
    EpochCase("the next epoch continues the session", "ours", 1, FetchKind.INCREMENTAL, True),
    EpochCase("a repeated or skipped epoch", "ours", 2, errors.InvalidFetchSessionEpoch, True),
    EpochCase("an older epoch", "ours", -5, errors.InvalidFetchSessionEpoch, True),
    EpochCase("an unknown session", "other", 1, errors.FetchSessionIdNotFound, True),
    EpochCase("session 0 cannot be incremental", "none", 1, errors.FetchSessionIdNotFound, True),
    EpochCase("epoch 0 with our id: closed, a new full session", "ours", 0, FetchKind.FULL, False),
    EpochCase("epoch -1 with our id: closed, sessionless", "ours", -1, FetchKind.SESSIONLESS, False),
    EpochCase("epoch 0 without an id: a new full session", "none", 0, FetchKind.FULL, True),
    EpochCase("epoch -1 without an id: sessionless (Fetch < v7 and librdkafka)", "none", -1,
              FetchKind.SESSIONLESS, True),
]


@pytest.mark.parametrize("case", EPOCH_CASES, ids=lambda c: c.name)
def test_epochs(case: EpochCase) -> None:
    cache = FetchSessions(10, rng=random.Random(1))
    ours = new_session(cache, [A0, A1])
    session_id = {"ours": ours, "none": NO_SESSION, "other": ours + 1}[case.session]
    if isinstance(case.expected, FetchKind):
        plan = cache.begin(session_id, case.epoch, [B0], [], 5)
        assert plan.kind is case.expected
    else:
        with pytest.raises(case.expected):
            cache.begin(session_id, case.epoch, [B0], [], 5)
        assert cache.partitions_of(ours) == [("a", 0), ("a", 1)], "a refused request changes nothing"
    assert (cache.partitions_of(ours) is not None) == case.session_left


def test_epochs_count_up_and_wrap_to_one() -> None:
    cache = FetchSessions(10, rng=random.Random(2))
    sid = new_session(cache, [A0])
    for epoch in (1, 2, 3):
        plan = cache.begin(sid, epoch, [], [], 0)
        cache.finish(plan, quiet(1), 0)
    assert cache.epoch_of(sid) == 4
    assert next_epoch(2**31 - 1) == 1 and next_epoch(1) == 2


# --- what an incremental answer includes ------------------------------------------------------------

@pytest.mark.parametrize(("served", "included"), [
    (Served(0, 50, 0, False), False),  # the same high watermark and log start, no records
    (Served(0, 50, 0, True), True),  # records
    (Served(0, 51, 0, False), True),  # the high watermark moved
    (Served(0, 50, 3, False), True),  # the log start moved (retention, DeleteRecords)
    (Served(6, -1, -1, False), True),  # an error (NOT_LEADER_OR_FOLLOWER)
], ids=["unchanged", "records", "high-watermark", "log-start", "error"])
def test_an_incremental_answer_includes_what_changed(served: Served, included: bool) -> None:
    cache = FetchSessions(10, rng=random.Random(3))
    sid = new_session(cache, [A0, A1])
    plan = cache.begin(sid, 1, [], [], 0)
    assert [w.key for w in plan.partitions] == [("a", 0), ("a", 1)]
    assert cache.finish(plan, [served, QUIET], 0) == (sid, [included, False])


def test_a_partition_is_sent_again_after_its_error_clears() -> None:
    cache = FetchSessions(10, rng=random.Random(4))
    sid = new_session(cache, [A0])
    for epoch, served, included in [(1, Served(6, -1, -1, False), True), (2, QUIET, True), (3, QUIET, False)]:
        plan = cache.begin(sid, epoch, [], [], 0)
        assert cache.finish(plan, [served], 0)[1] == [included], epoch


def test_incremental_requests_add_change_and_forget_partitions() -> None:
    cache = FetchSessions(10, rng=random.Random(5))
    sid = new_session(cache, [A0, A1])
    moved = Wanted("a", 0, 99, 1000, 7)  # the consumer's position moved on, with a leader epoch
    plan = cache.begin(sid, 1, [moved, B0], [("a", 1), ("gone", 3)], 0)
    assert plan.partitions == (moved, B0), "a changed partition keeps its place, a new one goes last"
    assert cache.finish(plan, quiet(2), 0)[1] == [False, True], "a new partition is always sent first"
    plan = cache.begin(sid, 2, [], [], 0)
    assert plan.partitions == (moved, B0), "the session remembers the position it was last given"


def test_partitions_that_returned_records_move_to_the_end() -> None:
    cache = FetchSessions(10, rng=random.Random(6))
    sid = new_session(cache, [A0, A1, B0])
    plan = cache.begin(sid, 1, [], [], 0)
    cache.finish(plan, [Served(0, 60, 0, True), QUIET, QUIET], 0)
    assert cache.partitions_of(sid) == [("a", 1), ("b", 0), ("a", 0)]


def test_finish_of_a_session_closed_meanwhile_sends_everything() -> None:
    cache = FetchSessions(10, rng=random.Random(7))
    sid = new_session(cache, [A0])
    plan = cache.begin(sid, 1, [], [], 0)
    cache.begin(sid, -1, [], [], 0)  # closed by a later request while the fetch waited
    assert cache.finish(plan, quiet(1), 0) == (sid, [True])
    with pytest.raises(ValueError, match="1 partitions served for a plan of 2"):
        cache.finish(FetchPlan(FetchKind.SESSIONLESS, (A0, A1)), quiet(1), 0)


# --- eviction -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvictionCase:
    name: str
    existing: list[tuple[int, int, int]]  # per session: (partitions, created_ms, last_used_ms), in that order
    new_size: int
    now_ms: int
    evicted: int | None  # index into ``existing`` of the session that goes; None: the new one gets none


EVICTION = 1000
EVICTION_CASES = [
    EvictionCase("a stale session goes first, however big", [(9, 0, 0), (1, 0, 1500)], 1, 1600, 0),
    EvictionCase("the least recently used stale one, not the oldest", [(1, 0, 300), (1, 100, 100)], 1, 1200, 1),
    EvictionCase("no stale one: the smallest old enough, for a bigger newcomer",
                 [(3, 0, 900), (2, 0, 950), (5, 0, 990)], 4, 1500, 1),
    EvictionCase("a newcomer no bigger than the smallest gets no session", [(3, 0, 900), (2, 0, 950)], 2, 1500, None),
    EvictionCase("sessions younger than eviction_ms are never evicted for size",
                 [(1, 800, 800), (1, 900, 900)], 50, 1500, None),
    EvictionCase("the smallest of those old enough, not of all", [(1, 800, 1400), (2, 0, 1450)], 3, 1500, 1),
]


@pytest.mark.parametrize("case", EVICTION_CASES, ids=lambda c: c.name)
def test_eviction(case: EvictionCase) -> None:
    cache = FetchSessions(len(case.existing), eviction_ms=EVICTION, rng=random.Random(8))
    ids = []
    for size, created, _ in case.existing:
        ids.append(new_session(cache, [Wanted("t", p, 0, 1) for p in range(size)], created))
    for sid, (_, created, last_used) in zip(ids, case.existing, strict=True):
        if last_used != created:  # used since: an incremental fetch at last_used
            epoch = cache.epoch_of(sid)
            assert epoch is not None
            cache.finish(cache.begin(sid, epoch, [], [], last_used), quiet(len(cast(list, cache.partitions_of(sid)))),
                         last_used)
    created_id = new_session(cache, [Wanted("n", p, 0, 1) for p in range(case.new_size)], case.now_ms)
    assert len(cache) == len(case.existing), "the cache never grows past max_sessions"
    if case.evicted is None:
        assert created_id == NO_SESSION and cache.refused == 1
        assert all(cache.partitions_of(sid) is not None for sid in ids)
    else:
        assert created_id != NO_SESSION and cache.evicted == 1
        assert [cache.partitions_of(sid) is None for sid in ids] == [i == case.evicted for i in range(len(ids))]


def test_a_flood_of_sessions_stays_bounded_and_keeps_young_sessions() -> None:
    cache = FetchSessions(50, eviction_ms=EVICTION, rng=random.Random(9))
    mine = new_session(cache, [A0, A1], now_ms=10)
    for i in range(5000):  # an attacker opening sessions as fast as it can, one partition each
        new_session(cache, [Wanted("t", i % 7, 0, 1)], now_ms=20 + i // 100)
    assert len(cache) == 50 and cache.created == 50 and cache.refused == 5000 - 49
    assert cache.partitions_of(mine) is not None, "a session younger than eviction_ms stays"
    assert cache.begin(mine, 1, [], [], 100).kind is FetchKind.INCREMENTAL


def test_no_sessions_when_the_cache_is_off() -> None:
    cache = FetchSessions(0)
    plan = cache.begin(NO_SESSION, 0, [A0], [], 0)
    assert plan.kind is FetchKind.SESSIONLESS and cache.finish(plan, quiet(1), 0) == (NO_SESSION, [True])
    with pytest.raises(ValueError, match="max_sessions"):
        FetchSessions(-1)


# --- the Fetch handler over the cache -----------------------------------------------------------------

BATCH = with_base_offset(encode_kafka_batch([(5, b"k", b"v", [])]), 10)


class LogBroker(AllowEverything):
    """Fetch over fixed logs: (topic, partition) -> high watermark; records at offset 10 only."""

    def __init__(self) -> None:
        self.high_watermarks = {("a", 0): 11, ("a", 1): 11, ("b", 0): 11}
        self.asked: list[list[tuple[str, int, int]]] = []

    async def fetch(self, request: FetchRequest) -> list[FetchedPartition]:
        self.asked.append([(p.topic, p.partition, p.offset) for p in request.partitions])
        out = []
        for p in request.partitions:
            hw = self.high_watermarks.get((p.topic, p.partition))
            if hw is None:
                out.append(FetchedPartition(p.topic, p.partition, -1, -1, (), errors.UnknownTopicOrPartition("gone")))
            else:
                out.append(FetchedPartition(p.topic, p.partition, hw, 0, [(10, BATCH)] if p.offset == 10 else []))
        return out


def fetch(ctx: KafkaContext, session_id: int, epoch: int, parts: list[tuple[str, int, int]],
          forgotten: list[tuple[str, int]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    topics: dict[str, list[dict[str, Any]]] = {}
    for t, p, offset in parts:
        topics.setdefault(t, []).append({"partition": p, "fetch_offset": offset, "partition_max_bytes": 1 << 20,
                                         "current_leader_epoch": -1})
    gone: dict[str, list[int]] = {}
    for t, p in forgotten:
        gone.setdefault(t, []).append(p)
    request = {"max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20, "session_id": session_id, "session_epoch": epoch,
               "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()],
               "forgotten_topics_data": [{"topic": t, "partitions": ps} for t, ps in gone.items()]}
    answer = asyncio.run(kafka_handlers.HANDLERS[1].handle(ctx, request))
    assert answer is not None
    encode_response(1, ctx.version, 1, answer)  # the version can carry it
    return answer


def sent(answer: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return [(t["topic"], p["partition_index"], bool(p["records"])) for t in answer["responses"]
            for p in t["partitions"]]


def handler_ctx(broker: LogBroker, version: int, cache: FetchSessions) -> KafkaContext:
    services = NodeServices(cast(Broker, broker), cast(GroupCoordinator, None))
    return KafkaContext(services, "h", "c", version, cache)


def test_the_fetch_handler_serves_a_session_as_kafka_does() -> None:
    broker, cache = LogBroker(), FetchSessions(10, rng=random.Random(10))
    ctx = handler_ctx(broker, 12, cache)
    full = fetch(ctx, 0, 0, [("a", 0, 10), ("a", 1, 11), ("b", 0, 11)])
    sid = full["session_id"]
    assert sid != 0 and full["error_code"] == 0
    assert sent(full) == [("a", 0, True), ("a", 1, False), ("b", 0, False)], "a full answer has every partition"
    # the consumer moved a/0 on to 11: only that is listed; nothing changed anywhere, so nothing is sent
    quiet_answer = fetch(ctx, sid, 1, [("a", 0, 11)])
    assert sent(quiet_answer) == [] and quiet_answer["session_id"] == sid
    assert broker.asked[-1] == [("a", 0, 11), ("a", 1, 11), ("b", 0, 11)], "the session's positions"
    broker.high_watermarks[("b", 0)] = 12  # news on b/0 only
    assert sent(fetch(ctx, sid, 2, [])) == [("b", 0, False)]
    del broker.high_watermarks[("a", 1)]  # a/1 gone: its error is sent, then it is forgotten
    assert [(t["topic"], p["error_code"]) for t in fetch(ctx, sid, 3, [])["responses"] for p in t["partitions"]] \
        == [("a", 3)]
    assert sent(fetch(ctx, sid, 4, [], forgotten=[("a", 1)])) == []
    assert cache.partitions_of(sid) == [("a", 0), ("b", 0)]
    # session errors: the top-level code, no partitions, session 0
    stale = fetch(ctx, sid, 4, [])
    assert (stale["error_code"], stale["session_id"], stale["responses"]) == (71, 0, [])
    unknown = fetch(ctx, sid + 1, 1, [])
    assert (unknown["error_code"], unknown["session_id"], unknown["responses"]) == (70, 0, [])
    closed = fetch(ctx, sid, -1, [("a", 0, 10)])
    assert closed["session_id"] == 0 and sent(closed) == [("a", 0, True)] and len(cache) == 0


@pytest.mark.parametrize("version", [4, 6])
def test_fetch_before_v7_never_opens_a_session(version: int) -> None:
    cache = FetchSessions(10)
    answer = fetch(handler_ctx(LogBroker(), version, cache), 0, 0, [("a", 0, 10)])
    assert answer["session_id"] == 0 and len(cache) == 0 and sent(answer) == [("a", 0, True)]
