"""Static group members (KIP-345): a restarted member with its ``group.instance.id`` takes its former
self's place without a rebalance; the former member id is fenced; LeaveGroup by instance id."""

from __future__ import annotations

import asyncio

import pytest

from kraft import errors
from kraft.groups.consumer_protocol import encode_subscription
from kraft.groups.membership import AWAITING_SYNC, PREPARING, STABLE, Group
from tests.unit.test_group_membership import FakeClock, coordinator


def sjoin(g: Group, instance: str | None, member_id: str = "", now: float = 0.0,
          topics: tuple[str, ...] = ("t",)) -> tuple[str, bool]:
    protocols = [("range", encode_subscription(sorted(topics)))]
    return g.join(member_id, "client", "h", list(topics), 10_000, 5_000, "", now, 0.3, "consumer", protocols,
                  instance)


def stable(instances: tuple[str | None, ...] = ("i1", "i2")) -> tuple[Group, list[str]]:
    g = Group("g")
    ids = [sjoin(g, i)[0] for i in instances]
    g.complete({}, {"t": 4}, 1)
    assert g.set_assignments(g.leader, 1, {mid: mid.encode() for mid in ids})
    assert g.state == STABLE
    return g, ids


@pytest.mark.parametrize("leader", [True, False])
def test_a_restarted_static_member_takes_its_place_without_a_rebalance(leader: bool) -> None:
    g, ids = stable()
    old = g.leader if leader else next(m for m in ids if m != g.leader)
    instance = g.members[old].instance_id
    assert instance is not None
    new, wait = sjoin(g, instance, now=3.0)
    assert not wait and new != old
    assert g.state == STABLE and g.generation == 1, "no round"
    assert g.member_assignments[new] == old.encode(), "its former assignment"
    assert old not in g.members and g.static_members[instance] == new
    assert (g.leader == new) is leader
    with pytest.raises(errors.FencedInstanceId):
        g.heartbeat(old, 1, 3.1, instance)
    with pytest.raises(errors.FencedInstanceId):
        sjoin(g, instance, member_id=old, now=3.2)
    with pytest.raises(errors.FencedInstanceId):
        g.check_commit(old, 1, instance)
    g.heartbeat(new, 1, 3.3, instance)


def test_a_changed_subscription_or_a_completing_round_still_rebalances() -> None:
    g, _ = stable()
    _, wait = sjoin(g, "i1", now=2.0, topics=("t", "u"))
    assert wait and g.state == PREPARING, "a restarted member subscribing to more: everyone rejoins"
    g2 = Group("g")
    x, _ = sjoin(g2, "i1")
    sjoin(g2, "i2")
    g2.complete({}, {"t": 4}, 1)
    assert g2.state == AWAITING_SYNC
    _y, wait = sjoin(g2, "i1", now=1.0)
    assert wait and g2.state == PREPARING, "the leader may have assigned to the former id"
    assert x not in g2.members


def test_leave_by_instance_id_and_expiry_forget_the_instance() -> None:
    g, (a, _b) = stable()
    assert g.leave("", 1.0, "i1") == a
    assert "i1" not in g.static_members and a not in g.members
    with pytest.raises(errors.UnknownMemberId):
        g.leave("", 1.0, "i1")
    with pytest.raises(errors.FencedInstanceId):
        g.leave("someone-else", 1.0, "i2")
    g.expire(100.0)
    assert not g.members and not g.static_members
    assert sjoin(g, "i2", now=101.0)[1], "a new static member after expiry joins a new round"


def test_dynamic_and_static_members_mix() -> None:
    g, (a, d) = stable(("i1", None))
    assert g.static_members == {"i1": a}
    g.heartbeat(d, 1, 1.0)  # a dynamic member names no instance
    with pytest.raises(errors.FencedInstanceId):
        g.heartbeat(d, 1, 1.0, "i1")


def test_coordinator_fences_the_replaced_members_pending_requests() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        coord, _ = coordinator(clock)
        sub = encode_subscription(["t"])

        def join(member_id: str, instance: str) -> asyncio.Future[dict[str, object]]:
            return asyncio.ensure_future(coord.join("g", member_id, "c", "h", ["t"], 10_000, 5_000, "",
                                                    protocol_type="consumer", protocols=[("range", sub)],
                                                    instance_id=instance))

        joins = [join("", "i1"), join("", "i2")]
        await asyncio.sleep(0)
        clock.now = 1.0
        coord._tick()
        first = await asyncio.wait_for(asyncio.gather(*joins), 5)
        leader = str(first[0]["leader"])
        ids = [str(a["member_id"]) for a in first]
        follower = next(m for m in ids if m != leader)
        instance = "i2" if follower == ids[1] else "i1"
        pending = asyncio.ensure_future(coord.sync_assignments("g", follower, 1, {}, instance))
        await asyncio.sleep(0)
        # The follower restarts before the leader assigned (CompletingRebalance): its old SyncGroup
        # is fenced and everyone rejoins.
        again = join("", instance)
        with pytest.raises(errors.FencedInstanceId):
            await asyncio.wait_for(pending, 5)
        again.cancel()
        described = coord.describe("g")
        assert {m["instance_id"] for m in described["members"]} == {"i1", "i2"}

    asyncio.run(scenario())
