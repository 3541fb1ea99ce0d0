"""PostgreSQL change capture (wal2json logical decoding) and the PostgreSQL sink, on a real server."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kraft import Consumer, TopicPartition
from kraft.apis.connect import SourceTaskContext, read_status
from kraft.apis.connect.connectors.postgres import PostgresSourceConnector, PostgresSourceTask
from kraft.apis.connect.fields import validate
from kraft.testing.local_cluster import Cluster, wait_for

from .conftest import Postgres
from .helpers import running_worker

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def read_events(bootstrap: str, topic: str, n: int, timeout_s: float = 30) -> list[tuple[Any, dict]]:
    consumer = Consumer(bootstrap)
    got: list[tuple[Any, dict]] = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()

        def enough() -> bool:
            got.extend((json.loads(r.key), json.loads(r.value)) for r in consumer.poll(timeout_ms=200))
            return len(got) >= n

        wait_for(enough, timeout_s, f"{n} events on {topic}")
        got.extend((json.loads(r.key), json.loads(r.value)) for r in consumer.poll(timeout_ms=300))
    finally:
        consumer.close()
    return got


def lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return int(high, 16) << 32 | int(low, 16)


def test_postgres_changes_in_commit_order_transactions_together(cluster1: Cluster, postgres: Postgres) -> None:
    dsn = postgres.create_database("shop")
    with postgres.connect("shop") as db:
        db.execute("CREATE TABLE orders (id int PRIMARY KEY, item text, qty int, paid boolean)")
        db.execute("CREATE TABLE other (id int PRIMARY KEY)")
        db.execute("INSERT INTO orders VALUES (1, 'apple', 3, false)")
        connectors = [{"name": "pg", "class": "postgres-source", "dsn": dsn, "tables": ["orders"],
                       "topic_prefix": "pg."}]
        with running_worker(cluster1.bootstrap, connectors) as worker:
            wait_for(lambda: worker.statuses()[0]["records"] >= 1, 30, "snapshot delivered")
            with db.transaction():
                db.execute("INSERT INTO orders VALUES (2, 'pear', 1, false)")
                db.execute("INSERT INTO other VALUES (1)")  # not captured
                db.execute("UPDATE orders SET qty = 4, paid = true WHERE id = 1")
            db.execute("DELETE FROM orders WHERE id = 2")
            db.execute("UPDATE orders SET id = 7 WHERE id = 1")
            events = read_events(cluster1.bootstrap, "pg.orders", 6)
    assert [(k, v["op"]) for k, v in events] == [
        ({"id": 1}, "r"), ({"id": 2}, "c"), ({"id": 1}, "u"), ({"id": 2}, "d"), ({"id": 1}, "d"), ({"id": 7}, "c")]
    snap, ins, upd, dele, _, _ = (v for _, v in events)
    assert snap["after"] == {"id": 1, "item": "apple", "qty": 3, "paid": False} and snap["source"]["snapshot"]
    assert ins["after"] == {"id": 2, "item": "pear", "qty": 1, "paid": False} and ins["before"] is None
    assert upd["before"] == {"id": 1, "item": "apple", "qty": 3, "paid": False}
    assert upd["after"] == {"id": 1, "item": "apple", "qty": 4, "paid": True}
    assert dele["before"]["item"] == "pear" and dele["after"] is None
    # The first transaction's two changes share its commit position and txid; later ones are after it.
    assert ins["source"]["position"] == upd["source"]["position"] and ins["source"]["txid"] == upd["source"]["txid"]
    positions = [int(v["source"]["position"].split("/")[0], 16) << 32 | int(v["source"]["position"].split("/")[1], 16)
                 for _, v in events[1:]]
    assert positions == sorted(positions) and positions[0] < positions[2]
    # (commit position, index in the transaction) increases strictly from event to event (a key
    # change's d and c share it): what a consumer compares to drop re-deliveries after a crash.
    pairs = [(lsn(v["source"]["position"]), v["source"]["index"]) for _, v in events[1:]]
    assert all(a < b for a, b in itertools.pairwise(pairs[:-1])) and pairs[-2] == pairs[-1]
    assert [p[1] for p in pairs] == [0, 1, 0, 0, 0]  # numbered among the captured changes
    assert snap["source"]["index"] is None and isinstance(ins["source"]["lsn"], str)
    assert all(v["source"]["table"] == "orders" and v["source"]["schema"] == "public" for _, v in events)
    assert isinstance(ins["source"]["ts_ms"], int)


def test_sink_retries_while_target_is_down_and_recovers(cluster1: Cluster, postgres: Postgres,
                                                        tmp_path: Path) -> None:
    from kraft import Admin, Producer

    postgres.create_database("target")
    with Admin(cluster1.bootstrap) as admin:
        admin.create_topic("prices", partitions=2, replication_factor=1)
    connectors = [{"name": "prices-pg", "class": "postgres-sink", "dsn": postgres.dsn("target"),
                   "topics": ["prices"], "auto_create": True, "restart_backoff_ms": 100, "restart_backoff_max_ms": 800,
                   "status_interval_ms": 200},
                  # A second connector in the same worker: it must keep going while the first fails.
                  {"name": "prices-sqlite", "class": "sqlite-sink", "database": str(tmp_path / "prices.db"),
                   "topics": ["prices"], "auto_create": True}]

    def send(producer: Producer, first: int, last: int) -> None:
        for i in range(first, last):
            producer.send("prices", key=json.dumps({"sku": i}).encode(),
                          value=json.dumps({"sku": i, "price": i * 10, "tags": ["a", str(i)]}).encode())
        producer.send("prices", key=json.dumps({"sku": first}).encode(), value=None)  # tombstone: delete
        producer.flush()

    def rows(db: Any) -> list[tuple]:
        try:
            return [tuple(r) for r in db.execute("SELECT sku, price, tags FROM prices ORDER BY sku")]
        except Exception:
            return []

    with postgres.connect() as admin_db, Producer(cluster1.bootstrap) as producer, \
            running_worker(cluster1.bootstrap, connectors) as worker:
        send(producer, 0, 20)
        with postgres.connect("target") as target:
            wait_for(lambda: len(rows(target)) == 19, 30, "first batch upserted")
            assert rows(target)[0] == (1, 10, ["a", "1"])  # created from the first record: tags is jsonb
        admin_db.execute("ALTER DATABASE target ALLOW_CONNECTIONS false")
        admin_db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'target'")
        send(producer, 20, 40)
        failed = wait_for(lambda: next((s for s in worker.statuses() if s["state"] == "FAILED"), None), 30,
                          "the sink task failing while its target is down")
        assert "target" in failed["error"] or "connection" in failed["error"].lower()
        wait_for(lambda: worker.statuses()[0]["restarts"] >= 2, 30, "restarts with backoff")
        # The failure is visible from anywhere, through the status topic.
        seen = wait_for(lambda: next((s for s in read_status(cluster1.bootstrap) if s["state"] == "FAILED"), None),
                        30, "FAILED in the status topic", interval_s=0.2)
        assert seen["connector"] == "prices-pg" and seen["error"]
        with sqlite3.connect(tmp_path / "prices.db") as lite:
            wait_for(lambda: lite.execute("SELECT count(*) FROM prices").fetchone()[0] == 38, 30,
                     "the other connector unaffected")
        assert next(s for s in worker.statuses() if s["connector"] == "prices-sqlite")["state"] == "RUNNING"
        admin_db.execute("ALTER DATABASE target ALLOW_CONNECTIONS true")
        with postgres.connect("target") as target:
            wait_for(lambda: len(rows(target)) == 38, 30, "everything upserted after the target came back")
            assert [r[0] for r in rows(target)] == [i for i in range(40) if i not in (0, 20)]
        wait_for(lambda: worker.statuses()[0]["state"] == "RUNNING" and worker.statuses()[0]["error"] is None, 10,
                 "the task healthy again")
        assert worker.statuses()[1]["restarts"] == 0


class StoredOffsets:
    """The worker's offset store, for driving a task directly: offsets by source partition."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    def context(self) -> SourceTaskContext:
        return SourceTaskContext(lambda p: self.stored.get(json.dumps(p, sort_keys=True)))

    def store(self, records: list) -> None:
        for r in records:
            self.stored[json.dumps(r.source_partition, sort_keys=True)] = r.source_offset


def source_task(dsn: str, offsets: StoredOffsets, **extra: Any) -> PostgresSourceTask:
    cfg = validate(PostgresSourceConnector.fields, {"dsn": dsn, "tables": ["public.t"], **extra}, "test")
    task = PostgresSourceTask()
    task.context = offsets.context()
    task.start({**cfg, "_connector": "direct"})
    return task


def test_source_task_resumes_exactly_when_the_slot_was_not_advanced(postgres: Postgres) -> None:
    dsn = postgres.create_database("direct")
    offsets = StoredOffsets()
    with postgres.connect("direct") as db:
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t VALUES (0, 'before the slot')")
        task = source_task(dsn, offsets, snapshot_tables=[], batch_max_changes=4)
        assert task.poll() == []  # no snapshot asked for, nothing changed since the slot exists
        for i in range(1, 6):
            db.execute("INSERT INTO t VALUES (%s, 'v')", (i,))
        first = task.poll()
        assert [r.key for r in first] == [{"id": 1}, {"id": 2}]  # 4 decoded rows: two whole transactions (B, I, C each)
        # The worker stored the offset, then died before the task could advance the slot.
        offsets.store(first)
        task.stop()
        task = source_task(dsn, offsets, snapshot_tables=[], batch_max_changes=4)
        got = []
        while batch := task.poll():
            offsets.store(batch)
            task.commit({"p": batch[-1].source_offset})
            got += [r.key["id"] for r in batch]
        assert got == [3, 4, 5]  # nothing repeated, nothing lost
        task.stop()
        db.execute("UPDATE t SET v = 'x' WHERE id = 5")
        task = source_task(dsn, offsets, snapshot_tables=[])
        (update,) = task.poll()
        assert update.value["op"] == "u" and update.value["before"] == {"id": 5, "v": "v"}
        task.commit({"p": update.source_offset})
        # Non-transactional logical messages (no commit to move the slot past) and a TRUNCATE
        # (not captured) do not stall the stream.
        for _ in range(6):
            db.execute("SELECT pg_logical_emit_message(false, 'heartbeat', 'x')")
        db.execute("TRUNCATE t")
        db.execute("INSERT INTO t VALUES (6, 'after')")
        task.batch = 4
        got = []
        for _ in range(5):
            batch = task.poll()
            got += [r.key["id"] for r in batch]
            if batch:
                task.commit({"p": batch[-1].source_offset})
        assert got == [6]
        task.stop()


def test_snapshot_then_stream_and_the_snapshot_check_ends_after_it(postgres: Postgres) -> None:
    dsn = postgres.create_database("snap")
    offsets = StoredOffsets()
    with postgres.connect("snap") as db:
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t SELECT g, 'old' FROM generate_series(1, 3) g")
        task = source_task(dsn, offsets, batch_max_changes=2, slot_name="kraft_snap")
        db.execute("INSERT INTO t VALUES (4, 'after the snapshot')")
        got = []
        while batch := task.poll():
            offsets.store(batch)
            task.commit({"p": batch[-1].source_offset})
            got += [(r.value["op"], r.key["id"], "snapshot_visible" in r.source_offset) for r in batch]
        # Snapshot rows carry the snapshot's visibility in their offsets (a restart needs it until
        # the stream is past the snapshot); the first change committed after it no longer does.
        assert got == [("r", 1, True), ("r", 2, True), ("r", 3, True), ("c", 4, False)]
        task.stop()
        db.execute("UPDATE t SET v = 'new' WHERE id = 1")
        task = source_task(dsn, offsets, slot_name="kraft_snap")  # no second snapshot, nothing repeated
        assert [(r.value["op"], r.key["id"]) for r in task.poll()] == [("u", 1)]
        task.stop()


def test_sink_types_columns_created_from_nulls_and_widens_integers(postgres: Postgres) -> None:
    from kraft.apis.connect import SinkRecord
    from kraft.apis.connect.connectors.postgres import PostgresSinkConnector, PostgresSinkTask

    dsn = postgres.create_database("typed")
    task = PostgresSinkTask()
    task.start(validate(PostgresSinkConnector.fields, {"dsn": dsn, "topics": ["t"], "table": "items",
                                                       "auto_create": True}, "test"))
    rows = [{"id": 1, "qty": None, "price": 5, "tags": None, "note": "x"},
            {"id": 2, "qty": 3, "price": 5.5, "tags": {"a": 1}, "note": 7}]
    records = [SinkRecord("t", 0, i, json.dumps({"id": r["id"]}).encode(), json.dumps(r).encode(), 0)
               for i, r in enumerate(rows)]
    for _ in range(2):  # a replay changes nothing
        for r in records:  # one record per batch: the table is created from the first alone
            task.put([r])
            task.flush()
    task.stop()
    with postgres.connect("typed") as db:
        types = dict(db.execute("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'items'").fetchall())
        got = db.execute("SELECT id, qty, price, tags, note FROM items ORDER BY id").fetchall()
    assert types == {"id": "bigint", "qty": "bigint", "price": "double precision", "tags": "jsonb", "note": "text"}
    assert got == [(1, None, 5.0, None, "x"), (2, 3, 5.5, {"a": 1}, "7")]
