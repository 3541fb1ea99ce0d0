"""The change-event envelope shared by the database sources and sinks.

A change event is a kraft record whose

* **key** is the row's primary key as a JSON object, columns in primary-key order, e.g.
  ``{"id":42}`` (compact separators, UTF-8);
* **value** is a JSON object::

      {"op": "c" | "u" | "d" | "r",        # create, update, delete, read (snapshot)
       "before": {...} | null,             # row before the change (null for c and r)
       "after":  {...} | null,             # row after the change (null for d)
       "source": {"connector": "sqlite" | "postgres", "name": <connector name>,
                  "db": <database>, "schema": <schema or null>, "table": <table>,
                  "position": <SQLite change seq, or PostgreSQL commit LSN string>,
                  "index": <PostgreSQL: the change's number in its transaction, or null>,
                  "lsn": <PostgreSQL LSN of the change itself, or null>, "txid": <int or null>,
                  "ts_ms": <PostgreSQL commit time / SQLite statement time, ms since the epoch,
                            or null>, "snapshot": <bool>},
       "ts_ms": <when the connector made the event, ms>}

Sinks treat a record with a null value (a tombstone) like a ``d`` event for its key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

OPS = ("c", "u", "d", "r")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def key_of(row: Mapping[str, Any], primary_key: Sequence[str]) -> dict[str, Any]:
    return {col: row.get(col) for col in primary_key}


def change_event(op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                 source: Mapping[str, Any], ts_ms: int | None = None) -> dict[str, Any]:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    return {"op": op, "before": None if before is None else dict(before),
            "after": None if after is None else dict(after), "source": dict(source),
            "ts_ms": int(time.time() * 1000) if ts_ms is None else ts_ms}


def decode_json(data: Any) -> Any:
    if data is None or isinstance(data, (dict, list)):
        return data
    if isinstance(data, (bytes, bytearray)):
        data = data.decode()
    return json.loads(data)


def row_change(key: Any, value: Any) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """What a sink applies for one record: ``("upsert", key, row)`` or ``("delete", key, before)``.

    ``value`` is a change envelope, or a plain JSON object (taken as the row, upserted), or None
    (a tombstone: delete). ``key`` is the JSON key object ({} when the record has none: the sink
    then takes its configured key columns from the row, or from ``before`` of a delete)."""
    k = decode_json(key)
    v = decode_json(value)
    if k is not None and not isinstance(k, dict):
        raise ValueError(f"record key must be a JSON object of key columns, got {k!r}")
    k = k or {}
    if v is None:
        return "delete", k, None
    if not isinstance(v, dict):
        raise ValueError(f"record value must be a JSON object, got {type(v).__name__}")
    if "op" in v and ("after" in v or "before" in v):
        if v["op"] == "d":
            return "delete", k, v.get("before")
        after = v.get("after")
        if not isinstance(after, dict):
            raise ValueError(f"change event {v['op']!r} without an 'after' row")
        return "upsert", k, after
    return "upsert", k, v


def to_bytes(data: Any) -> bytes | None:
    """How source keys and values go on the wire: bytes as they are, str as UTF-8, None as a
    null, anything else as compact JSON."""
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return dumps(data)
