"""PostgreSQL change capture through logical decoding (wal2json), and the upsert sink.

Source: a logical replication slot with the ``wal2json`` output plugin (format version 2), read
through the SQL interface: ``pg_logical_slot_peek_changes`` returns whole transactions in commit
order; each transaction's events are delivered together in one batch, tagged with the LSN of its
commit. Only after kraft acknowledged them and the worker stored that LSN as the source offset
(``commit``) is the slot advanced (``pg_replication_slot_advance``), so PostgreSQL keeps the WAL
of everything not yet acknowledged: a crash loses nothing, and on restart transactions at or
below the stored LSN are skipped. What no source can skip is a batch kraft acknowledged but whose
offset was not stored when the worker died: it is delivered again (at-least-once; kraft has no
transactions to make the two one write). Each event's ``source`` carries ``position`` (commit
LSN) and ``index`` (the change's number within its transaction; the change's own ``lsn`` is not
unique: COPY writes many rows in one WAL record); the pair increases strictly from event to event
of a table (a key change's ``d`` and ``c`` share it, in that order), so a consumer can drop such
re-deliveries exactly, and the upsert sinks need not: replaying them leaves the same table.

wal2json was chosen over pgoutput because it decodes values to JSON (numbers, booleans, text)
and over test_decoding because its output is unambiguous to parse; Debian ships it as
``postgresql-15-wal2json``. Before images of updates and deletes need ``REPLICA IDENTITY FULL``,
which the connector sets on its tables (``replica_identity_full = true``, the default).

The initial snapshot (optional per table) reads the tables in a REPEATABLE READ transaction
taken after the slot exists and remembers that transaction's snapshot (xmax and in-progress
xids) and the WAL position just after it: decoded transactions already visible to the snapshot
are skipped, so the snapshot plus the stream is exact. A transaction committed past that position
cannot be visible, so the check (and its 32-bit xid arithmetic) ends there. Needs
``wal_level = logical`` and a role with REPLICATION (or superuser).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from ..api import SinkConnector, SourceConnector, SourceRecord, SourceTask
from ..envelope import change_event, key_of
from ..fields import Field, non_empty, positive
from .relational import SINK_FIELDS, RelationalSinkTask, quote

log = logging.getLogger(__name__)
_XID_MOD = 1 << 32  # wal2json reports 32-bit xids; pg_current_snapshot() 64-bit ones


def lsn_int(lsn: str) -> int:
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_str(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _ts_ms(text: str | None) -> int | None:
    if not text:
        return None
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _image(columns: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if columns is None:
        return None
    return {c["name"]: c.get("value") for c in columns}


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("the PostgreSQL connectors need psycopg: pip install 'kraft[postgres]'") from None
    return psycopg


def slot_name_for(connector: str) -> str:
    return "kraft_" + re.sub(r"[^a-z0-9_]", "_", connector.lower())


class PostgresSourceTask(SourceTask):
    def start(self, config: Mapping[str, Any]) -> None:
        psycopg = _import_psycopg()
        self.name = config["_connector"]
        self.slot = config["slot_name"] or slot_name_for(self.name)
        self.prefix = config["topic_prefix"]
        self.batch = config["batch_max_changes"]
        self.conn = psycopg.connect(config["dsn"], autocommit=True, connect_timeout=10)
        self.db = self.conn.info.dbname
        self.tables: dict[tuple[str, str], list[str]] = {}  # (schema, table) -> primary key
        for spec in config["tables"]:
            schema, _, table = spec.rpartition(".")
            schema = schema or "public"
            pk = [r[0] for r in self.conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)", (f"{quote(schema)}.{quote(table)}",))]
            if not pk:
                raise ValueError(f"table {schema}.{table} has no primary key (change events are keyed by it)")
            self.tables[(schema, table)] = pk
            relation = f"{quote(schema)}.{quote(table)}"
            identity = self.conn.execute("SELECT relreplident FROM pg_class WHERE oid = %s::regclass",
                                         (relation,)).fetchone()[0]
            if config["replica_identity_full"] and identity != "f":
                # Only when needed: ALTER TABLE waits for an exclusive lock behind every writer.
                self.conn.execute(f"ALTER TABLE {relation} REPLICA IDENTITY FULL")
        self.partition = {"database": self.db, "slot": self.slot}
        stored = self.context.offset(self.partition)
        exists = self.conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                                   (self.slot,)).fetchone()
        if not exists:
            self.conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (self.slot,))
        self.acked = lsn_int(stored["lsn"]) if stored and stored.get("lsn") else 0
        confirmed = self.conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                                      "WHERE slot_name = %s", (self.slot,)).fetchone()[0]
        self.slot_lsn = lsn_int(confirmed) if confirmed else 0
        if self.acked > self.slot_lsn:
            # The last run stored its offset but died before advancing the slot: catch the slot up,
            # or every peek would return the same already-delivered transactions.
            self._advance(self.acked)
        self.visible = stored.get("snapshot_visible") if stored else None
        self.pending: list[SourceRecord] = []
        snap = [t for t in self.tables if config["snapshot_tables"] is None
                or f"{t[0]}.{t[1]}" in config["snapshot_tables"] or t[1] in config["snapshot_tables"]]
        if snap and (stored is None or stored.get("snapshot")):
            self.pending = self._snapshot(snap, config["dsn"], psycopg)
        self.options = ["format-version", "2", "include-transaction", "true", "include-timestamp", "true",
                        "add-tables", ",".join(f"{s}.{t}" for s, t in self.tables),
                        # No logical messages (pg_logical_emit_message): a run of non-transactional
                        # ones has no commit to advance the slot past and would fill every peek.
                        "add-msg-prefixes", "_kraft_connect_takes_no_messages"]

    def _snapshot(self, tables: list[tuple[str, str]], dsn: str, psycopg: Any) -> list[SourceRecord]:
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            snapshot = conn.execute("SELECT pg_snapshot_xmax(s)::text, "
                                    "ARRAY(SELECT x::text FROM pg_snapshot_xip(s) x) "
                                    "FROM pg_current_snapshot() s").fetchone()
            xmax, xip = int(snapshot[0]) % _XID_MOD, sorted({int(x) % _XID_MOD for x in snapshot[1]})
            self.visible = {"xmax": xmax, "xip": xip}
            # Taken after the snapshot: a transaction visible to it committed before this position.
            lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            self.visible["lsn"] = lsn_int(lsn)
            out = []
            for schema, table in tables:
                cur = conn.execute(f"SELECT row_to_json(t) FROM {quote(schema)}.{quote(table)} t")
                for (row,) in cur:
                    source = self._source(schema, table, lsn, None, None, True)
                    out.append(SourceRecord(self.partition, {"lsn": None, "snapshot": True,
                                                             "snapshot_visible": self.visible},
                                            self.prefix + table, change_event("r", None, row, source),
                                            key_of(row, self.tables[(schema, table)])))
        if out:
            out[-1].source_offset = {"lsn": None, "snapshot_visible": self.visible}
        return out

    def _source(self, schema: str, table: str, lsn: str, txid: int | None, ts_ms: int | None,
                snapshot: bool, index: int | None = None, change_lsn: str | None = None) -> dict[str, Any]:
        return {"connector": "postgres", "name": self.name, "db": self.db, "schema": schema, "table": table,
                "position": lsn, "index": index, "lsn": change_lsn, "txid": txid, "ts_ms": ts_ms,
                "snapshot": snapshot}

    def _in_snapshot(self, xid: int | None, commit: int) -> bool:
        """Whether the transaction ``xid`` committed at ``commit`` is already in the snapshot."""
        v = self.visible
        if not v or xid is None or commit > v.get("lsn", commit):
            return False
        return xid % _XID_MOD < v["xmax"] and xid % _XID_MOD not in v["xip"]

    def poll(self) -> list[SourceRecord]:
        if self.pending:
            ready, self.pending = self.pending[: self.batch], self.pending[self.batch:]
            return ready
        rows = self.conn.execute("SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_changes(%s, NULL, %s, "
                                 + ", ".join("%s" for _ in self.options) + ")",
                                 (self.slot, self.batch, *self.options)).fetchall()
        out: list[SourceRecord] = []
        txn: list[tuple[str, dict[str, Any]]] = []  # (change lsn, change) of the open transaction
        xid, ts_ms, last_commit = None, None, self.acked
        for lsn, row_xid, data in rows:
            change = json.loads(data)
            action = change.get("action")
            if action == "B":
                txn, xid, ts_ms = [], int(row_xid), _ts_ms(change.get("timestamp"))
            elif action in ("I", "U", "D"):
                txn.append((lsn, change))
            elif action == "T" and lsn_int(lsn) > self.acked:
                # As Debezium by default: a TRUNCATE has no row images to send; say so loudly.
                log.warning("connector %s: TRUNCATE of %s.%s at %s is not captured (no change events); "
                            "sinks keep the rows", self.name, change.get("schema"), change.get("table"), lsn)
            elif action == "C":
                commit = lsn_int(lsn)
                last_commit = max(last_commit, commit)
                if commit <= self.acked or self._in_snapshot(xid, commit):
                    continue  # delivered before a restart, or already in the snapshot
                if self.visible and commit > self.visible.get("lsn", commit):
                    self.visible = None  # no later transaction can be in the snapshot: forget it
                out.extend(self._events(txn, lsn, xid, ts_ms))
                txn = []
        if not out and last_commit > self.slot_lsn:
            # Only transactions with nothing to deliver: move the slot past them now (it frees
            # their WAL, and the next peek must not return them again).
            self._advance(last_commit)
        return out

    def _events(self, txn: list[tuple[str, dict[str, Any]]], commit_lsn: str, xid: int | None,
                ts_ms: int | None) -> list[SourceRecord]:
        out = []
        offset: dict[str, Any] = {"lsn": commit_lsn}
        if self.visible:
            offset["snapshot_visible"] = self.visible
        for index, (change_lsn, c) in enumerate(txn):
            schema, table = c["schema"], c["table"]
            pk = self.tables.get((schema, table))
            if pk is None:
                continue
            after = _image(c.get("columns"))
            before = _image(c.get("identity"))
            op = {"I": "c", "U": "u", "D": "d"}[c["action"]]
            source = self._source(schema, table, commit_lsn, xid, ts_ms, False, index, change_lsn)
            topic = self.prefix + table
            if op == "u" and before is not None and after is not None and key_of(before, pk) != key_of(after, pk):
                # The key changed: as Debezium, a delete of the old key and a create of the new one.
                out.append(SourceRecord(self.partition, offset, topic, change_event("d", before, None, source),
                                        key_of(before, pk)))
                out.append(SourceRecord(self.partition, offset, topic, change_event("c", None, after, source),
                                        key_of(after, pk)))
                continue
            row = after if after is not None else before
            assert row is not None
            out.append(SourceRecord(self.partition, offset, topic, change_event(op, before, after, source),
                                    key_of(row, pk)))
        return out

    def _advance(self, lsn: int) -> None:
        self.acked = max(self.acked, lsn)
        self.slot_lsn = max(self.slot_lsn, lsn)
        self.conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, lsn_str(lsn)))

    def commit(self, offsets: Mapping[str, dict[str, Any]]) -> None:
        done = max((lsn_int(o["lsn"]) for o in offsets.values() if o.get("lsn")), default=0)
        if done > self.slot_lsn:
            self._advance(done)

    def stop(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()


class PostgresSourceConnector(SourceConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("dsn", str, doc="libpq connection string, e.g. 'host=127.0.0.1 dbname=shop user=kraft'",
              check=non_empty),
        Field("tables", list, doc="tables to capture (schema.table or table in public)", check=non_empty),
        Field("topic_prefix", str, "", "changes of table T go to topic <topic_prefix>T"),
        Field("slot_name", str, "", "replication slot (default kraft_<connector name>)"),
        Field("snapshot_tables", list, None, "tables whose existing rows are emitted first as op r "
                                             "(default: all captured tables; [] for none)"),
        Field("batch_max_changes", int, 1000, check=positive),
        Field("replica_identity_full", bool, True, "set REPLICA IDENTITY FULL for full before images"),
    )
    task_class = PostgresSourceTask

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> str | None:
        tables = config["tables"]
        names = set(tables) | {t.rpartition(".")[2] for t in tables} | {f"public.{t}" for t in tables if "." not in t}
        extra = [t for t in config["snapshot_tables"] or [] if t not in names]
        return f"field 'snapshot_tables': {extra[0]!r} is not in tables {config['tables']}" if extra else None

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        return [{**self.config, "_connector": self.name}]  # one slot, one commit order, one task

    def topics(self) -> list[str]:
        return [self.config["topic_prefix"] + t.rpartition(".")[2] for t in self.config["tables"]]


class PostgresSinkTask(RelationalSinkTask):
    placeholder = "%s"

    def connect(self) -> None:
        psycopg = _import_psycopg()
        self.conn = psycopg.connect(self.config["dsn"], connect_timeout=10)
        self.types: dict[str, dict[str, str]] = {}  # table -> column -> information_schema data_type
        self.typed: set[tuple[str, str]] = set()  # text columns found holding text: never retyped

    def table_columns(self, table: str) -> list[str]:
        rows = self.conn.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                 "table_name = %s AND table_schema = current_schema() ORDER BY ordinal_position",
                                 (table,)).fetchall()
        self.types[table] = {name: data_type for name, data_type in rows}
        return [r[0] for r in rows]

    def adapt_columns(self, table: str, rows: list[dict[str, Any]]) -> None:
        """A text column created from a null that still holds only nulls takes the type of its
        first value; a bigint column given a fraction becomes double precision (no silent rounding)."""
        if not rows:
            return
        if any(col not in self.types.get(table, {}) for col in rows[0]):
            self.table_columns(table)  # created or widened by this batch: read the types back
        types = self.types[table]
        for col in rows[0]:
            values = [r[col] for r in rows if r.get(col) is not None]
            if not values or col not in types:
                continue
            current, wanted = types[col], self.sql_type(values[0])
            if current == "bigint" and any(isinstance(v, float) and not v.is_integer() for v in values):
                wanted = "double precision"
            elif current != "text" or wanted == "text" or (table, col) in self.typed:
                continue
            elif self.conn.execute(f"SELECT 1 FROM {quote(table)} WHERE {quote(col)} IS NOT NULL LIMIT 1").fetchone():
                self.typed.add((table, col))  # text with values already: it stays text
                continue
            self.conn.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(col)} TYPE {wanted} "
                              f"USING {quote(col)}::{wanted}")
            types[col] = wanted

    def sql_type(self, value: Any) -> str:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "bigint"
        if isinstance(value, float):
            return "double precision"
        if isinstance(value, (dict, list)):
            return "jsonb"
        return "text"

    def execute(self, sql: str, rows: list[list[Any]]) -> None:
        with self.conn.cursor() as cur:
            if rows == [[]]:
                cur.execute(sql)
            else:
                cur.executemany(sql, rows)

    def flush(self) -> None:
        self.conn.commit()


class PostgresSinkConnector(SinkConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("dsn", str, doc="libpq connection string of the target database", check=non_empty),
        *SINK_FIELDS,
    )
    task_class = PostgresSinkTask
