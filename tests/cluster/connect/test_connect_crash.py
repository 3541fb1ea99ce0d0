"""The worker as a process, killed with SIGKILL mid-stream and restarted: PostgreSQL → kraft →
PostgreSQL loses no change and the sink table ends identical; SQLite → kraft → PostgreSQL too."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from kraft import Consumer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

from .conftest import Postgres
from .helpers import WorkerProcess, write_toml

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def table(db: Any, name: str) -> list[tuple]:
    try:
        return [tuple(r) for r in db.execute(f"SELECT * FROM {name} ORDER BY id").fetchall()]
    except Exception:
        return []


def all_events(bootstrap: str, topic: str) -> list[dict]:
    consumer = Consumer(bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning()
        end = consumer.end_offsets([tp])[tp]
        out: list[dict] = []

        def done() -> bool:
            out.extend(json.loads(r.value) for r in consumer.poll(timeout_ms=200))
            return consumer.position(tp) >= end

        wait_for(done, 30, f"{topic} read to its end")
        return out
    finally:
        consumer.close()


def lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return int(high, 16) << 32 | int(low, 16)


def random_writes(db: Any, rng: random.Random, n: int, ids: set[int]) -> int:
    """``n`` transactions of 1-3 changes each; returns how many committed."""
    for _ in range(n):
        with db.transaction():
            for _ in range(rng.randint(1, 3)):
                choice = rng.random()
                if choice < 0.4 or len(ids) < 5:
                    new = max(ids, default=0) + 1
                    db.execute("INSERT INTO accounts VALUES (%s, %s, %s)", (new, rng.randint(0, 1000), f"n{new}"))
                    ids.add(new)
                elif choice < 0.8:
                    db.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s",
                               (rng.randint(1, 50), rng.choice(sorted(ids))))
                else:
                    victim = rng.choice(sorted(ids))
                    db.execute("DELETE FROM accounts WHERE id = %s", (victim,))
                    ids.discard(victim)
    return n


def test_kill_worker_mid_stream_postgres_to_postgres(cluster1: Cluster, postgres: Postgres, tmp_path: Path) -> None:
    rng = random.Random(7)
    src_dsn, dst_dsn = postgres.create_database("bank"), postgres.create_database("bank_mirror")
    toml = write_toml(tmp_path / "connectors.toml", [
        {"name": "bank", "class": "postgres-source", "dsn": src_dsn, "tables": ["accounts"], "topic_prefix": "cdc.",
         "batch_max_changes": 20},
        {"name": "mirror", "class": "postgres-sink", "dsn": dst_dsn, "topics": ["cdc.accounts"],
         "batch_max_records": 25, "table": "accounts", "auto_create": True},
    ])
    with postgres.connect("bank") as src, postgres.connect("bank_mirror") as dst:
        src.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text)")
        ids: set[int] = set()
        random_writes(src, rng, 20, ids)  # before the first start: delivered by the snapshot
        txns = 0
        stop_writing = threading.Event()

        def writer() -> None:
            nonlocal txns
            with postgres.connect("bank") as conn:
                while not stop_writing.is_set():
                    txns += random_writes(conn, rng, 1, ids)

        worker = WorkerProcess(toml, cluster1.bootstrap, tmp_path / "worker1.log")
        writing = threading.Thread(target=writer)
        try:
            wait_for(lambda: table(dst, "accounts"), 60, "mirror has rows")
            writing.start()
            # Kill while transactions are being written and captured.
            wait_for(lambda: len({e["source"]["txid"] for e in all_events(cluster1.bootstrap, "cdc.accounts")}) > 30,
                     30, "capture under way", interval_s=0.1)
            worker.kill()
            assert writing.is_alive()
            at_kill = txns
            wait_for(lambda: txns > at_kill + 5, 10, "writes while no worker runs")
            worker = WorkerProcess(toml, cluster1.bootstrap, tmp_path / "worker2.log")
            wait_for(lambda: txns > 200, 30, "enough transactions written", interval_s=0.1)
            stop_writing.set()
            writing.join(10)
            wait_for(lambda: table(dst, "accounts") == table(src, "accounts"), 60, "mirror equal to the source",
                     interval_s=0.2)
        finally:
            stop_writing.set()
            if writing.is_alive() or writing.ident is not None:
                writing.join(10)
            worker.stop()
        expected_rows = table(src, "accounts")
    events = all_events(cluster1.bootstrap, "cdc.accounts")
    streamed = [e for e in events if e["op"] != "r"]
    # Nothing lost: every transaction after the snapshot is in the topic.
    txids = {e["source"]["txid"] for e in streamed}
    assert len(txids) == txns
    # Replaying the topic (snapshot + changes, in order) rebuilds the source table exactly.
    state: dict[int, tuple] = {}
    for e in events:
        if e["op"] == "d":
            state.pop(e["before"]["id"], None)
        else:
            a = e["after"]
            state[a["id"]] = (a["id"], a["balance"], a["note"])
    assert sorted(state.values()) == expected_rows
    # Re-deliveries only come from the at-least-once window (acknowledged, offset not yet stored):
    # at most the one batch in flight when the worker was killed, and each is recognisable, as its
    # (commit position, index in the transaction) is not after the last one seen (no key changes
    # in this test).
    last, fresh = (-1, -1), []
    for e in streamed:
        pair = (lsn(e["source"]["position"]), e["source"]["index"])
        if pair > last:
            last = pair
            fresh.append(e)
    assert len(streamed) - len(fresh) <= 20 + 3  # batch_max_changes, rounded up to whole transactions
    assert {e["source"]["txid"] for e in fresh} == txids
    assert len({(e["source"]["position"], e["source"]["index"]) for e in streamed}) == len(fresh)


def test_sqlite_to_kraft_to_postgres_identical_tables(cluster1: Cluster, postgres: Postgres, tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "shop.db"
    dst_dsn = postgres.create_database("shop_copy")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, stock INTEGER, meta TEXT)")
    for i in range(1, 31):
        db.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (i, f"item {i}", i * 1.25, rng.randint(0, 9), None))
    toml = write_toml(tmp_path / "connectors.toml", [
        {"name": "shop", "class": "sqlite-source", "database": str(path), "tables": ["items"], "topic_prefix": "s."},
        {"name": "shop-pg", "class": "postgres-sink", "dsn": dst_dsn, "topics": ["s.items"], "auto_create": True},
    ])
    worker = WorkerProcess(toml, cluster1.bootstrap, tmp_path / "worker.log")
    with postgres.connect("shop_copy") as dst:
        try:
            for i in range(60):
                db.execute("BEGIN")
                db.execute("UPDATE items SET stock = stock + 1, meta = ? WHERE id = ?", (f"u{i}", rng.randint(1, 30)))
                if i % 7 == 0:
                    db.execute("DELETE FROM items WHERE id = ?", (rng.randint(1, 30),))
                if i % 5 == 0:
                    db.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (100 + i, f"new {i}", 2.5, 1, "new"))
                db.execute("COMMIT")
                if i == 30:
                    # Kill once the copy is under way (not before the worker even started).
                    wait_for(lambda: len(table(dst, "items")) >= 30, 60, "copy under way", interval_s=0.1)
                    worker.kill()
                    worker.stop()
                    worker = WorkerProcess(toml, cluster1.bootstrap, tmp_path / "worker2.log")
            wait_for(lambda: table(dst, "items") == table(db, "items"), 60, "PostgreSQL copy equal to SQLite",
                     interval_s=0.2)
            assert worker.stop() == 0, (tmp_path / "worker2.log").read_text()  # SIGTERM: a clean exit
        finally:
            worker.stop()
    db.close()
