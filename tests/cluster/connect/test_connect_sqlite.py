"""SQLite change capture into kraft and the SQLite sink, against real database files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kraft import Consumer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

from .helpers import running_worker

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def read_events(bootstrap: str, topic: str, n: int) -> list[tuple[dict, dict]]:
    consumer = Consumer(bootstrap)
    got: list[tuple[dict, dict]] = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()

        def enough() -> bool:
            got.extend((json.loads(r.key), json.loads(r.value)) for r in consumer.poll(timeout_ms=200))
            return len(got) >= n

        wait_for(enough, 30, f"{n} events on {topic}")
        got.extend((json.loads(r.key), json.loads(r.value)) for r in consumer.poll(timeout_ms=300))
    finally:
        consumer.close()
    return got


def test_sqlite_changes_in_commit_order_with_snapshot_and_sink(cluster1: Cluster, tmp_path: Path) -> None:
    src, dst = tmp_path / "shop.db", tmp_path / "copy.db"
    db = sqlite3.connect(src, isolation_level=None)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER, price REAL)")
    db.execute("INSERT INTO orders VALUES (1, 'apple', 3, 0.5)")
    connectors = [
        {"name": "shop-db", "class": "sqlite-source", "database": str(src), "tables": ["orders"],
         "topic_prefix": "shop."},
        {"name": "shop-copy", "class": "sqlite-sink", "database": str(dst), "topics": ["shop.orders"],
         "auto_create": True},
        # Transforms on a sink: only inserts, without the price, item renamed.
        {"name": "new-orders", "class": "file-sink", "file": str(tmp_path / "new.jsonl"), "topics": ["shop.orders"],
         "transforms": [{"type": "filter", "ops": ["c"]}, {"type": "drop", "fields": ["price"]},
                        {"type": "rename", "renames": {"item": "product"}}]},
    ]
    with running_worker(cluster1.bootstrap, connectors) as worker:
        # Capture starts with the snapshot; changes made before the triggers exist are in it.
        wait_for(lambda: worker.statuses()[0]["records"] >= 1, 30, "snapshot delivered")
        db.execute("BEGIN")
        db.execute("INSERT INTO orders VALUES (2, 'pear', 1, 0.75)")
        db.execute("UPDATE orders SET qty = 4 WHERE id = 1")
        db.execute("COMMIT")
        db.execute("BEGIN")
        db.execute("INSERT INTO orders VALUES (9, 'rolled back', 0, 0)")
        db.execute("ROLLBACK")
        db.execute("DELETE FROM orders WHERE id = 2")
        db.execute("UPDATE orders SET id = 7 WHERE id = 1")  # a key change: delete + create
        events = read_events(cluster1.bootstrap, "shop.orders", 6)
        assert [(k, v["op"]) for k, v in events] == [
            ({"id": 1}, "r"), ({"id": 2}, "c"), ({"id": 1}, "u"), ({"id": 2}, "d"), ({"id": 1}, "d"),
            ({"id": 7}, "c")]
        snap, ins, upd, dele = (v for _, v in events[:4])
        assert snap["after"] == {"id": 1, "item": "apple", "qty": 3, "price": 0.5} and snap["source"]["snapshot"]
        assert ins["before"] is None and ins["after"] == {"id": 2, "item": "pear", "qty": 1, "price": 0.75}
        assert upd["before"]["qty"] == 3 and upd["after"]["qty"] == 4
        assert dele["before"]["item"] == "pear" and dele["after"] is None
        positions = [v["source"]["position"] for _, v in events[1:]]
        assert positions == sorted(positions) and all(v["source"]["table"] == "orders" for _, v in events)
        assert all(isinstance(v["source"]["ts_ms"], int) for _, v in events[1:])

        def copied() -> bool:
            if not dst.exists():
                return False
            try:
                with sqlite3.connect(dst) as c:
                    return c.execute("SELECT * FROM orders ORDER BY id").fetchall() == \
                        db.execute("SELECT * FROM orders ORDER BY id").fetchall()
            except sqlite3.OperationalError:
                return False

        wait_for(copied, 30, "sink table equal to the source table")
        created = wait_for(lambda: [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
                           if (tmp_path / "new.jsonl").exists() and
                           len((tmp_path / "new.jsonl").read_text().splitlines()) >= 2 else None,
                           30, "transformed inserts written")
        assert [(e["op"], e["after"]) for e in created] == [
            ("c", {"id": 2, "product": "pear", "qty": 1}), ("c", {"id": 7, "product": "apple", "qty": 4})]
    # Acknowledged change rows are pruned from the change table.
    assert db.execute("SELECT count(*) FROM _kraft_changes").fetchone()[0] == 0
    db.close()
