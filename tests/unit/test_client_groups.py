"""The group consumer and the group Admin calls against an in-process cluster (fast, real coordinator).

The cluster's nodes run the real group coordinator (kraft.groups) behind the real handlers: the
first rebalance of a new group waits ``group_initial_rebalance_delay_ms``, a rebalance waits for
every known member (or its rebalance timeout), heartbeats answer REBALANCE_IN_PROGRESS meanwhile,
commits check member and generation (and the metadata group checks the generation again), admin
commits only while the group is empty. tests/cluster/test_groups.py runs the same against node processes.
"""

from __future__ import annotations

import threading
import time

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
from kraft.errors import CoordinatorNotAvailable, NotCoordinator, UnknownMemberId
from kraft.testing import InProcessCluster, wait_until

pytestmark = pytest.mark.timeout(60)

INITIAL_DELAY_S = 0.1


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=2, group_initial_rebalance_delay_ms=int(INITIAL_DELAY_S * 1000)) as c:
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

        def answered() -> bool:
            c.poll(10)  # the callback runs in poll, once the commit's answer has arrived
            return bool(done)

        wait_until(answered, 5)
        assert done == [({TopicPartition("t", p): 2 for p in range(4)}, None)]
        assert cluster.committed("g").get(("t", 3)) == 2
        c.commit()  # nothing moved: no request
        assert len(cluster.commits) == 2


def test_commit_async_commits_the_positions_of_its_call_not_of_a_later_poll(cluster):
    """A poll right after commit_async() may hand out buffered records on the user's thread before
    the loop thread sends the commit: the commit must still be of what was consumed at the call."""
    cluster.append("t", 0, [b"%d" % i for i in range(10)])  # one batch: one fetch buffers all ten
    tp = TopicPartition("t", 0)
    with make(cluster, enable_auto_commit=False, max_poll_records=3) as c:
        c.subscribe(["t"])
        got = []
        while len(got) < 3:
            got += c.poll(100)
        assert [r.offset for r in got] == [0, 1, 2]
        busy, release = threading.Event(), threading.Event()

        def hold_the_loop() -> None:
            busy.set()
            release.wait(10)

        c._core.call_soon(hold_the_loop)
        assert busy.wait(5)
        try:
            future = c.commit_async()
            assert [r.offset for r in c.poll(1000)] == [3, 4, 5]
        finally:
            release.set()
        assert future.result(5)[tp] == 3  # (the other partitions: 0, nothing consumed)
        assert cluster.committed("g")[("t", 0)] == 3


def test_commit_is_sent_in_call_order(cluster):
    fill(cluster, 80)  # offsets up to 19 exist: a node refuses to commit an offset beyond the end
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


@pytest.mark.parametrize(("reset", "first"), [("earliest", 3), ("latest", 5)])
def test_a_committed_offset_below_the_log_start_is_reset(cluster, reset, first):
    for i in range(5):
        cluster.append("t", 0, [b"%d" % i])
        cluster.append("t", 1, [b"%d" % i])
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as admin:
        admin.reset_offsets("g", "t", to=1, partitions=[0])
        admin.reset_offsets("g", "t", to=2, partitions=[1])
    assert cluster.delete_records("t", 0, 3) == 3
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    with make(cluster, auto_offset_reset=reset) as c:
        c.subscribe(["t"])
        got: dict[int, list[int]] = {0: [], 1: []}

        def poll() -> None:
            for r in c.poll(50):
                if r.partition in got:
                    got[r.partition].append(r.offset)

        def positioned() -> bool:  # t/0's fetch at the committed 1 answers OFFSET_OUT_OF_RANGE: reset
            poll()
            return len(got[1]) == 3 and (bool(got[0]) or c.position(tp0) == first)

        wait_until(positioned, 10)
        assert got[1] == [2, 3, 4]  # a committed offset within the log is where the group resumes
        if not got[0]:
            cluster.append("t", 0, [b"new"])
            wait_until(lambda: poll() or got[0], 5)
        assert got[0][0] == first
        assert c.position(tp1) == 5


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
        cluster.set_controller(2)  # the metadata group's leader coordinates every group
        # NOT_COORDINATOR from node 1: find the coordinator again, retry there. Membership is not
        # replicated, so node 2 does not know the member: it must rejoin there.
        with pytest.raises(UnknownMemberId):
            c.commit()
        again = []
        while len(again) < 8:  # rejoined at node 2; nothing was committed, so the records come again
            again += c.poll(100)
        c.commit()
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
