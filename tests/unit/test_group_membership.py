"""Group membership rounds (pure, time passed in) and the coordinator around them (asyncio, fake clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest

from kraft import errors
from kraft.groups.coordinator import GroupCoordinator
from kraft.groups.membership import EMPTY, PREPARING, STABLE, Group
from kraft.state.metadata import MetadataMachine, encode_command

DELAY = 0.3


def join(g: Group, member_id: str = "", now: float = 0.0, topics: list[str] | None = None,
         strategy: str = "range") -> tuple[str, bool]:
    return g.join(member_id, "client", "127.0.0.1", topics or ["t"], 10_000, 5_000, strategy, now, DELAY)


def test_new_group_waits_the_initial_delay_extended_per_joiner_and_capped() -> None:
    g = Group("g")
    _a, wait = join(g, now=0.0)
    assert wait and g.state == PREPARING
    assert not g.ready_to_complete(0.2)
    join(g, now=0.2)
    assert not g.ready_to_complete(0.4), "a second joiner extends the wait"
    assert g.ready_to_complete(0.51)
    for i in range(20):  # a stream of joiners cannot delay the first generation past the cap
        join(g, now=0.25 * i)
    assert g.ready_to_complete(3.0)


def stable_group(n: int = 2) -> tuple[Group, list[str]]:
    g = Group("g")
    ids = [join(g, now=0.0)[0] for _ in range(n)]
    assert g.ready_to_complete(1.0)
    g.complete({m: [] for m in ids}, {"t": 4}, generation=1)
    assert g.state == STABLE
    return g, ids


def test_a_joiner_makes_everyone_rejoin_before_the_round_completes() -> None:
    g, (a, b) = stable_group()
    _c, wait = join(g, now=5.0)
    assert wait and g.state == PREPARING
    with pytest.raises(errors.RebalanceInProgress):
        g.heartbeat(a, 1, now=5.1)
    assert not g.ready_to_complete(5.1), "a and b have not rejoined"
    join(g, a, now=5.2)
    assert not g.ready_to_complete(5.2)
    join(g, b, now=5.3)
    assert g.ready_to_complete(5.3)
    assert g.drop_absent() == []


def test_members_that_do_not_rejoin_by_the_deadline_are_dropped() -> None:
    g, (a, b) = stable_group()
    join(g, a, now=10.0, topics=["t", "u"])  # a subscription change starts a round
    assert g.state == PREPARING
    assert not g.ready_to_complete(12.0)
    assert g.ready_to_complete(15.1)  # rebalance_timeout 5 s
    assert g.drop_absent() == [b]


def test_leave_and_session_expiry_start_a_rebalance_and_the_last_one_empties_the_group() -> None:
    g, (a, b) = stable_group()
    g.leave(a, now=1.0)
    assert g.state == PREPARING and list(g.members) == [b]
    g.complete({b: []}, {"t": 4}, generation=2)
    assert g.expire(now=5.0) == []
    assert g.expire(now=12.0) == [b]
    assert g.state == EMPTY and not g.members


def test_repeated_join_of_a_stable_member_returns_without_a_round() -> None:
    g, (a, _b) = stable_group()
    assert join(g, a, now=2.0) == (a, False)
    assert g.state == STABLE


def test_bad_joins_and_fenced_commits() -> None:
    g, (a, _b) = stable_group()
    with pytest.raises(errors.InvalidSessionTimeout):
        g.join("", "c", "h", ["t"], 10, 5_000, "range", 0.0, DELAY)
    with pytest.raises(errors.InconsistentGroupProtocol):
        join(g, strategy="sticky")
    with pytest.raises(errors.UnknownMemberId):
        join(g, "ghost")
    with pytest.raises(errors.UnknownMemberId):
        g.heartbeat("ghost", 1, 0.0)
    with pytest.raises(errors.IllegalGeneration):
        g.heartbeat(a, 0, 0.0)
    g.check_commit(a, 1)
    with pytest.raises(errors.IllegalGeneration):
        g.check_commit(a, 0)
    with pytest.raises(errors.UnknownMemberId):
        g.check_commit("ghost", 1)
    with pytest.raises(errors.NonEmptyGroup):
        g.check_commit("", -1)
    Group("empty").check_commit("", -1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def coordinator(clock: FakeClock) -> tuple[GroupCoordinator, MetadataMachine]:
    machine = MetadataMachine()
    machine.apply(2, encode_command("create_topic", name="t", assignment=[[1]] * 6, configs={}))
    index = [2]

    async def propose(payload: bytes) -> Any:
        index[0] = max(index[0], machine.last_applied) + 1
        code, value = machine.apply(index[0], payload)
        if code:
            raise errors.error_for_code(code, value)
        return value

    return GroupCoordinator(machine, lambda: True, propose, DELAY, clock=clock), machine


def test_coordinator_gives_co_starting_members_one_generation_and_disjoint_partitions() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        coord, machine = coordinator(clock)
        joins = [asyncio.ensure_future(coord.join("g", "", f"c{i}", "h", ["t"], 10_000, 5_000, "range"))
                 for i in range(3)]
        await asyncio.sleep(0)
        clock.now = 1.0
        coord._tick()
        answers = await asyncio.wait_for(asyncio.gather(*joins), 5)
        assert {a["generation"] for a in answers} == {1}
        parts = [tuple(p) for a in answers for p in a["assignment"]]
        assert sorted(parts) == [("t", i) for i in range(6)]
        assert machine.groups["g"].generation == 1
        # A commit in the current generation lands; one from an older generation is fenced.
        m = answers[0]["member_id"]
        assert await coord.commit("g", m, 1, [("t", 0, 0)]) == [(0, "")]
        # Any offset, past the partition's end too (t/1 is empty), as Kafka (librdkafka's 0099 commits
        # 42 there); below Kafka's logical offsets (-2, -1) is no position.
        assert await coord.commit("g", m, 1, [("t", 1, 42), ("t", 2, -3)]) == [
            (0, ""), (errors.OffsetOutOfRange.code, "offset -3 is below -2")]
        assert machine.groups["g"].offsets[("t", 1)] == 42
        with pytest.raises(errors.IllegalGeneration):
            await coord.commit("g", m, 0, [("t", 0, 0)])
        # The replicated machine fences too (a coordinator that lost track of the generation).
        stale = msgpack.packb({"op": "commit_offsets", "commits": [
            {"group": "g", "generation": 0, "offsets": [["t", 0, 0]]}]})
        assert machine.apply(99, stale) == (0, [[errors.IllegalGeneration.code]])

    asyncio.run(scenario())


def test_new_coordinator_continues_above_the_replicated_generation() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        coord, machine = coordinator(clock)
        machine.apply(50, encode_command("group_generation", group="g", generation=7))
        fut = asyncio.ensure_future(coord.join("g", "", "c", "h", ["t"], 10_000, 5_000, "range"))
        await asyncio.sleep(0)
        clock.now = 1.0
        coord._tick()
        answer = await asyncio.wait_for(fut, 5)
        assert answer["generation"] == 8

    asyncio.run(scenario())


def test_delete_offsets_by_group_state_and_subscription() -> None:
    """OffsetDelete: an empty group loses the commits named; an active group keeps those of topics
    its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others; an active group of a
    protocol whose subscriptions kraft cannot read refuses all (NON_EMPTY_GROUP); a group with
    nothing is GROUP_ID_NOT_FOUND. ListGroups' states follow the group."""
    async def scenario() -> None:
        clock = FakeClock()
        coord, machine = coordinator(clock)
        machine.apply(3, encode_command("create_topic", name="u", assignment=[[1]], configs={}))
        await coord.commit("g", "", -1, [("t", 0, 1), ("t", 1, 2), ("u", 0, 3)])
        assert [(g.group_id, g.state, g.type) for g in coord.list_group_states()] == [("g", "Empty", "classic")]
        assert await coord.delete_offsets("g", [("t", 1), ("t", 5)]) == [0, 0]
        assert machine.groups["g"].offsets == {("t", 0): 1, ("u", 0): 3}
        fut = asyncio.ensure_future(coord.join("g", "", "c", "h", ["t"], 10_000, 5_000, "range",
                                               protocol_type="consumer"))
        await asyncio.sleep(0)
        assert [g.state for g in coord.list_group_states()] == ["PreparingRebalance"]
        clock.now = 1.0
        coord._tick()
        await asyncio.wait_for(fut, 5)
        assert await coord.delete_offsets("g", [("t", 0), ("u", 0)]) == [errors.GroupSubscribedToTopic.code, 0]
        assert machine.groups["g"].offsets == {("t", 0): 1}
        coord.groups["g"].protocol_type = "connect"
        with pytest.raises(errors.NonEmptyGroup):
            await coord.delete_offsets("g", [("u", 0)])
        with pytest.raises(errors.GroupIdNotFound):
            await coord.delete_offsets("nonesuch", [("t", 0)])

    asyncio.run(scenario())
