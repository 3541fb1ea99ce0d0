"""Kafka-protocol consumer groups in the coordinator: the leader member assigns (client-side, as
Kafka), SyncGroups wait for it, and native and Kafka members never share a group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kraft import errors
from kraft.groups.consumer_protocol import (
    assignment_partitions,
    encode_assignment,
    encode_subscription,
    subscription_topics,
)
from kraft.groups.membership import AWAITING_SYNC, PREPARING, STABLE, Group
from tests.unit.test_group_membership import FakeClock, coordinator


def kjoin(g: Group, member_id: str = "", now: float = 0.0, protocols: list[tuple[str, bytes]] | None = None,
          topics: tuple[str, ...] = ("t",)) -> tuple[str, bool]:
    protos = protocols if protocols is not None else [("range", encode_subscription(topics))]
    return g.join(member_id, "client", "h", list(topics), 10_000, 5_000, "", now, 0.3, "consumer", protos)


def test_consumer_protocol_round_trips_and_tolerates_garbage() -> None:
    assert subscription_topics(encode_subscription(["b", "a"], b"user")) == ["a", "b"]
    tps = [("a", 0), ("a", 2), ("b", 1)]
    assert assignment_partitions(encode_assignment(tps)) == tps
    assert assignment_partitions(b"") == []
    assert subscription_topics(b"\x00\x00\xff\xff\xff\xff\x00") == []
    assert subscription_topics(b"\x00") is None
    assert assignment_partitions(b"\x00\x00\x00\x00\x00\x01\x00\x09ab") is None


def test_round_completes_into_completing_rebalance_with_a_leader_and_a_common_protocol() -> None:
    g = Group("g")
    a, _ = kjoin(g, protocols=[("cooperative-sticky", b"a1"), ("range", b"a2")])
    b, _ = kjoin(g, protocols=[("range", b"b1"), ("roundrobin", b"b2")])
    with pytest.raises(errors.InconsistentGroupProtocol):
        kjoin(g, protocols=[("roundrobin", b"c")])  # nothing in common with a
    with pytest.raises(errors.InconsistentGroupProtocol):  # a native member in a Kafka group
        g.join("", "native", "h", ["t"], 10_000, 5_000, "range", 0.0, 0.3)
    assert g.ready_to_complete(5.0)
    g.complete({}, {"t": 3}, 1)
    assert g.state == AWAITING_SYNC and g.protocol == "range" and g.leader == a
    assert [g.metadata_of(m) for m in g.members.values()] == [b"a2", b"b1"]
    g.heartbeat(b, 1, 5.1)  # members may heartbeat while the leader assigns
    assert not g.set_assignments(b, 1, {a: b"x"}), "only the leader's assignment counts"
    assert g.set_assignments(a, 1, {a: b"for-a", b: b"for-b"})
    assert g.state == STABLE and g.member_assignments == {a: b"for-a", b: b"for-b"}
    with pytest.raises(errors.IllegalGeneration):
        g.set_assignments(a, 0, {})


def test_a_join_while_completing_starts_a_new_round() -> None:
    g = Group("g")
    a, _ = kjoin(g)
    g.complete({}, {"t": 3}, 1)
    assert g.state == AWAITING_SYNC
    assert kjoin(g, a) == (a, False), "a repeated join with the same metadata changes nothing"
    kjoin(g)
    assert g.state == PREPARING


def test_coordinator_sync_waits_for_the_leader_and_fails_on_a_new_round() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        coord, _ = coordinator(clock)
        sub = encode_subscription(["t"])
        joins = [asyncio.ensure_future(coord.join("g", "", f"c{i}", "h", ["t"], 10_000, 5_000, "",
                                                  protocol_type="consumer", protocols=[("range", sub)]))
                 for i in range(2)]
        await asyncio.sleep(0)
        clock.now = 1.0
        coord._tick()
        answers = await asyncio.wait_for(asyncio.gather(*joins), 5)
        leader = answers[0]["leader"]
        by_id = {a["member_id"]: a for a in answers}
        assert set(by_id) == {a["member_id"] for a in answers} and leader in by_id
        assert [m for m, _ in by_id[leader]["member_metadata"]] == list(by_id)
        follower = next(m for m in by_id if m != leader)
        assert by_id[follower]["member_metadata"] == []
        waiting = asyncio.ensure_future(coord.sync_assignments("g", follower, 1, {}))
        await asyncio.sleep(0)
        assert not waiting.done()
        mine = await coord.sync_assignments("g", leader, 1, {leader: b"L", follower: b"F"})
        assert mine == b"L" and await asyncio.wait_for(waiting, 5) == b"F"
        described = coord.describe("g")
        assert described["protocol_type"] == "consumer" and described["state"] == STABLE
        # A third member joins: the group rebalances, and a SyncGroup from the old round is refused.
        third = asyncio.ensure_future(coord.join("g", "", "c3", "h", ["t"], 10_000, 5_000, "",
                                                 protocol_type="consumer", protocols=[("range", sub)]))
        await asyncio.sleep(0)
        with pytest.raises(errors.RebalanceInProgress):
            await coord.sync_assignments("g", follower, 1, {})
        third.cancel()

    asyncio.run(scenario())


def test_the_leader_rejoining_a_stable_group_starts_a_round_a_follower_does_not() -> None:
    g = Group("g")
    a, _ = kjoin(g)
    b, _ = kjoin(g)
    g.complete({}, {"t": 3}, 1)
    leader = g.leader
    follower = b if leader == a else a
    assert g.set_assignments(leader, 1, {a: b"A", b: b"B"}) and g.state == STABLE
    assert kjoin(g, follower, 1.0) == (follower, False), "a follower's repeated join changes nothing"
    assert g.state == STABLE
    # Kafka: the leader rejoins with the same metadata when it sees the metadata change; reassign.
    assert kjoin(g, leader, 1.0) == (leader, True)
    assert g.state == PREPARING


def test_members_waiting_in_join_or_sync_do_not_expire() -> None:
    """A JoinGroup may wait up to the rebalance timeout for a slow member, longer than the waiting
    members' session timeout; they cannot heartbeat meanwhile and must not be expired for it."""

    async def scenario() -> None:
        clock = FakeClock()
        coord, _ = coordinator(clock)

        def join(member_id: str, client: str, topics: list[str]) -> asyncio.Future[dict[str, Any]]:
            sub = encode_subscription(topics)
            return asyncio.ensure_future(coord.join("g", member_id, client, "h", topics, 10_000, 60_000, "",
                                                    protocol_type="consumer", protocols=[("range", sub)]))

        joins = [join("", "c0", ["t"]), join("", "c1", ["t"])]
        await asyncio.sleep(0)
        clock.now = 1.0
        coord._tick()
        first = await asyncio.wait_for(asyncio.gather(*joins), 5)
        a, b, leader = first[0]["member_id"], first[1]["member_id"], first[0]["leader"]
        assert await coord.sync_assignments("g", leader, 1, {a: b"A", b: b"B"}) in (b"A", b"B")
        # c0 changes its subscription: a round starts. c1 (busy in its poll loop, heartbeating from
        # its own thread) rejoins only at 25 s: over c0's 10 s session, within the 60 s rebalance timeout.
        waiting = join(a, "c0", ["t", "u"])
        await asyncio.sleep(0)
        for t in range(2, 26):
            clock.now = float(t)
            with pytest.raises(errors.RebalanceInProgress):
                coord.heartbeat("g", b, 1)
            coord._tick()
            await asyncio.sleep(0)
        assert not waiting.done(), waiting
        assert a in coord.groups["g"].members
        rejoined = join(b, "c1", ["t"])
        await asyncio.sleep(0)
        coord._tick()
        second = await asyncio.wait_for(asyncio.gather(waiting, rejoined), 5)
        assert [r["generation"] for r in second] == [2, 2]
        # the leader's SyncGroup is slow too: the follower waiting for it is kept alive meanwhile
        leader = second[0]["leader"]
        follower = b if leader == a else a
        synced = asyncio.ensure_future(coord.sync_assignments("g", follower, 2, {}))
        for t in range(26, 40):
            clock.now = float(t)
            coord.heartbeat("g", leader, 2)
            coord._tick()
            await asyncio.sleep(0)
        assert follower in coord.groups["g"].members and not synced.done()
        await coord.sync_assignments("g", leader, 2, {a: b"A2", b: b"B2"})
        assert await asyncio.wait_for(synced, 5) in (b"A2", b"B2")

    asyncio.run(scenario())
