"""The group consumer and the group Admin calls against a fake coordinator (fast, in-process).

``GroupFakeCluster`` adds a small eager group coordinator to the fake cluster, following
docs/native-protocol.md ("Consumer groups"): a new group completes its first rebalance after an
initial delay, a rebalance waits for every known member (or its rebalance timeout), heartbeats
answer REBALANCE_IN_PROGRESS meanwhile, commits check member and generation, admin commits only
while the group is empty. Range assignment only. It is a test double of the protocol, not of the
node: the real coordinator is exercised by tests/cluster/test_groups.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from kraft import (
    Admin,
    Consumer,
    GroupIdNotFound,
    IllegalGeneration,
    NonEmptyGroup,
    OffsetOutOfRange,
    TopicPartition,
)
from kraft.errors import (
    CoordinatorNotAvailable,
    NotCoordinator,
    RebalanceInProgress,
    UnknownMemberId,
)
from kraft.testing import fake_node, wait_until
from kraft.testing.fake_node import FakeCluster

pytestmark = pytest.mark.timeout(60)

GROUP_APIS = ["find_coordinator", "join_group", "heartbeat", "leave_group", "offset_commit", "offset_fetch",
              "list_groups", "describe_group"]
INITIAL_DELAY_S = 0.1


@dataclass
class _Member:
    client_id: str
    topics: list[str]
    session_ms: int
    rebalance_ms: int
    last_seen: float
    assignment: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Group:
    generation: int = 0
    state: str = "Empty"
    members: dict[str, _Member] = field(default_factory=dict)
    waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # joins of this rebalance
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class GroupFakeCluster(FakeCluster):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: dict[str, _Group] = {}
        self.commits: list[dict[str, Any]] = []  # every offset_commit body, in arrival order
        self.coordinator_node = 1
        self._reaper: asyncio.Task[None] | None = None

    def stop(self) -> None:
        if self._reaper is not None:
            self._loop.call_soon_threadsafe(self._reaper.cancel)
        super().stop()

    # --- controls --------------------------------------------------------------------------------

    def bump_generation(self, group_id: str) -> None:
        """Make the group's generation move on without telling its members (a lost generation)."""
        self._call(self._bump, group_id)

    async def _bump(self, group_id: str) -> None:
        self.groups[group_id].generation += 1

    def committed(self, group_id: str) -> dict[tuple[str, int], int]:
        async def read() -> dict[tuple[str, int], int]:
            group = self.groups.get(group_id)
            return dict(group.offsets) if group else {}
        return self._call(read)

    def member_count(self, group_id: str) -> int:
        async def read() -> int:
            group = self.groups.get(group_id)
            return len(group.members) if group else 0
        return self._call(read)

    # --- coordinator -----------------------------------------------------------------------------

    def _group(self, node_id: int, group_id: str) -> _Group:
        if node_id != self.coordinator_node:
            raise NotCoordinator(f"node {node_id} is not the coordinator")
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap())
        return self.groups.setdefault(group_id, _Group())

    async def _api_find_coordinator(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        node = self._nodes[self.coordinator_node]
        return {"node_id": node.node_id, "host": self.host, "port": node.port}

    async def _api_join_group(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(node_id, body["group_id"])
        member_id = body["member_id"]
        now = time.monotonic()
        if member_id and member_id not in group.members:
            raise UnknownMemberId(f"{member_id} is not in the group")
        if not member_id:
            member_id = f"{body['client_id']}-{uuid.uuid4().hex[:8]}"
        group.members[member_id] = _Member(body["client_id"], list(body["topics"]), body["session_timeout_ms"],
                                           body["rebalance_timeout_ms"], now)
        fut = asyncio.get_running_loop().create_future()
        old = group.waiting.pop(member_id, None)
        if old is not None and not old.done():
            old.cancel()
        group.waiting[member_id] = fut
        if group.state != "PreparingRebalance":
            group.state = "PreparingRebalance"
            delay = INITIAL_DELAY_S if group.generation == 0 and len(group.members) == 1 else None
            self._arm(body["group_id"], group, delay)
        self._maybe_complete(group)
        await fut
        member = group.members[member_id]
        return {"generation": group.generation, "member_id": member_id, "strategy": "range",
                "members": len(group.members), "assignment": [list(tp) for tp in member.assignment]}

    def _arm(self, group_id: str, group: _Group, delay: float | None) -> None:
        if group.timer is not None:
            group.timer.cancel()
        wait = delay if delay is not None else max(m.rebalance_ms for m in group.members.values()) / 1000
        group.timer = asyncio.get_running_loop().call_later(wait, self._rebalance_timeout, group, delay is not None)

    def _rebalance_timeout(self, group: _Group, initial: bool) -> None:
        group.timer = None
        if group.state != "PreparingRebalance":
            return
        if not initial:
            for member_id in [m for m in group.members if m not in group.waiting]:
                del group.members[member_id]
        self._maybe_complete(group, force=True)

    def _maybe_complete(self, group: _Group, force: bool = False) -> None:
        if group.state != "PreparingRebalance" or (group.timer is not None and not force and
                                                      group.generation == 0):
            return
        if not force and set(group.waiting) != set(group.members):
            return
        if group.timer is not None:
            group.timer.cancel()
            group.timer = None
        group.generation += 1
        group.state = "Stable" if group.members else "Empty"
        self._assign(group)
        for fut in group.waiting.values():
            if not fut.done():
                fut.set_result(None)
        group.waiting = {}

    def _assign(self, group: _Group) -> None:
        members = sorted(group.members)
        for m in members:
            group.members[m].assignment = []
        topics = sorted({t for m in group.members.values() for t in m.topics})
        for topic in topics:
            subscribers = [m for m in members if topic in group.members[m].topics]
            n = len(self._topics.get(topic, []))
            per, extra = divmod(n, len(subscribers))
            start = 0
            for i, m in enumerate(subscribers):
                count = per + (1 if i < extra else 0)
                group.members[m].assignment += [(topic, p) for p in range(start, start + count)]
                start += count

    def _start_rebalance(self, group_id: str, group: _Group) -> None:
        if not group.members:
            group.state = "Empty"
            return
        if group.state != "PreparingRebalance":
            group.state = "PreparingRebalance"
            self._arm(group_id, group, None)
        self._maybe_complete(group)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            for group_id, group in self.groups.items():
                dead = [m for m, info in group.members.items()
                        if m not in group.waiting and now - info.last_seen > info.session_ms / 1000]
                for m in dead:
                    del group.members[m]
                if dead:
                    self._start_rebalance(group_id, group)

    async def _api_heartbeat(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(node_id, body["group_id"])
        member = group.members.get(body["member_id"])
        if member is None:
            raise UnknownMemberId("unknown member")
        member.last_seen = time.monotonic()
        if group.state == "PreparingRebalance":
            raise RebalanceInProgress("rejoin")
        if body["generation"] != group.generation:
            raise IllegalGeneration(f"generation is {group.generation}")
        return {}

    async def _api_leave_group(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(node_id, body["group_id"])
        if group.members.pop(body["member_id"], None) is None:
            raise UnknownMemberId("unknown member")
        fut = group.waiting.pop(body["member_id"], None)
        if fut is not None:
            fut.cancel()
        self._start_rebalance(body["group_id"], group)
        return {}

    async def _api_offset_commit(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(node_id, body["group_id"])
        self.commits.append(body)
        if body["member_id"] == "" and body["generation"] == -1:
            if group.members:
                raise NonEmptyGroup("the group has members")
        elif body["member_id"] not in group.members:
            raise UnknownMemberId("unknown member")
        elif body["generation"] != group.generation:
            raise IllegalGeneration(f"generation is {group.generation}")
        results = []
        for o in body["offsets"]:
            group.offsets[(o["topic"], o["partition"])] = o["offset"]
            results.append({"topic": o["topic"], "partition": o["partition"], "error_code": 0, "message": ""})
        return {"results": results}

    async def _api_offset_fetch(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(node_id, body["group_id"])
        wanted = body["partitions"]
        keys = list(group.offsets) if wanted is None else [(p["topic"], p["partition"]) for p in wanted]
        return {"offsets": [{"topic": t, "partition": p, "offset": group.offsets.get((t, p), -1)} for t, p in keys]}

    async def _api_list_groups(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if node_id != self.coordinator_node:
            raise NotCoordinator("not the coordinator")
        return {"groups": [g for g, group in self.groups.items() if group.members or group.offsets]}

    async def _api_describe_group(self, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if node_id != self.coordinator_node:
            raise NotCoordinator("not the coordinator")
        group = self.groups.get(body["group_id"])
        if group is None or not (group.members or group.offsets):
            raise GroupIdNotFound(body["group_id"])
        return {"group_id": body["group_id"], "state": group.state, "generation": group.generation,
                "strategy": "range",
                "members": [{"member_id": m, "client_id": info.client_id, "host": "127.0.0.1",
                             "assignment": [list(tp) for tp in info.assignment]}
                            for m, info in sorted(group.members.items())],
                "offsets": [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(group.offsets.items())]}


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.setattr(fake_node, "APIS", [*fake_node.APIS, *GROUP_APIS])
    with GroupFakeCluster(nodes=2) as c:
        c.create_topic("t", partitions=4)
        yield c


def make(cluster, group: str = "g", **options) -> Consumer:
    options.setdefault("fetch_max_wait_ms", 50)
    options.setdefault("request_timeout_ms", 5000)
    options.setdefault("session_timeout_ms", 2000)
    options.setdefault("heartbeat_interval_ms", 50)
    options.setdefault("max_poll_interval_ms", 5000)
    return Consumer(cluster.bootstrap, group_id=group, **options)


def fill(cluster, n: int, partitions: int = 4, topic: str = "t", prefix: str = "") -> list[bytes]:
    values = []
    for i in range(n):
        value = f"{prefix}{i}".encode()
        cluster.append(topic, i % partitions, [value])
        values.append(value)
    return values


class Reader:
    """A subscribed consumer polling on its own thread, recording what it saw and its callbacks."""

    def __init__(self, consumer: Consumer, topics: list[str]) -> None:
        self.consumer = consumer
        self.topics = topics
        self.seen: list[tuple[str, int, int, bytes | None]] = []
        self.events: list[tuple[str, list[TopicPartition]]] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.paused = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Reader:
        self.consumer.subscribe(self.topics, on_assign=lambda tps: self.events.append(("assign", tps)),
                                on_revoke=lambda tps: self.events.append(("revoke", tps)))
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.paused.is_set():
                    self.stop.wait(0.01)  # paused: not polling, as a stalled member
                    continue
                for r in self.consumer.poll(50):
                    self.seen.append((r.topic, r.partition, r.offset, r.value))
        except BaseException as exc:
            self.errors.append(exc)

    def assigned(self) -> list[TopicPartition]:
        assigns = [tps for kind, tps in self.events if kind == "assign"]
        return assigns[-1] if assigns else []

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.consumer.close()
        assert not self.errors, self.errors


def test_single_member_gets_everything_commits_and_a_successor_resumes(cluster):
    values = fill(cluster, 40)
    reader = Reader(make(cluster, auto_commit_interval_ms=100), ["t"]).start()
    wait_until(lambda: len(reader.seen) == 40, 10)
    reader.close()
    assert sorted(v for *_, v in reader.seen) == sorted(values)
    assert reader.events[0] == ("assign", [TopicPartition("t", p) for p in range(4)])
    assert reader.events[-1][0] == "revoke"  # close revokes
    assert cluster.committed("g") == {("t", p): 10 for p in range(4)}  # next record to read
    assert cluster.member_count("g") == 0  # close left the group
    more = fill(cluster, 8, prefix="more-")
    successor = Reader(make(cluster), ["t"]).start()
    wait_until(lambda: len(successor.seen) == 8, 10)
    successor.close()
    assert sorted(v for *_, v in successor.seen) == sorted(more)


def test_first_join_settles_fast(cluster):
    fill(cluster, 4)
    with make(cluster) as c:
        c.subscribe(["t"])
        started = time.monotonic()
        records = []
        while len(records) < 4:
            records += c.poll(100)
            assert time.monotonic() - started < 3
        assert time.monotonic() - started < INITIAL_DELAY_S + 1.0


def test_two_members_split_partitions_and_see_each_record_once(cluster):
    values = fill(cluster, 200)
    a = Reader(make(cluster, client_id="a"), ["t"]).start()
    b = Reader(make(cluster, client_id="b"), ["t"]).start()
    try:
        wait_until(lambda: len(a.assigned()) == 2 and len(b.assigned()) == 2, 10)
        wait_until(lambda: len(a.seen) + len(b.seen) >= 200, 10)
        time.sleep(0.3)  # sleep-ok: nothing more may arrive
        seen = a.seen + b.seen
        assert sorted(v for *_, v in seen) == sorted(values), "at least once"
        # A member that read a partition before the second member came may read it again from the
        # committed offset (at-least-once); after the final assignment each record arrives once.
        assert set(a.assigned()).isdisjoint(b.assigned())
    finally:
        a.close()
        b.close()


def test_rebalance_commits_consumed_positions_before_rejoining(cluster):
    fill(cluster, 40)
    a = Reader(make(cluster, client_id="a", auto_commit_interval_ms=60_000), ["t"]).start()
    wait_until(lambda: len(a.seen) == 40, 10)
    b = Reader(make(cluster, client_id="b"), ["t"]).start()
    try:
        wait_until(lambda: len(b.assigned()) == 2, 10)
        assert ("revoke", [TopicPartition("t", p) for p in range(4)]) in a.events
        assert cluster.committed("g") == {("t", p): 10 for p in range(4)}
        time.sleep(0.3)  # sleep-ok: b must not read anything again
        assert b.seen == []
        fill(cluster, 8, prefix="x")
        wait_until(lambda: len(a.seen) + len(b.seen) == 48, 10)
    finally:
        a.close()
        b.close()


def test_member_that_stops_heartbeating_loses_its_partitions(cluster):
    fill(cluster, 20)
    a = make(cluster, client_id="a", auto_commit_interval_ms=60_000, session_timeout_ms=1000)
    b = Reader(make(cluster, client_id="b"), ["t"])
    a.subscribe(["t"])
    got = []
    while len(got) < 20:
        got += a.poll(100)
    b.start()
    wait_until(lambda: cluster.member_count("g") == 2, 10)
    a._core.loop.call_soon_threadsafe(a._group._heartbeats.cancel)  # simulate a hung process
    # a never polls again, so it never rejoins: b must take over every partition from offset 0
    wait_until(lambda: len(b.assigned()) == 4, 15)
    wait_until(lambda: len(b.seen) == 20, 10)
    b.close()
    a._core.close()


def test_max_poll_interval_leaves_and_the_next_poll_rejoins(cluster):
    fill(cluster, 8)
    with make(cluster, max_poll_interval_ms=300, session_timeout_ms=5000) as c:
        revoked = []
        c.subscribe(["t"], on_revoke=revoked.append)
        got = []
        while len(got) < 8:
            got += c.poll(100)
        wait_until(lambda: cluster.member_count("g") == 0, 5)
        again = []
        while len(again) < 8:  # nothing was committed: the group reads it all again (at-least-once)
            again += c.poll(100)
        assert revoked and revoked[0] == [TopicPartition("t", p) for p in range(4)]
        assert cluster.member_count("g") == 1
        assert c.assignment() == {TopicPartition("t", p) for p in range(4)}


def test_commit_sync_raises_illegal_generation_and_the_next_poll_rejoins(cluster):
    fill(cluster, 4)
    with make(cluster, enable_auto_commit=False, heartbeat_interval_ms=5000, session_timeout_ms=10000) as c:
        c.subscribe(["t"])
        got = []
        while len(got) < 4:
            got += c.poll(100)
        cluster.bump_generation("g")
        with pytest.raises(IllegalGeneration):
            c.commit()
        again = []
        while len(again) < 4:  # rejoins; nothing was committed, so the records come again
            again += c.poll(100)
        c.commit()
        assert cluster.committed("g") == {("t", p): 1 for p in range(4)}


def test_commit_explicit_offsets_committed_and_async_callback(cluster):
    fill(cluster, 8)
    with make(cluster, enable_auto_commit=False) as c:
        c.subscribe(["t"])
        got = []
        while len(got) < 8:
            got += c.poll(100)
        tp = TopicPartition("t", 1)
        assert c.position(tp) == 2
        c.commit({tp: 1})
        assert c.committed(tp) == 1
        assert c.committed(TopicPartition("t", 3)) is None
        done = []
        c.commit_async(callback=lambda offsets, exc: done.append((offsets, exc)))
        wait_until(lambda: cluster.committed("g").get(("t", 3)) == 2, 5)
        c.poll(10)
        assert done == [({TopicPartition("t", p): 2 for p in range(4)}, None)]
        c.commit()  # nothing moved: no request
        assert len(cluster.commits) == 2


def test_commit_is_sent_in_call_order(cluster):
    fill(cluster, 4)
    with make(cluster, enable_auto_commit=False) as c:
        c.subscribe(["t"])
        while not c.assignment():
            c.poll(50)
        tp = TopicPartition("t", 0)
        futures = [c.commit_async({tp: i}) for i in range(20)]
        for f in futures:
            f.result(5)
        assert cluster.committed("g")[("t", 0)] == 19
        assert [b["offsets"][0]["offset"] for b in cluster.commits] == list(range(20))


def test_subscribe_to_a_missing_topic_waits_for_it(cluster):
    with make(cluster) as c:
        c.subscribe(["later"])
        assert c.poll(200) == []
        assert c.assignment() == set()
        cluster.create_topic("later", partitions=2)
        cluster.append("later", 1, [b"hello"])
        got = []
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            got += c.poll(100)
        assert got[0].value == b"hello"
        assert c.assignment() == {TopicPartition("later", 0), TopicPartition("later", 1)}


def test_offset_reset_none_raises_without_a_commit(cluster):
    fill(cluster, 4)
    with make(cluster, auto_offset_reset="none") as c:
        c.subscribe(["t"])
        with pytest.raises(OffsetOutOfRange):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                c.poll(100)


def test_latest_reset_starts_at_the_end(cluster):
    fill(cluster, 4)
    with make(cluster, auto_offset_reset="latest") as c:
        c.subscribe(["t"])
        assert c.poll(300) == []
        cluster.append("t", 0, [b"new"])
        got = []
        deadline = time.monotonic() + 5
        while not got:
            assert time.monotonic() < deadline
            got += c.poll(100)
        assert [r.value for r in got] == [b"new"]


def test_assign_with_group_commits_as_administrator(cluster):
    fill(cluster, 4)
    tp = TopicPartition("t", 0)
    with make(cluster) as c:
        c.assign([tp])
        got = []
        while not got:
            got += c.poll(100)
        c.commit()
    assert cluster.committed("g") == {("t", 0): 1}
    assert cluster.commits[-1]["member_id"] == "" and cluster.commits[-1]["generation"] == -1


def test_mode_errors(cluster):
    with make(cluster) as c:
        c.assign([TopicPartition("t", 0)])
        with pytest.raises(ValueError):
            c.subscribe(["t"])
    with Consumer(cluster.bootstrap) as c, pytest.raises(ValueError):
        c.subscribe(["t"])
    with pytest.raises(ValueError):
        make(cluster, partition_assignment_strategy="nope")
    with pytest.raises(ValueError):
        make(cluster, heartbeat_interval_ms=5000, session_timeout_ms=1000)


def test_coordinator_moves(cluster):
    fill(cluster, 8)
    with make(cluster, enable_auto_commit=False) as c:
        c.subscribe(["t"])
        got = []
        while len(got) < 8:
            got += c.poll(100)
        cluster.coordinator_node = 2  # (the fake's group state is shared by both nodes)
        c.commit()  # NOT_COORDINATOR from node 1: find the coordinator again, retry there
        assert cluster.committed("g") == {("t", p): 2 for p in range(4)}
        assert cluster.requests["find_coordinator"] >= 2


# --- Admin ----------------------------------------------------------------------------------------


def test_admin_list_describe_reset(cluster):
    fill(cluster, 12)
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as admin:
        assert admin.list_groups() == []
        with pytest.raises(GroupIdNotFound):
            admin.describe_group("g")
        c = make(cluster, client_id="billing-1")
        c.subscribe(["t"])
        got = []
        while len(got) < 12:
            got += c.poll(100)
        c.commit({TopicPartition("t", 0): 2})
        assert admin.list_groups() == ["g"]
        d = admin.describe_group("g")
        assert (d.group_id, d.state, d.generation) == ("g", "Stable", 1)
        assert [m.client_id for m in d.members] == ["billing-1"]
        assert d.members[0].assignment == [TopicPartition("t", p) for p in range(4)]
        by_partition = {o.partition: o for o in d.offsets}
        assert (by_partition[0].committed, by_partition[0].end_offset, by_partition[0].lag) == (2, 3, 1)
        assert (by_partition[1].committed, by_partition[1].end_offset, by_partition[1].lag) == (None, 3, None)
        with pytest.raises(NonEmptyGroup):
            admin.reset_offsets("g", "t", to="earliest")
        c.close()
        assert admin.reset_offsets("g", "t", to="earliest") == {TopicPartition("t", p): 0 for p in range(4)}
        assert admin.reset_offsets("g", "t", to=99) == {TopicPartition("t", p): 3 for p in range(4)}
        assert admin.reset_offsets("g", "t", to=1, partitions=[2]) == {TopicPartition("t", 2): 1}
        assert admin.describe_group("g").state == "Empty"
        with pytest.raises(ValueError):
            admin.reset_offsets("g", "t")
    assert cluster.committed("g") == {("t", 0): 3, ("t", 1): 3, ("t", 2): 1, ("t", 3): 3}


def test_injected_coordinator_errors_are_retried(cluster):
    fill(cluster, 4)
    cluster.fail_next_request("join_group", CoordinatorNotAvailable.code, times=2)
    cluster.fail_next_request("offset_fetch", NotCoordinator.code)
    with make(cluster) as c:
        c.subscribe(["t"])
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 4:
            assert time.monotonic() < deadline
            got += c.poll(100)
    assert cluster.requests["find_coordinator"] >= 2
