"""Connect API benchmarks: change events/s captured from PostgreSQL into kraft, and rows/s that
the PostgreSQL sink upserts from kraft into PostgreSQL.

Each run uses a fresh database with a table of ``(id bigint primary key, n int, payload text)``
(payload: 100 characters). Capture: the replication slot is created first, then
``BENCH_CONNECT_CHANGES`` rows are inserted (transactions of 500 rows) while no worker runs, then
the timer starts with the worker and stops when the source task has delivered every change to
kraft and stored its offset (its own counter; ``batch_max_changes`` 2000). Sink: a second worker reads that topic (one
partition, RF 3) into another database; timed from its start until every row is committed
(upserts, flushed and the consumer position committed per batch of ``batch_max_records``).
Both run an in-process ``Worker`` against the bench cluster and a throwaway PostgreSQL server
(kraft.testing.postgres_server; needs Debian's postgresql and postgresql-15-wal2json).

Standalone: ``python -m benchmarks.connect`` (a local 3-node cluster; BENCH_RUNS, BENCH_CONNECT_CHANGES).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from kraft.apis.connect import Worker, parse_connectors
from kraft.testing.local_cluster import Cluster, wait_for
from kraft.testing.postgres_server import PostgresServer

CHANGES = int(os.environ.get("BENCH_CONNECT_CHANGES", "20000"))
PAYLOAD = "x" * 100


def _worker(cluster: Cluster, connector: dict[str, Any]) -> Worker:
    return Worker(cluster.bootstrap, parse_connectors({"connector": [connector]}, "bench"))


def _timed_until_delivered(worker: Worker, n: int, timeout_s: float) -> float:
    start = time.perf_counter()
    worker.start()
    try:
        wait_for(lambda: worker.statuses()[0]["records"] >= n, timeout_s, f"{n} records moved", interval_s=0.01)
        return time.perf_counter() - start
    finally:
        worker.stop()


def capture_and_sink(cluster: Cluster, pg: PostgresServer, run: int, n: int) -> tuple[float, float]:
    src, dst = f"bench_src_{run}", f"bench_dst_{run}"
    src_dsn, dst_dsn = pg.create_database(src), pg.create_database(dst)
    slot, topic = f"kraft_bench_{run}", f"pgbench{run}.events"
    with pg.connect(src) as db:
        db.execute("CREATE TABLE events (id bigint PRIMARY KEY, n int NOT NULL, payload text)")
        db.execute("ALTER TABLE events REPLICA IDENTITY FULL")
        db.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
        for first in range(0, n, 500):
            with db.transaction(), db.cursor() as cur:
                cur.executemany("INSERT INTO events VALUES (%s, %s, %s)",
                                [(i, i % 97, PAYLOAD) for i in range(first, min(n, first + 500))])
    source = _worker(cluster, {"name": f"bench-src-{run}", "class": "postgres-source", "dsn": src_dsn,
                               "tables": ["events"], "topic_prefix": f"pgbench{run}.", "slot_name": slot,
                               "snapshot_tables": [], "batch_max_changes": 2000, "topic_replication_factor": 3})
    capture_s = _timed_until_delivered(source, n, 600)
    sink = _worker(cluster, {"name": f"bench-sink-{run}", "class": "postgres-sink", "dsn": dst_dsn,
                             "topics": [topic], "table": "events", "batch_max_records": 2000,
                             "auto_create": True})
    sink_s = _timed_until_delivered(sink, n, 600)
    with pg.connect(dst) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == n
    with pg.connect() as db:
        db.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    return n / capture_s, n / sink_s


def run_connect_benchmarks(cluster: Cluster, runs: int, changes: int = CHANGES) -> dict[str, Any]:
    pg = PostgresServer()
    capture, sink = [], []
    try:
        pg.start()
        for run in range(runs):
            c, s = capture_and_sink(cluster, pg, run, changes)
            capture.append(c)
            sink.append(s)
            print(f"run {run}: connect capture {c:,.0f} changes/s, postgres sink {s:,.0f} rows/s", flush=True)
    finally:
        pg.stop()
    return {"changes": changes, "postgres_capture_changes_per_s": statistics.median(capture),
            "postgres_capture_runs": capture, "postgres_sink_rows_per_s": statistics.median(sink),
            "postgres_sink_runs": sink}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp) / "cluster", 3, fsync="always")
        try:
            cluster.start_all()
            print(run_connect_benchmarks(cluster, int(os.environ.get("BENCH_RUNS", "3"))))
        finally:
            cluster.stop_all()


if __name__ == "__main__":
    main()
