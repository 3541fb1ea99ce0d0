"""Connector and task status, published by workers to a kraft topic (``_connect-status``) so
``kraft connect status`` can read it from anywhere.

One record per task state change or heartbeat: key ``"<connector>/<task>"`` (always: the topic is
compacted, keeping each task's latest status, and refuses records without a key), value JSON::

    {"connector", "task", "kind": "source" | "sink", "class", "state", "worker", "error",
     "restarts", "records", "last_offset", "lag", "updated_ms"}

``state`` is RUNNING, FAILED (waiting to be restarted with backoff; ``error`` says why),
STOPPED or UNASSIGNED. A reader keeps the latest record per key; a task whose worker has been
silent for longer than ``stale_after_ms`` is shown as UNKNOWN (its worker is gone).
"""

from __future__ import annotations

import json
import time
from typing import Any

from kraft.apis import Producer
from kraft.errors import UnknownTopicOrPartition

from .topics import read_to_end

DEFAULT_TOPIC = "_connect-status"


class StatusPublisher:
    def __init__(self, producer: Producer, topic: str = DEFAULT_TOPIC) -> None:
        self._producer = producer
        self._topic = topic

    def publish(self, status: dict[str, Any]) -> None:
        status = {**status, "updated_ms": int(time.time() * 1000)}
        key = f"{status['connector']}/{status['task']}".encode()
        # Best effort: status must never stop the data path; a lost heartbeat is repaired by the next.
        self._producer.send(self._topic, value=json.dumps(status, default=str).encode(), key=key, partition=0)


def read_status(bootstrap: str, topic: str = DEFAULT_TOPIC, stale_after_ms: int = 30000,
                now_ms: int | None = None) -> list[dict[str, Any]]:
    """Latest status of every task, sorted by connector and task."""
    latest: dict[bytes, dict[str, Any]] = {}
    try:
        records = read_to_end(bootstrap, topic)
    except UnknownTopicOrPartition:
        return []  # no worker ever ran against this cluster
    for rec in records:
        if rec.key is not None and rec.value is not None:
            latest[rec.key] = json.loads(rec.value)
    return latest_view(list(latest.values()), stale_after_ms, now_ms)


def latest_view(statuses: list[dict[str, Any]], stale_after_ms: int, now_ms: int | None = None) -> list[dict[str, Any]]:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    out = []
    for s in statuses:
        s = dict(s)
        if s.get("state") in ("RUNNING", "FAILED") and now - int(s.get("updated_ms", 0)) > stale_after_ms:
            s["state"] = "UNKNOWN"
            s["error"] = s.get("error") or f"no heartbeat from worker {s.get('worker')} for {stale_after_ms} ms"
        out.append(s)
    return sorted(out, key=lambda s: (str(s.get("connector")), int(s.get("task", 0))))
