"""SQLite change capture (source) and upsert sink.

SQLite keeps no change log, so the source makes one. On start it creates, in the captured
database, a change table::

    _kraft_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl, op, before, after, ts_ms)

and per captured table three triggers (AFTER INSERT / UPDATE / DELETE) that append a row with
the JSON images of the changed row (``json_object`` of every column; BLOBs as hex text). Why this
is in commit order: SQLite has one writer at a time, and the triggers run inside the writing
transaction, so the ``seq`` values of a transaction are assigned and committed before any later
transaction can assign one; AUTOINCREMENT never reuses a ``seq``, even after rows are deleted.
Reading ``seq > last`` in ``seq`` order therefore sees every committed change exactly in commit
order, with no gaps appearing later. Changes made while no worker runs are captured all the same
(the triggers live in the database). A rolled-back transaction leaves no change rows.

The optional initial snapshot is read in one read transaction that first takes ``max(seq)``:
rows as of that point (``op`` r) followed by changes after it is a consistent history.
Triggers are recreated when a table's columns change: at start, and while running at the next
poll after ``PRAGMA schema_version`` moved (changes written between the ``ALTER TABLE`` and that
poll lack the new column). SQLite refuses ``DROP COLUMN`` of a column a trigger names; ``INSERT OR
REPLACE`` deletes a conflicting row without firing delete triggers unless the writer enabled
``recursive_triggers`` (a row removed through a UNIQUE conflict on another column is then not
captured). Acknowledged change rows are deleted (``prune = true``), so use one source connector
(or one ``change_table``) per database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping
from typing import Any, ClassVar

from ..api import SinkConnector, SourceConnector, SourceRecord, SourceTask
from ..envelope import change_event, key_of
from ..fields import Field, non_empty, positive
from .relational import SINK_FIELDS, RelationalSinkTask, quote

_NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"


def table_info(conn: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    """(columns, primary-key columns in key order) of ``table``; ([], []) if it does not exist."""
    info = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    columns = [r[1] for r in info]
    pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    return columns, pk


def _image(columns: list[str], alias: str) -> str:
    parts = []
    for c in columns:
        ref = f"{alias}.{quote(c)}"
        parts.append(f"'{c.replace(chr(39), chr(39) * 2)}', "
                     f"CASE WHEN typeof({ref}) = 'blob' THEN hex({ref}) ELSE {ref} END")
    return f"json_object({', '.join(parts)})"


def install_capture(conn: sqlite3.Connection, change_table: str, table: str, columns: list[str]) -> None:
    """Create the change table and ``table``'s triggers for exactly ``columns`` (idempotent)."""
    ct = quote(change_table)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {ct} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, "
                 "op TEXT NOT NULL, before TEXT, after TEXT, ts_ms INTEGER NOT NULL)")
    digest = hashlib.sha1("\0".join(columns).encode()).hexdigest()[:10]
    prefix = f"{change_table}_{table}_"
    wanted = {f"{prefix}{op}_{digest}" for op in ("ins", "upd", "del")}
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                                           (table,)) if r[0].startswith(prefix)}
    for stale in existing - wanted:
        conn.execute(f"DROP TRIGGER {quote(stale)}")
    name = table.replace("'", "''")
    body = {
        "ins": ("INSERT", f"'c', NULL, {_image(columns, 'NEW')}"),
        "upd": ("UPDATE", f"'u', {_image(columns, 'OLD')}, {_image(columns, 'NEW')}"),
        "del": ("DELETE", f"'d', {_image(columns, 'OLD')}, NULL"),
    }
    for op, (event, values) in body.items():
        trigger = quote(prefix + op + "_" + digest)
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON {quote(table)} BEGIN "
                     f"INSERT INTO {ct} (tbl, op, before, after, ts_ms) VALUES ('{name}', {values}, {_NOW_MS}); END")


class SqliteSourceTask(SourceTask):
    def start(self, config: Mapping[str, Any]) -> None:
        self.name = config["_connector"]
        self.path = os.path.abspath(config["database"])
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"SQLite database {self.path} does not exist")
        self.tables: list[str] = list(config["tables"])
        self.prefix = config["topic_prefix"]
        self.batch = config["batch_max_changes"]
        self.change_table = config["change_table"]
        self.prune = config["prune"]
        self.partition = {"database": self.path}
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.pks: dict[str, list[str]] = {}
        self.schema_version = -1
        self._install()
        stored = self.context.offset(self.partition)
        self.seq = int(stored["seq"]) if stored else 0
        self.pending: list[SourceRecord] = []
        snap_tables = self.tables if config["snapshot_tables"] is None else list(config["snapshot_tables"])
        if snap_tables and (stored is None or stored.get("snapshot")):
            self.pending = self._snapshot([t for t in self.tables if t in snap_tables])

    def _install(self) -> None:
        """(Re)create the triggers of every captured table for its current columns, in one write
        transaction, and remember the schema version they match."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for t in self.tables:
                columns, pk = table_info(self.conn, t)
                if not columns:
                    raise ValueError(f"table {t!r} does not exist in {self.path}")
                if not pk:
                    raise ValueError(f"table {t!r} has no primary key (change events are keyed by it)")
                self.pks[t] = pk
                install_capture(self.conn, self.change_table, t, columns)
            # Read inside the write transaction: no other writer can move it before COMMIT.
            version = self.conn.execute("PRAGMA schema_version").fetchone()[0]
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.schema_version = version

    def _source(self, table: str, position: int, ts_ms: int | None, snapshot: bool) -> dict[str, Any]:
        return {"connector": "sqlite", "name": self.name, "db": self.path, "schema": None, "table": table,
                "position": position, "index": None, "lsn": None, "txid": None, "ts_ms": ts_ms, "snapshot": snapshot}

    def _snapshot(self, tables: list[str]) -> list[SourceRecord]:
        """The rows of ``tables`` as of one read transaction, then the position it saw.

        Read whole at start inside a short transaction (not streamed across polls): a read
        transaction held open would block every writer of a database not in WAL mode."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN")
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (self.change_table,)).fetchone()
            upto = int(row[0]) if row else 0
            images: list[tuple[str, dict[str, Any]]] = []
            for t in tables:
                cur = conn.execute(f"SELECT * FROM {quote(t)}")
                cols = [d[0] for d in cur.description]
                images += [(t, {c: (v.hex().upper() if isinstance(v, bytes) else v)
                                for c, v in zip(cols, values, strict=True)}) for values in cur]
            conn.execute("COMMIT")
        finally:
            conn.close()
        self.seq = upto
        out = []
        for i, (t, image) in enumerate(images):
            event = change_event("r", None, image, self._source(t, upto, None, True))
            # Until the last row is acknowledged a restart redoes the snapshot (at-least-once).
            offset = {"seq": upto} if i == len(images) - 1 else {"seq": upto, "snapshot": True}
            out.append(SourceRecord(self.partition, offset, self.prefix + t, event, key_of(image, self.pks[t])))
        return out

    def poll(self) -> list[SourceRecord]:
        if self.pending:
            out, self.pending = self.pending[: self.batch], self.pending[self.batch:]
            return out
        if self.conn.execute("PRAGMA schema_version").fetchone()[0] != self.schema_version:
            # A table changed (a column added or renamed) while we run: triggers for the new
            # columns. Rows written between the ALTER and now were captured with the old ones.
            self._install()
        rows = self.conn.execute(
            f"SELECT seq, tbl, op, before, after, ts_ms FROM {quote(self.change_table)} WHERE seq > ? "
            f"ORDER BY seq LIMIT ?", (self.seq, self.batch)).fetchall()
        out = []
        for seq, table, op, before, after, ts_ms in rows:
            self.seq = seq
            if table not in self.pks:
                continue  # another table's trigger (a wider capture set of an earlier config)
            out.extend(self._events(table, seq, op, before, after, ts_ms))
        return out

    def _events(self, table: str, seq: int, op: str, before_json: str | None, after_json: str | None,
                ts_ms: int) -> list[SourceRecord]:
        before = json.loads(before_json) if before_json else None
        after = json.loads(after_json) if after_json else None
        pk = self.pks[table]
        source = self._source(table, seq, ts_ms, False)
        offset = {"seq": seq}
        topic = self.prefix + table
        if op == "u" and before is not None and after is not None and key_of(before, pk) != key_of(after, pk):
            # The key changed: as Debezium, a delete of the old key and a create of the new one.
            return [SourceRecord(self.partition, offset, topic, change_event("d", before, None, source),
                                 key_of(before, pk)),
                    SourceRecord(self.partition, offset, topic, change_event("c", None, after, source),
                                 key_of(after, pk))]
        row = after if after is not None else before
        assert row is not None
        return [SourceRecord(self.partition, offset, topic, change_event(op, before, after, source), key_of(row, pk))]

    def commit(self, offsets: Mapping[str, dict[str, Any]]) -> None:
        if not self.prune:
            return
        done = max((int(o["seq"]) for o in offsets.values() if not o.get("snapshot")), default=0)
        if done:
            self.conn.execute(f"DELETE FROM {quote(self.change_table)} WHERE seq <= ?", (done,))

    def stop(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()


class SqliteSourceConnector(SourceConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("database", str, doc="path of the SQLite database file", check=non_empty),
        Field("tables", list, doc="tables to capture", check=non_empty),
        Field("topic_prefix", str, "", "changes of table T go to topic <topic_prefix>T"),
        Field("snapshot_tables", list, None, "tables whose existing rows are emitted first as op r "
                                             "(default: all captured tables; [] for none)"),
        Field("batch_max_changes", int, 1000, check=positive),
        Field("change_table", str, "_kraft_changes", "the change table the triggers write", check=non_empty),
        Field("prune", bool, True, "delete change rows once acknowledged"),
    )
    task_class = SqliteSourceTask

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> str | None:
        extra = [t for t in config["snapshot_tables"] or [] if t not in config["tables"]]
        return f"field 'snapshot_tables': {extra[0]!r} is not in tables {config['tables']}" if extra else None

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        # One task: commit order is a single sequence, which one reader keeps.
        return [{**self.config, "_connector": self.name}]

    def topics(self) -> list[str]:
        return [self.config["topic_prefix"] + t for t in self.config["tables"]]


class SqliteSinkTask(RelationalSinkTask):
    def connect(self) -> None:
        self.conn = sqlite3.connect(self.config["database"], isolation_level=None, timeout=5)
        self.in_tx = False

    def table_columns(self, table: str) -> list[str]:
        return table_info(self.conn, table)[0]

    def sql_type(self, value: Any) -> str:
        if isinstance(value, (bool, int)):
            return "INTEGER"
        if isinstance(value, float):
            return "REAL"
        if value is None:
            return ""  # no affinity: a TEXT column would turn the numbers that come later into text
        return "TEXT"

    def execute(self, sql: str, rows: list[list[Any]]) -> None:
        if not self.in_tx:
            self.conn.execute("BEGIN IMMEDIATE")
            self.in_tx = True
        if rows == [[]]:
            self.conn.execute(sql)  # DDL: executemany takes DML only
        else:
            self.conn.executemany(sql, rows)

    def flush(self) -> None:
        if self.in_tx:
            self.conn.execute("COMMIT")
            self.in_tx = False


class SqliteSinkConnector(SinkConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("database", str, doc="path of the SQLite database file (created if missing)", check=non_empty),
        *SINK_FIELDS,
    )
    task_class = SqliteSinkTask
