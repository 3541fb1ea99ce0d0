"""Consumer groups on real nodes: sharing, a killed member, resuming at a commit, coordinator failover.

Consumers run as threads of the test process, except the member that is SIGKILLed (a subprocess:
a killed process is what stops heartbeating without leaving). Every wait has a deadline, every
consumer and process started here is closed/killed in ``finally``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
TOPIC = "orders"
PARTITIONS = 6
FAST = {"heartbeat_interval_ms": 300, "session_timeout_ms": 3000, "fetch_max_wait_ms": 100,
        "request_timeout_ms": 15000, "auto_commit_interval_ms": 200}


def create_topic(cluster: Cluster, name: str = TOPIC, partitions: int = PARTITIONS, rf: int = 3) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(name, partitions=partitions, replication_factor=rf)
    cluster.wait_leaders(name)


def produce(cluster: Cluster, values: list[bytes]) -> None:
    with Producer(cluster.bootstrap, acks="all", linger_ms=2) as producer:
        futures = [producer.send(TOPIC, value=v, key=v) for v in values]
        producer.flush()
        for f in futures:
            f.result(timeout=60)


class Member:
    """A subscribed consumer polling on its own thread; records what it saw and its assignments."""

    def __init__(self, cluster: Cluster, group: str, name: str, **options: Any) -> None:
        self.name = name
        self.consumer = Consumer(cluster.bootstrap, group_id=group, client_id=name, **{**FAST, **options})
        self.seen: list[tuple[int, int, bytes]] = []
        self.assignments: list[list[TopicPartition]] = []
        self.revokes = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"member-{name}", daemon=True)

    def start(self) -> Member:
        self.consumer.subscribe([TOPIC], on_assign=self.assignments.append, on_revoke=self._revoked)
        self._thread.start()
        return self

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        self.revokes += 1

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for r in self.consumer.poll(100):
                    self.seen.append((r.partition, r.offset, r.value or b""))
        except BaseException as exc:  # reported by close()
            self.errors.append(exc)

    @property
    def assigned(self) -> list[TopicPartition]:
        return self.assignments[-1] if self.assignments else []

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.consumer.close()

    def check(self) -> None:
        assert not self.errors, f"{self.name}: {self.errors!r}"


def close_all(members: list[Member]) -> None:
    for m in members:
        try:
            m.close()
        except Exception:  # close the others whatever happened
            pass


def stable(members: list[Member], partitions: int = PARTITIONS) -> bool:
    """Every member assigned, disjointly, covering every partition, with nothing left to rejoin."""
    for m in members:
        m.check()  # a member whose poll raised is reported as the wait's last error
    owned = [tp for m in members for tp in m.assigned]
    return len(owned) == partitions == len(set(owned)) and all(m.assigned for m in members) \
        and all(not m.consumer._fetcher.paused for m in members)


def values_seen(members: list[Member], extra: list[bytes] = ()) -> Counter[bytes]:  # type: ignore[assignment]
    return Counter([v for m in members for _, _, v in m.seen] + list(extra))


def test_two_groups_of_three_each_see_every_record_exactly_once(cluster3: Cluster) -> None:
    create_topic(cluster3)
    groups = {g: [Member(cluster3, g, f"{g}-{i}") for i in range(3)] for g in ("billing", "audit")}
    everyone = [m for ms in groups.values() for m in ms]
    try:
        for m in everyone:
            m.start()
        for g, ms in groups.items():
            wait_for(lambda ms=ms: stable(ms), 30, f"group {g} stable with 2 partitions per member")
        assert all(len(m.assigned) == 2 for m in everyone)
        rebalances = {m.name: len(m.assignments) for m in everyone}
        values = [b"r%05d" % i for i in range(3000)]
        produce(cluster3, values)
        for g, ms in groups.items():
            wait_for(lambda ms=ms: sum(values_seen(ms).values()) >= len(values), 60, f"group {g} read everything")
        time.sleep(0.5)  # sleep-ok: a duplicate would arrive now
        for g, ms in groups.items():
            counts = values_seen(ms)
            assert set(counts) == set(values), f"group {g} missed records"
            assert max(counts.values()) == 1, f"group {g} read a record twice in a steady state"
            for m in ms:  # each member read only its own partitions, each in offset order
                assert {p for p, _, _ in m.seen} <= {tp.partition for tp in m.assigned}
                for p in {p for p, _, _ in m.seen}:
                    offsets = [o for q, o, _ in m.seen if q == p]
                    assert offsets == sorted(offsets) and len(offsets) == len(set(offsets))
        assert {m.name: len(m.assignments) for m in everyone} == rebalances, "no rebalance while steady"
        with Admin(cluster3.bootstrap) as admin:
            assert sorted(admin.list_groups()) == ["audit", "billing"]
            wait_for(lambda: all(o.lag == 0 for o in admin.describe_group("billing").offsets), 10,
                     "billing's commits catch up (auto-commit)")
            d = admin.describe_group("billing")
            assert d.state == "Stable" and len(d.members) == 3
            assert sum(o.committed or 0 for o in d.offsets) == len(values)
        for m in everyone:
            m.check()
    finally:
        close_all(everyone)


CHILD = """
import sys
from kraft import Consumer
c = Consumer(sys.argv[1], group_id=sys.argv[2], client_id="child", heartbeat_interval_ms=300,
             session_timeout_ms=int(sys.argv[3]), fetch_max_wait_ms=100, auto_commit_interval_ms=200)
c.subscribe([sys.argv[4]], on_assign=lambda tps: print("assigned", len(tps), flush=True))
while True:
    for r in c.poll(100):
        print("seen", r.value.decode(), flush=True)
"""


class Child:
    """A group member in its own process, printing what it sees; read by a thread of the test."""

    def __init__(self, cluster: Cluster, group: str, session_timeout_ms: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, cluster.bootstrap, group, str(session_timeout_ms), TOPIC],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.seen: list[bytes] = []
        self.assigned = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, rest = line.decode().strip().partition(" ")
            if kind == "seen":
                self.seen.append(rest.encode())
            elif kind == "assigned":
                self.assigned = int(rest)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        self._reader.join(10)


class BackgroundProducer:
    """Numbered values to TOPIC until stopped; keeps what was acknowledged."""

    def __init__(self, cluster: Cluster) -> None:
        self.producer = Producer(cluster.bootstrap, acks="all", linger_ms=2, delivery_timeout_ms=60_000)
        self.acked: list[bytes] = []
        self.where: dict[bytes, tuple[int, int]] = {}  # value -> (partition, offset)
        self.failed: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            batch = []
            for _ in range(20):
                value = b"p%06d" % i
                i += 1
                batch.append((value, self.producer.send(TOPIC, value=value, key=value)))
            for value, fut in batch:
                try:
                    md = fut.result(timeout=90)
                    self.where[value] = (md.partition, md.offset)
                    self.acked.append(value)
                except Exception as exc:
                    self.failed.append(exc)
            time.sleep(0.01)  # sleep-ok: paces the load

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(120)
        self.producer.close()


def test_killed_member_is_replaced_within_the_session_timeout_and_nothing_is_skipped(cluster3: Cluster) -> None:
    create_topic(cluster3)
    session_ms = 3000
    members: list[Member] = []
    child: Child | None = None
    producer = BackgroundProducer(cluster3)
    try:
        members = [Member(cluster3, "billing", f"m{i}").start() for i in range(2)]
        child = Child(cluster3, "billing", session_ms)
        with Admin(cluster3.bootstrap) as admin:
            wait_for(lambda: len(admin.describe_group("billing").members) == 3 and child.assigned == 2
                     and stable(members, 4), 30, "three members, two partitions each")
        producer.start()
        wait_for(lambda: len(child.seen) >= 50, 30, "the child consumes")
        rebalances = [len(m.assignments) for m in members]
        child.kill()
        killed_at = time.monotonic()
        wait_for(lambda: all(len(m.assignments) > r for m, r in zip(members, rebalances, strict=True))
                 and stable(members), 30, "the survivors take over every partition")
        took = time.monotonic() - killed_at
        assert took < session_ms / 1000 + 2.0, f"takeover took {took:.1f} s"
        time.sleep(1.0)  # sleep-ok: keep producing after the takeover
        producer.stop()
        assert not producer.failed, producer.failed[:3]
        wait_seen_all(producer, members, child.seen)
        for m in members:
            m.check()
    finally:
        if child is not None:
            child.kill()
        producer.stop()
        close_all(members)


def test_commit_close_and_a_new_consumer_resumes_exactly_at_the_commit(cluster3: Cluster) -> None:
    create_topic(cluster3)
    produce(cluster3, [b"v%04d" % i for i in range(600)])
    first = Consumer(cluster3.bootstrap, group_id="resume", enable_auto_commit=False, **_no_auto(FAST))
    try:
        first.subscribe([TOPIC])
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) < 250 and time.monotonic() < deadline:
            got += first.poll(200, max_records=25)
        assert len(got) >= 250
        positions = {tp: first.position(tp) for tp in first.assignment()}
        first.commit()
        for tp, pos in positions.items():
            assert first.committed(tp) == pos
            last = max((r.offset for r in got if r.partition == tp.partition), default=None)
            assert pos == (0 if last is None else last + 1), "a commit is the offset of the next record"
    finally:
        first.close()
    second = Consumer(cluster3.bootstrap, group_id="resume", enable_auto_commit=False, **_no_auto(FAST))
    try:
        second.subscribe([TOPIC])
        rest: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) + len(rest) < 600 and time.monotonic() < deadline:
            rest += second.poll(200)
        firsts: dict[int, int] = {}
        for r in rest:
            firsts.setdefault(r.partition, r.offset)
        for tp, pos in positions.items():
            if tp.partition in firsts:
                assert firsts[tp.partition] == pos, f"{tp} resumed at {firsts[tp.partition]}, committed {pos}"
        assert sorted((r.partition, r.offset) for r in got + rest) == sorted(
            {(r.partition, r.offset) for r in got + rest}), "no record twice"
        assert len(got) + len(rest) == 600
    finally:
        second.close()


def _no_auto(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "auto_commit_interval_ms"}


def wait_seen_all(producer: BackgroundProducer, members: list[Member], extra: list[bytes] = (),  # type: ignore[assignment]
                  timeout_s: float = 60) -> None:
    """Wait until the group saw every acknowledged record; on failure say which are missing."""
    acked = set(producer.acked)
    try:
        wait_for(lambda: acked <= set(values_seen(members, extra)), timeout_s, "the group sees every record")
    except AssertionError:
        missing = sorted(producer.where[v] for v in acked - set(values_seen(members, extra)))
        by_partition: dict[int, list[int]] = {}
        for p, o in missing:
            by_partition.setdefault(p, []).append(o)
        lines = [f"{len(missing)} of {len(acked)} acknowledged records never seen:"]
        lines += [f"  partition {p}: offsets {min(os)}..{max(os)} ({len(os)})"
                  for p, os in sorted(by_partition.items())]
        for m in members:
            seen: dict[int, int] = {}
            for p, o, _ in m.seen:
                seen[p] = max(seen.get(p, -1), o)
            lines.append(f"  {m.name}: assigned {[tp.partition for tp in m.assigned]}, "
                         f"{len(m.assignments)} assignments, last offset seen {dict(sorted(seen.items()))}, "
                         f"paused {m.consumer._fetcher.paused}, errors {m.errors!r}")
        raise AssertionError("\n".join(lines)) from None


def coordinator_of(cluster: Cluster) -> int:
    for node in cluster.alive():
        code, md = cluster.call(node, "metadata", {"topics": []})
        if code == 0 and md["controller"] is not None:
            return int(md["controller"])
    raise AssertionError("no controller")


def test_coordinator_killed_the_group_resumes_and_keeps_its_commits(cluster3: Cluster, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="kraft.apis.consumer")
    create_topic(cluster3)
    members: list[Member] = []
    producer = BackgroundProducer(cluster3)
    admin = Admin(cluster3.bootstrap, request_timeout_ms=30000)
    try:
        members = [Member(cluster3, "billing", f"m{i}").start() for i in range(2)]
        wait_for(lambda: stable(members), 30, "two members stable")
        producer.start()
        wait_for(lambda: sum(len(m.seen) for m in members) >= 300, 30, "the group consumes")
        before = admin.describe_group("billing")
        committed_before = {(o.topic, o.partition): o.committed for o in before.offsets if o.committed is not None}
        assert committed_before, "auto-commit ran"
        coordinator = coordinator_of(cluster3)
        rebalances = [len(m.assignments) for m in members]
        cluster3.kill(coordinator)
        wait_for(lambda: coordinator_of(cluster3) != coordinator, 30, "a new metadata leader")
        wait_for(lambda: all(len(m.assignments) > r for m, r in zip(members, rebalances, strict=True))
                 and stable(members), 60, "the group rejoins at the new coordinator")
        after = admin.describe_group("billing")
        assert after.generation > before.generation
        for key, offset in committed_before.items():
            now = next(o.committed for o in after.offsets if (o.topic, o.partition) == key)
            assert now is not None and now >= offset, f"{key}: committed {offset} before the failover, {now} after"
        seen_before = sum(len(m.seen) for m in members)
        wait_for(lambda: sum(len(m.seen) for m in members) > seen_before + 100, 60, "the group consumes again")
        producer.stop()
        assert not producer.failed, producer.failed[:3]
        wait_seen_all(producer, members)
        for m in members:
            m.check()
    finally:
        producer.stop()
        close_all(members)
        admin.close()


def test_members_coming_and_going_skip_nothing(cluster3: Cluster) -> None:
    """At-least-once across many rebalances: members join, leave cleanly and are killed while the
    producer runs; every acknowledged record is seen by the group."""
    create_topic(cluster3)
    members: list[Member] = []
    transient: list[Member] = []
    child: Child | None = None
    producer = BackgroundProducer(cluster3)
    try:
        members = [Member(cluster3, "churn", f"m{i}").start() for i in range(2)]
        wait_for(lambda: stable(members), 30, "two members stable")
        producer.start()
        for round_ in range(3):
            extra = Member(cluster3, "churn", f"t{round_}").start()
            transient.append(extra)
            wait_for(lambda extra=extra: extra.assigned and stable([*members, extra]), 30, "a third member joins")
            wait_for(lambda extra=extra: len(extra.seen) > 0, 30, "the third member reads")
            extra.close()  # commits and leaves
            wait_for(lambda: stable(members), 30, "back to two members")
        child = Child(cluster3, "churn", 3000)
        wait_for(lambda: child.assigned > 0 and len(child.seen) > 0, 30, "a child member reads")
        child.kill()  # no commit, no leave: its uncommitted records go to the others
        wait_for(lambda: stable(members), 30, "the child's partitions are taken over")
        producer.stop()
        assert not producer.failed, producer.failed[:3]
        everyone = [*members, *transient]
        wait_seen_all(producer, everyone, child.seen)
        for m in everyone:
            m.check()
    finally:
        if child is not None:
            child.kill()
        producer.stop()
        close_all(members + transient)
