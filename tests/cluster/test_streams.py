"""The Streams API against real nodes: word count end to end with interactive queries, restart
with local state reused and with the state dir deleted (restore from the changelog), windowed
counts with suppression, a stream-table join, two instances splitting partitions (and
repartitioning), and kill -9 of an instance mid-run (at-least-once: no input is ever missing)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kraft import Admin, Consumer, ConsumerRecord, Producer, TopicPartition
from kraft.apis.streams import (
    DeadLetter,
    JoinWindows,
    Serde,
    StreamsApp,
    TimeWindows,
    Windowed,
    until_window_closes,
    windowed_serde,
)
from kraft.testing.local_cluster import Cluster, wait_for

from .streams_apps import word_count_app

pytestmark = pytest.mark.cluster
WORDS = ["kafka", "kraft", "raft", "lmdb", "stream", "table", "join", "window", "group", "topic"]
ROOT = Path(__file__).resolve().parents[2]


def _lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(n)]


def _produce(bootstrap: str, topic: str, values: list[str], key: bytes | None = None) -> None:
    """Keyless values round-robin over the partitions (the sticky partitioner could put a few
    thousand short lines on one or two of them, leaving an instance nothing to do)."""
    with Producer(bootstrap) as p:
        partitions = p.partitions_for(topic)
        for i, v in enumerate(values):
            p.send(topic, value=v.encode(), key=key, partition=None if key else partitions[i % len(partitions)])
        p.flush()


def _read_all(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record of ``topic`` up to its end offsets now, partition by partition."""
    c = Consumer(bootstrap)
    try:
        with Admin(bootstrap) as admin:
            parts = [TopicPartition(topic, p.partition) for p in admin.describe_topic(topic).partitions]
        c.assign(parts)
        c.seek_to_beginning()
        ends = c.end_offsets(parts)
        records: list[ConsumerRecord] = []
        while any(c.position(tp) < ends[tp] for tp in parts):
            records += c.poll(timeout_ms=500)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        c.close()


def _latest(bootstrap: str, topic: str, key_serde: Serde, value_serde: Serde) -> dict:  # type: ignore[type-arg]
    """The last value per key of ``topic``."""
    return {key_serde.deserialize(r.key): value_serde.deserialize(r.value) for r in _read_all(bootstrap, topic)}


def _create(cluster: Cluster, topic: str, partitions: int) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=partitions, replication_factor=1)
    cluster.wait_leaders(topic)


@pytest.mark.timeout(90)
def test_word_count_end_to_end_restart_and_restore_from_changelog(cluster1: Cluster, tmp_path: Path) -> None:
    _create(cluster1, "text-lines", 3)
    first, second = _lines(300, 1), _lines(200, 2)
    _produce(cluster1.bootstrap, "text-lines", first)
    expected = Counter(w for line in first for w in line.split())

    app = word_count_app(cluster1.bootstrap, str(tmp_path / "state"))
    app.start()
    try:
        wait_for(lambda: dict(app.store("word-counts").all()) == expected, 30, "the word counts in the store")
        assert app.store("word-counts").get("kafka") == expected["kafka"]
    finally:
        app.close()
    assert app.state == "NOT_RUNNING" and app.error is None
    wait_for(lambda: _latest(cluster1.bootstrap, "word-counts", Serde.str, Serde.int) == expected, 20,
             "the word counts in the output topic")

    # Restart on the same state dir: local state is current, nothing is replayed.
    states: list[tuple[str, str]] = []
    app = word_count_app(cluster1.bootstrap, str(tmp_path / "state"),
                         on_state_change=lambda new, old: states.append((old, new)))
    app.start()
    try:
        app.wait_until_running(30)
        assert app.restored == 0
        assert dict(app.store("word-counts").all()) == expected
        assert app.metrics()["tasks"] == ["0_0", "0_1", "0_2", "1_0", "1_1", "1_2"]
    finally:
        app.close()
    assert states[:2] == [("CREATED", "REBALANCING"), ("REBALANCING", "RUNNING")]
    assert states[-1][1] == "NOT_RUNNING"
    app.cleanup()
    assert not (tmp_path / "state" / "wordcount").exists()

    # Without local state (cleanup() deleted it): the state comes back from the changelog, then new
    # input adds to it.
    _produce(cluster1.bootstrap, "text-lines", second)
    expected += Counter(w for line in second for w in line.split())
    app = word_count_app(cluster1.bootstrap, str(tmp_path / "state"))
    app.start()
    try:
        wait_for(lambda: dict(app.store("word-counts").all()) == expected, 30, "counts over old and new input")
        assert app.restored > 0
    finally:
        app.close()
    assert _latest(cluster1.bootstrap, "word-counts", Serde.str, Serde.int) == expected


@pytest.mark.timeout(90)
def test_windowed_counts_with_suppression_and_a_stream_table_join(cluster1: Cluster, tmp_path: Path) -> None:
    _create(cluster1, "clicks", 2)
    _create(cluster1, "users", 2)
    _create(cluster1, "visits", 2)

    def clickstats() -> StreamsApp:
        app = StreamsApp("clickstats", cluster1.bootstrap, state_dir=tmp_path / "s", commit_interval_ms=200,
                         default_key_serde=Serde.str, default_value_serde=Serde.str)
        clicks = app.stream("clicks")
        (clicks.group_by_key()
            .windowed_by(TimeWindows.of(size_ms=10_000, grace_ms=5_000))
            .count(store="clicks-per-10s")
            .suppress(until_window_closes)
            .to_stream()
            .to("clicks-per-10s"))
        users = app.table("users", store="users")
        clicks.join(users, lambda page, name: f"{name}:{page}").to("named-clicks")
        # Keyless "user:page" records, re-keyed: the repartition topic must partition u1 as the users
        # topic does (by the bytes b"u1"; msgpack's b"\xa2u1" lands on the other of 2 partitions).
        (app.stream("visits").select_key(lambda _k, v: v.split(":")[0])
            .join(users, lambda visit, name: f"{name}:{visit.split(':')[1]}").to("named-visits"))
        return app

    app = clickstats()
    app.start()
    try:
        # The user row first (a stream-table join sees the table as of each click's processing), at
        # event time 0: a task's stream time is the largest timestamp of all its inputs.
        with Producer(cluster1.bootstrap) as p:
            p.send("users", key=b"u1", value=b"alice", timestamp_ms=0)
        wait_for(lambda: app.store("users").get("u1") == "alice", 30, "the users table")
        with Producer(cluster1.bootstrap) as p:
            p.send("visits", value=b"u1:/home", timestamp_ms=0)
        wait_for(lambda: _latest(cluster1.bootstrap, "named-visits", Serde.str, Serde.str) == {"u1": "alice:/home"},
                 20, "the re-keyed stream joined with the table")
        events = [("u1", 1_000), ("u1", 4_000), ("u2", 12_000), ("u1", 9_000),  # 9 s: out of order, in grace
                  ("u1", 16_000), ("u1", 2_000),                                # 2 s: late (window closed at 15 s)
                  ("u1", 31_000), ("u2", 31_000)]                               # close [10 s, 20 s)
        with Producer(cluster1.bootstrap) as p:
            for key, ts in events:
                p.send("clicks", key=key.encode(), value=f"/p{ts}".encode(), timestamp_ms=ts)
        ks = windowed_serde(Serde.str, 10_000)
        want = {Windowed("u1", 0, 10_000): 3, Windowed("u1", 10_000, 20_000): 1, Windowed("u2", 10_000, 20_000): 1}
        wait_for(lambda: _latest(cluster1.bootstrap, "clicks-per-10s", ks, Serde.int) == want, 30,
                 "final windowed counts")
        # u2 has no user row: the inner join drops its clicks.
        wait_for(lambda: _latest(cluster1.bootstrap, "named-clicks", Serde.str, Serde.str) == {"u1": "alice:/p31000"},
                 20, "the joined clicks")
        wait_for(lambda: app.store("clicks-per-10s").fetch("u1", 0, 30_000) == [
            (Windowed("u1", 0, 10_000), 3), (Windowed("u1", 10_000, 20_000), 1), (Windowed("u1", 30_000, 40_000), 1)],
            10, "the committed window store")
    finally:
        app.close()
    assert app.error is None

    # Restarted on its state dir: stream time (31 s) comes back with the stores, so [0 s, 10 s)
    # stays closed: a late click is dropped and its final count is not changed or emitted again.
    app = clickstats()
    app.start()
    try:
        app.wait_until_running(30)
        with Producer(cluster1.bootstrap) as p:
            p.send("clicks", key=b"u1", value=b"/late", timestamp_ms=3_000)
        wait_for(lambda: app.metrics()["dropped_late"] == 1, 20, "the late click dropped after the restart")
        assert app.store("clicks-per-10s").fetch("u1", 0, 0) == [(Windowed("u1", 0, 10_000), 3)]
    finally:
        app.close()
    assert app.error is None
    finals = [r for r in _read_all(cluster1.bootstrap, "clicks-per-10s") if ks.deserialize(r.key).start_ms == 0]
    assert [(ks.deserialize(r.key).key, Serde.int.deserialize(r.value)) for r in finals] == [("u1", 3)]


@pytest.mark.timeout(90)
def test_failed_records_go_to_the_dead_letter_topic_or_stop_the_app(cluster1: Cluster, tmp_path: Path) -> None:
    _create(cluster1, "numbers", 1)
    with Producer(cluster1.bootstrap) as p:
        for value in [Serde.int.serialize(1), b"not 8 bytes", Serde.int.serialize(0), Serde.int.serialize(4)]:
            p.send("numbers", value=value)
    app = StreamsApp("dlq-app", cluster1.bootstrap, state_dir=tmp_path / "a", default_value_serde=Serde.int,
                     on_error=DeadLetter("numbers-dlq"), commit_interval_ms=200)
    app.stream("numbers").map_values(lambda v: 100 // v).to("inverted")
    app.start()
    try:
        wait_for(lambda: [Serde.int.deserialize(r.value) for r in _read_all(cluster1.bootstrap, "inverted")]
                 == [100, 25], 30, "the good records' results")
        # The dead letters go through the same producer but to another topic: wait for them too.
        dead = wait_for(lambda: (lambda rs: rs if len(rs) >= 2 else None)(_read_all(cluster1.bootstrap,
                                                                                  "numbers-dlq")),
                        30, "the dead letters")
        assert [r.value for r in dead] == [b"not 8 bytes", Serde.int.serialize(0)]
        assert [dict(r.headers)["source.offset"] for r in dead] == [b"1", b"2"]
        assert b"ZeroDivisionError" in dict(dead[1].headers)["error"]
    finally:
        app.close()
    assert app.error is None

    stopping = StreamsApp("stop-app", cluster1.bootstrap, state_dir=tmp_path / "b", default_value_serde=Serde.int,
                          commit_interval_ms=200)
    stopping.stream("numbers").map_values(lambda v: 100 // v).to("inverted-2")
    stopping.start()
    wait_for(lambda: stopping.state == "ERROR", 30, "the default handler stopping the app")
    stopping.close()
    assert "topic numbers partition 0 offset 1" in str(stopping.error)
    with Admin(cluster1.bootstrap) as admin:
        committed = [o.committed for o in admin.describe_group("stop-app").offsets if o.topic == "numbers"]
    assert committed in ([], [None], [0], [1])  # never beyond the failed record: a restart retries it


def _group_tasks(bootstrap: str, group: str) -> dict[str, int]:
    with Admin(bootstrap) as admin:
        return {m.member_id: len(m.assignment) for m in admin.describe_group(group).members}


@pytest.mark.timeout(120)
def test_two_instances_split_the_partitions_and_each_word_is_counted_once(cluster1: Cluster,
                                                                          tmp_path: Path) -> None:
    _create(cluster1, "text-lines", 4)
    a = word_count_app(cluster1.bootstrap, str(tmp_path / "a"))
    b = word_count_app(cluster1.bootstrap, str(tmp_path / "b"))
    a.start()
    b.start()
    try:
        wait_for(lambda: sorted(_group_tasks(cluster1.bootstrap, "wordcount").values()) == [4, 4], 30,
                 "two members with half of the 8 partitions each (input + repartition topic)")
        lines = _lines(400, 3)
        _produce(cluster1.bootstrap, "text-lines", lines)
        expected = Counter(w for line in lines for w in line.split())

        def merged() -> dict[str, int] | None:
            sa, sb = dict(a.store("word-counts").all()), dict(b.store("word-counts").all())
            return None if set(sa) & set(sb) else {**sa, **sb}

        wait_for(lambda: merged() == expected, 40, "both instances' counts adding up to the truth")
        assert dict(a.store("word-counts").all()) and dict(b.store("word-counts").all())
        assert a.processed > 0 and b.processed > 0
    finally:
        a.close()
        b.close()
    assert a.error is None and b.error is None


@pytest.mark.timeout(150)
def test_kill_9_of_an_instance_loses_no_input(cluster1: Cluster, tmp_path: Path) -> None:
    _create(cluster1, "text-lines", 4)
    lines = _lines(3000, 4)
    expected = Counter(w for line in lines for w in line.split())
    _produce(cluster1.bootstrap, "text-lines", lines)
    env = {**os.environ, "KRAFT_BOOTSTRAP": cluster1.bootstrap, "STREAMS_STATE_DIR": str(tmp_path / "victim"),
           "STREAMS_WORK_S_PER_LINE": "0.003", "STREAMS_MAX_POLL_RECORDS": "100"}
    log = open(tmp_path / "victim.log", "wb")  # noqa: SIM115 - closed below
    # --bootstrap: run from the repository's folder, the command would use its ./cluster.ini (as every
    # client command does) over the app's own bootstrap.
    victim = subprocess.Popen([sys.executable, "-m", "kraft.apis.streams.cli", "run",
                               "tests.cluster.streams_apps:wordcount", "--bootstrap", cluster1.bootstrap],
                              cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    survivor = word_count_app(cluster1.bootstrap, str(tmp_path / "survivor"))
    try:
        wait_for(lambda: sorted(_group_tasks(cluster1.bootstrap, "wordcount").values()) == [8], 30,
                 "the victim owning every task")
        survivor.start()
        wait_for(lambda: sorted(_group_tasks(cluster1.bootstrap, "wordcount").values()) == [4, 4], 30,
                 "the two instances sharing the tasks")

        def committed_lines() -> int:
            with Admin(cluster1.bootstrap) as admin:
                offsets = admin.describe_group("wordcount").offsets
            return sum(o.committed or 0 for o in offsets if o.topic == "text-lines")

        wait_for(lambda: committed_lines() > len(lines) // 2 + 100, 60, "the victim committing some of its half")
        os.kill(victim.pid, signal.SIGKILL)  # mid-run: its uncommitted work and open transactions are lost
        victim.wait(10)
        assert committed_lines() < len(lines), "the victim had finished: the kill was not mid-run"

        def all_counted() -> bool:
            counts = dict(survivor.store("word-counts").all())
            return all(counts.get(w, 0) >= n for w, n in expected.items())

        wait_for(all_counted, 60, "the survivor counting every input (at least once)")
        wait_for(lambda: sorted(_group_tasks(cluster1.bootstrap, "wordcount").values()) == [8], 20,
                 "the survivor owning every task")
        assert set(dict(survivor.store("word-counts").all())) == set(expected)
        wait_for(lambda: committed_lines() == len(lines), 20, "every input line committed")
        output = _latest(cluster1.bootstrap, "word-counts", Serde.str, Serde.int)
        assert all(output[w] >= n for w, n in expected.items())
    finally:
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
        log.close()
        survivor.close()
    assert survivor.error is None, survivor.error


@pytest.mark.timeout(90)
def test_cli_run_and_sigterm_close_the_app_cleanly(cluster1: Cluster, tmp_path: Path) -> None:
    _create(cluster1, "text-lines", 2)
    lines = _lines(200, 5)
    _produce(cluster1.bootstrap, "text-lines", lines)
    env = {**os.environ, "KRAFT_BOOTSTRAP": "127.0.0.1:1", "STREAMS_STATE_DIR": "unused"}
    proc = subprocess.Popen([sys.executable, "-m", "kraft.apis.streams.cli", "run",
                             "tests.cluster.streams_apps:wordcount", "--bootstrap", cluster1.bootstrap,
                             "--state-dir", str(tmp_path / "state")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        expected = Counter(w for line in lines for w in line.split())
        wait_for(lambda: _latest(cluster1.bootstrap, "word-counts", Serde.str, Serde.int) == expected, 30,
                 "the CLI-run app's results")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    with Admin(cluster1.bootstrap) as admin:
        group = admin.describe_group("wordcount")
    assert group.members == []  # it left the group instead of timing out
    assert all(o.committed == o.end_offset for o in group.offsets if o.topic == "text-lines")
    app = word_count_app(cluster1.bootstrap, str(tmp_path / "state"))  # same state dir: current, reused
    app.start()
    try:
        app.wait_until_running(30)
        assert app.restored == 0 and dict(app.store("word-counts").all()) == expected
    finally:
        app.close()


@pytest.mark.timeout(90)
def test_table_table_and_windowed_stream_stream_joins(cluster1: Cluster, tmp_path: Path) -> None:
    for topic in ["prices", "stock", "orders", "payments"]:
        _create(cluster1, topic, 2)
    _create(cluster1, "three-partitions", 3)
    app = StreamsApp("joins", cluster1.bootstrap, state_dir=tmp_path / "s", commit_interval_ms=200,
                     default_key_serde=Serde.str, default_value_serde=Serde.str)
    (app.table("prices").join(app.table("stock"), lambda price, n: f"{price}x{n}")
        .to_stream().to("offers"))
    (app.stream("orders")
        .left_join(app.stream("payments"), lambda o, p: f"{o}+{p}", JoinWindows.of(1_000, grace_ms=0))
        .to("paid-orders"))
    with Producer(cluster1.bootstrap) as p:
        for key, value in [("apple", "3"), ("pear", "5"), ("apple", "4")]:
            p.send("prices", key=key.encode(), value=value.encode(), timestamp_ms=1)
        p.send("stock", key=b"apple", value=b"10", timestamp_ms=1)
        for topic, key, value, ts in [("orders", "o1", "book", 10_000), ("payments", "o1", "card", 10_500),
                                      ("orders", "o2", "pen", 10_000), ("orders", "o3", "cup", 20_000),
                                      ("payments", "o3", "cash", 20_000)]:
            p.send(topic, key=key.encode(), value=value.encode(), timestamp_ms=ts)
    app.start()
    try:
        wait_for(lambda: _latest(cluster1.bootstrap, "offers", Serde.str, Serde.str) == {"apple": "4x10"}, 30,
                 "the table-table join")
        wait_for(lambda: _latest(cluster1.bootstrap, "paid-orders", Serde.str, Serde.str)
                 == {"o1": "book+card", "o3": "cup+cash"}, 30, "the stream-stream join's matches")
        # o2 never gets paid: its left-join result (with None) comes once stream time closes its window.
        with Producer(cluster1.bootstrap) as p:
            p.send("orders", key=b"o2", value=b"tick", timestamp_ms=40_000)
        wait_for(lambda: _latest(cluster1.bootstrap, "paid-orders", Serde.str, Serde.str)
                 == {"o1": "book+card", "o2": "pen+None", "o3": "cup+cash"}, 30, "the unmatched order")
        assert len(_read_all(cluster1.bootstrap, "paid-orders")) == 3  # no eager (order, None) results
    finally:
        app.close()
    assert app.error is None

    bad = StreamsApp("bad-join", cluster1.bootstrap, state_dir=tmp_path / "b")
    bad.stream("orders").join(bad.table("three-partitions"), lambda o, x: o).to("never")
    bad.start()
    wait_for(lambda: bad.state == "ERROR", 30, "the join of inputs not co-partitioned refused")
    bad.close()
    assert "co-partitioned" in str(bad.error)
