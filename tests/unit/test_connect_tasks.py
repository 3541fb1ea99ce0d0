"""Connector tasks driven directly (no kraft): file tailing with rotation, SQLite capture in commit
order, the relational sink's idempotent upserts. Real files and real SQLite databases."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kraft.apis.connect import SinkRecord, SourceTaskContext
from kraft.apis.connect.connectors.file import FileSourceConnector, FileSourceTask
from kraft.apis.connect.connectors.sqlite import (
    SqliteSinkConnector,
    SqliteSinkTask,
    SqliteSourceConnector,
    SqliteSourceTask,
)
from kraft.apis.connect.envelope import change_event, to_bytes
from kraft.apis.connect.fields import validate


class Offsets:
    """What the worker's offset store does for a task: remember committed offsets."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    def context(self) -> SourceTaskContext:
        return SourceTaskContext(lambda p: self.stored.get(json.dumps(p, sort_keys=True)))

    def commit(self, records: list) -> None:
        for r in records:
            self.stored[json.dumps(r.source_partition, sort_keys=True)] = r.source_offset


def file_task(path: Path, offsets: Offsets, batch: int = 1000) -> FileSourceTask:
    task = FileSourceTask()
    task.context = offsets.context()
    task.start(validate(FileSourceConnector.fields, {"file": str(path), "topic": "t", "batch_max_lines": batch}, "t"))
    return task


def test_file_source_resumes_by_byte_position_and_follows_rotation(tmp_path: Path) -> None:
    path, offsets = tmp_path / "app.log", Offsets()
    path.write_bytes(b"a\nb\nc")
    task = file_task(path, offsets, batch=1)
    first = task.poll()
    assert [r.value for r in first] == ["a"]
    offsets.commit(first)
    task.stop()
    task = file_task(path, offsets)  # a restart: resumes after "a"
    assert [r.value for r in task.poll()] == ["b"]  # "c" has no newline yet
    with path.open("ab") as f:
        f.write(b"\nd\n")
    records = task.poll()
    assert [r.value for r in records] == ["c", "d"]
    assert records[-1].source_offset["position"] == path.stat().st_size
    with path.open("ab") as f:
        f.write(b"e\n")
    os.rename(path, tmp_path / "app.log.1")
    path.write_bytes(b"f\n")
    assert [r.value for r in task.poll()] == ["e"]  # the rest of the rotated file first
    assert [r.value for r in task.poll()] == ["f"]
    path.write_bytes(b"")  # truncated in place (copytruncate), seen by a poll before new lines arrive
    assert task.poll() == []
    with path.open("ab") as f:
        f.write(b"g\n")
    assert [r.value for r in task.poll()] == ["g"]
    task.stop()


def test_file_source_finishes_a_file_rotated_while_stopped(tmp_path: Path) -> None:
    path, offsets = tmp_path / "app.log", Offsets()
    path.write_bytes(b"a\n")
    task = file_task(path, offsets)
    offsets.commit(task.poll())
    task.stop()
    with path.open("ab") as f:
        f.write(b"b\nc")  # written after the last delivery: "b" complete, "c" never finished
    os.rename(path, tmp_path / "app.log.1")
    path.write_bytes(b"new 1\n")
    task = file_task(path, offsets)
    first = task.poll()
    assert [r.value for r in first] == ["b"]  # the rest of the old file, found by its inode
    offsets.commit(first)
    assert [r.value for r in task.poll()] == ["new 1"]
    assert task.poll() == []
    task.stop()
    # Rotated away and gone (compressed, deleted): the new file from its start, nothing else.
    os.rename(path, tmp_path / "app.log.2")
    os.unlink(tmp_path / "app.log.2")
    path.write_bytes(b"newest\n")
    task = file_task(path, offsets)
    assert [r.value for r in task.poll()] == ["newest"]
    task.stop()


def sqlite_source(path: Path, offsets: Offsets, **extra: Any) -> SqliteSourceTask:
    cfg = validate(SqliteSourceConnector.fields, {"database": str(path), "tables": ["orders"], **extra}, "t")
    task = SqliteSourceTask()
    task.context = offsets.context()
    task.start({**cfg, "_connector": "shop"})
    return task


def drain(task: SqliteSourceTask, offsets: Offsets) -> list[tuple[str, Any, dict]]:
    out = []
    while records := task.poll():
        offsets.commit(records)
        task.commit({"p": records[-1].source_offset})
        out += [(r.value["op"], r.key, r.value) for r in records]
    return out


def test_sqlite_capture_survives_restart_and_captures_changes_made_while_stopped(tmp_path: Path) -> None:
    path, offsets = tmp_path / "shop.db", Offsets()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, data BLOB)")
    db.execute("INSERT INTO orders VALUES (1, 'a', x'00ff')")
    task = sqlite_source(path, offsets, batch_max_changes=2)
    db.execute("INSERT INTO orders VALUES (2, 'b', NULL)")
    got = drain(task, offsets)
    assert [(op, key) for op, key, _ in got] == [("r", {"id": 1}), ("c", {"id": 2})]
    assert got[0][2]["after"] == {"id": 1, "item": "a", "data": "00FF"}
    task.stop()
    # While no task runs: the triggers still record changes.
    db.execute("UPDATE orders SET item = 'bb' WHERE id = 2")
    db.execute("DELETE FROM orders WHERE id = 1")
    db.execute("ALTER TABLE orders ADD COLUMN note TEXT")
    task = sqlite_source(path, offsets)  # no second snapshot: the offset says it was done
    db.execute("INSERT INTO orders VALUES (3, 'c', NULL, 'new column')")
    got = drain(task, offsets)
    assert [(op, key) for op, key, _ in got] == [("u", {"id": 2}), ("d", {"id": 1}), ("c", {"id": 3})]
    assert got[0][2]["before"]["item"] == "b" and got[0][2]["after"]["item"] == "bb"
    assert got[2][2]["after"]["note"] == "new column"  # triggers were recreated for the new column
    assert [e["source"]["position"] for _, _, e in got] == sorted(e["source"]["position"] for _, _, e in got)
    task.stop()
    assert db.execute("SELECT count(*) FROM _kraft_changes").fetchone()[0] == 0  # pruned once committed


def test_sqlite_column_added_while_running_appears_in_later_events(tmp_path: Path) -> None:
    path, offsets = tmp_path / "shop.db", Offsets()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    task = sqlite_source(path, offsets, snapshot_tables=[])
    db.execute("INSERT INTO orders VALUES (1, 'a')")
    assert [e["after"] for _, _, e in drain(task, offsets)] == [{"id": 1, "item": "a"}]
    db.execute("ALTER TABLE orders ADD COLUMN note TEXT")
    assert drain(task, offsets) == []  # this poll sees the new schema and recreates the triggers
    db.execute("INSERT INTO orders VALUES (2, 'b', 'noted')")
    assert [e["after"] for _, _, e in drain(task, offsets)] == [{"id": 2, "item": "b", "note": "noted"}]
    db.execute("ALTER TABLE orders RENAME COLUMN item TO product")
    assert drain(task, offsets) == []
    db.execute("UPDATE orders SET product = 'bb' WHERE id = 2")
    (event,) = [e for _, _, e in drain(task, offsets)]
    assert event["before"] == {"id": 2, "product": "b", "note": "noted"}
    assert event["after"] == {"id": 2, "product": "bb", "note": "noted"}
    task.stop()


def test_sqlite_captures_without_rowid_tables_and_names_a_table_without_primary_key(tmp_path: Path) -> None:
    path, offsets = tmp_path / "shop.db", Offsets()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE orders (region TEXT, n INTEGER, qty INTEGER, PRIMARY KEY (region, n)) WITHOUT ROWID")
    db.execute("CREATE TABLE log (line TEXT)")
    task = sqlite_source(path, offsets, snapshot_tables=[])
    db.execute("INSERT INTO orders VALUES ('eu', 1, 5)")
    db.execute("UPDATE orders SET qty = 6 WHERE region = 'eu'")
    assert [(op, key) for op, key, _ in drain(task, offsets)] == [("c", {"region": "eu", "n": 1}),
                                                                   ("u", {"region": "eu", "n": 1})]
    task.stop()
    with pytest.raises(ValueError, match="table 'log' has no primary key"):
        sqlite_source(path, offsets, tables=["orders", "log"])


def test_sqlite_without_snapshot_starts_from_the_changes(tmp_path: Path) -> None:
    path, offsets = tmp_path / "shop.db", Offsets()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    db.execute("INSERT INTO orders VALUES (1, 'old')")
    task = sqlite_source(path, offsets, snapshot_tables=[])
    db.execute("INSERT INTO orders VALUES (2, 'new')")
    assert [(op, key) for op, key, _ in drain(task, offsets)] == [("c", {"id": 2})]
    task.stop()


def test_sqlite_sink_upserts_deletes_and_replays_idempotently(tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    task = SqliteSinkTask()
    task.start(validate(SqliteSinkConnector.fields, {"database": str(path), "topics": ["shop.orders"],
                                                          "auto_create": True}, "t"))
    src = {"table": "orders"}
    events = [
        ({"id": 1}, change_event("c", None, {"id": 1, "item": "a", "meta": {"x": 1}}, src)),
        ({"id": 2}, change_event("c", None, {"id": 2, "item": "b", "meta": None}, src)),
        ({"id": 1}, change_event("u", {"id": 1}, {"id": 1, "item": "aa", "meta": None, "extra": 5}, src)),
        ({"id": 2}, change_event("d", {"id": 2, "item": "b"}, None, src)),
    ]
    batch = [SinkRecord("shop.orders", 0, i, to_bytes(k), to_bytes(v), 0) for i, (k, v) in enumerate(events)]
    for _ in range(2):  # the second time is a replay after a crash: nothing changes
        task.put(batch)
        task.flush()
        rows = sqlite3.connect(path).execute("SELECT id, item, meta, extra FROM orders ORDER BY id").fetchall()
        assert rows == [(1, "aa", None, 5)]
    task.stop()


def test_sqlite_sink_without_auto_create_names_the_missing_table(tmp_path: Path) -> None:
    task = SqliteSinkTask()
    task.start(validate(SqliteSinkConnector.fields, {"database": str(tmp_path / "x.db"), "topics": ["t"]}, "t"))
    record = SinkRecord("t", 0, 0, b'{"id":1}', b'{"id":1,"v":2}', 0)
    with pytest.raises(RuntimeError, match="table 't' does not exist \\(auto_create = false\\)"):
        task.put([record])
    task.stop()


def test_sqlite_sink_keeps_value_types_of_columns_created_from_nulls(tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    task = SqliteSinkTask()
    task.start(validate(SqliteSinkConnector.fields, {"database": str(path), "topics": ["t"], "table": "items",
                                                          "auto_create": True}, "t"))
    for i, row in enumerate([{"id": 1, "qty": None, "price": 5}, {"id": 2, "qty": 3, "price": 5.5}]):
        task.put([SinkRecord("t", 0, i, to_bytes({"id": row["id"]}), to_bytes(row), 0)])
        task.flush()
    task.stop()
    rows = sqlite3.connect(path).execute("SELECT id, qty, typeof(qty), price FROM items ORDER BY id").fetchall()
    assert rows == [(1, None, "null", 5), (2, 3, "integer", 5.5)]
