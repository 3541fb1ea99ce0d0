"""The part of the SQLite and PostgreSQL sinks that does not depend on the database: turning
records into ordered upserts and deletes by key, creating and widening tables from the data.

Idempotent by construction: an upsert sets a row to the record's image and a delete removes the
key, so applying a batch again (a replay after a crash) leaves the table as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api import SinkRecord, SinkTask
from ..envelope import decode_json, row_change
from ..fields import Field, non_empty

SINK_FIELDS = (
    Field("topics", list, doc="topics to read", check=non_empty),
    Field("table", str, "", "target table for every record (default: the change event's source table, "
                            "else the topic with '.' and '-' as '_')"),
    Field("primary_key", list, [], "key columns when records have no JSON key"),
    Field("auto_create", bool, False, "create missing tables (and add missing columns) from the records"),
    Field("delete_enabled", bool, True, "apply deletes and tombstones (else skip them)"),
)


@dataclass(slots=True)
class RowOp:
    action: str  # "upsert" | "delete"
    table: str
    key: dict[str, Any]
    row: dict[str, Any] | None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def target_table(config: Mapping[str, Any], record: SinkRecord, value: Any) -> str:
    if config["table"]:
        return str(config["table"])
    if isinstance(value, dict) and isinstance(value.get("source"), dict) and value["source"].get("table"):
        return str(value["source"]["table"])
    return record.topic.replace(".", "_").replace("-", "_")


def to_row_ops(config: Mapping[str, Any], records: Sequence[SinkRecord]) -> list[RowOp]:
    out = []
    for r in records:
        value = decode_json(r.value)
        action, key, row = row_change(r.key, value)
        if not key:
            source = row or {}
            pk = config["primary_key"]
            if not pk:
                raise ValueError(f"record {r.topic}/{r.partition}@{r.offset} has no JSON key and the sink has "
                                 "no primary_key")
            key = {c: source.get(c) for c in pk}
        if action == "delete" and not config["delete_enabled"]:
            continue
        table = target_table(config, r, value)
        if action == "upsert":
            row = {**(row or {}), **{k: v for k, v in key.items() if k not in (row or {})}}
        out.append(RowOp(action, table, key, row if action == "upsert" else None))
    return out


def sql_value(value: Any) -> Any:
    """Nested JSON goes into a text (or jsonb) column as its JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


class RelationalSinkTask(SinkTask):
    """Subclasses give the connection, the SQL types and how to list a table's columns."""

    placeholder = "?"

    def start(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.columns: dict[str, list[str]] = {}  # table -> known columns (cache)
        self.connect()

    # --- dialect hooks ----------------------------------------------------------------------------

    def connect(self) -> None:
        raise NotImplementedError

    def table_columns(self, table: str) -> list[str]:
        """Columns of ``table`` in the target, [] when it does not exist."""
        raise NotImplementedError

    def sql_type(self, value: Any) -> str:
        raise NotImplementedError

    def execute(self, sql: str, rows: list[list[Any]]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()  # an uncommitted batch rolls back; the worker re-delivers it

    def adapt_columns(self, table: str, rows: list[dict[str, Any]]) -> None:
        """With ``auto_create``, change column types the first record could not know (a column
        created from a null, an integer column given a fraction) before ``rows`` are written."""

    # --- the work ---------------------------------------------------------------------------------

    def put(self, records: list[SinkRecord]) -> None:
        ops = to_row_ops(self.config, records)
        i = 0
        while i < len(ops):
            # Consecutive operations of one shape run as one executemany; order across shapes is kept.
            first = ops[i]
            shape = (first.action, first.table, tuple(first.row or first.key))
            j = i + 1
            while j < len(ops) and (ops[j].action, ops[j].table, tuple(ops[j].row or ops[j].key)) == shape:
                j += 1
            self._apply(ops[i:j])
            i = j

    def _apply(self, ops: list[RowOp]) -> None:
        first = ops[0]
        if not self._ensure_table(first):
            return  # deletes for a table that was never created: nothing to delete
        q = self.placeholder
        if first.action == "delete":
            where = " AND ".join(f"{quote(c)} = {q}" for c in first.key)
            self.execute(f"DELETE FROM {quote(first.table)} WHERE {where}",
                         [[sql_value(v) for v in op.key.values()] for op in ops])
            return
        assert first.row is not None
        if self.config["auto_create"]:
            self.adapt_columns(first.table, [op.row for op in ops if op.row is not None])
        cols = list(first.row)
        updates = [c for c in cols if c not in first.key]
        conflict = ", ".join(quote(c) for c in first.key)
        action = ("DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updates)
                  if updates else "DO NOTHING")
        sql = (f"INSERT INTO {quote(first.table)} ({', '.join(quote(c) for c in cols)}) "
               f"VALUES ({', '.join(q for _ in cols)}) ON CONFLICT ({conflict}) {action}")
        self.execute(sql, [[sql_value(op.row[c]) if op.row else None for c in cols] for op in ops])

    def _ensure_table(self, op: RowOp) -> bool:
        """Create or widen the table as the operation needs; False when a delete finds no table."""
        known = self.columns.get(op.table)
        if known is None:
            known = self.columns[op.table] = self.table_columns(op.table)
        wanted = list(op.row or op.key)
        if not known:
            if not self.config["auto_create"]:
                raise RuntimeError(f"table {op.table!r} does not exist (auto_create = false)")
            if op.row is None:
                return False
            cols = ", ".join(f"{quote(c)} {self.sql_type(v)}" for c, v in op.row.items())
            pk = ", ".join(quote(c) for c in op.key)
            self.execute(f"CREATE TABLE IF NOT EXISTS {quote(op.table)} ({cols}, PRIMARY KEY ({pk}))", [[]])
            self.columns[op.table] = list(op.row)
            return True
        missing = [c for c in wanted if c not in known]
        if missing:
            if not self.config["auto_create"]:
                raise RuntimeError(f"table {op.table!r} has no column {missing[0]!r} (auto_create = false)")
            for c in missing:
                sample = op.row.get(c) if op.row else None
                self.execute(f"ALTER TABLE {quote(op.table)} ADD COLUMN {quote(c)} {self.sql_type(sample)}", [[]])
                known.append(c)
        return True
