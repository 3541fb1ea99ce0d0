"""Streams API benchmarks: records/s of a stateless map/filter app and of the word count, with
100-byte values, on the bench cluster.

Each run fills a fresh input topic (6 partitions) first, then starts one app instance and times
from the moment it owns its tasks: the map/filter app until it has processed every input record;
the word count until its group has committed every input line and every record of its repartition
topic (a commit flushes the record cache, which combines the words of a key into one repartition
record per commit; the run then checks that the stored counts add up to the number of words).
Outputs are flushed and offsets committed every ``commit_interval_ms`` along the way, so this
includes the cost of the at-least-once commits; after the clock stops, the run checks that the
group committed everything. Records/s are input records (lines) per second. The word count's lines
are 100 bytes of words from a 1000-word vocabulary, so its state holds 1000 keys.

Standalone: ``python -m benchmarks.streams`` (a local 3-node cluster; BENCH_RUNS, BENCH_STREAMS_RECORDS,
BENCH_STREAMS_LINES). ``BENCH_AB_WORKLOAD=wordcount make bench-ab BASE=<rev>`` runs the same word
count against another revision, alternating (``benchmarks/ab.py``).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kraft import Admin, Producer
from kraft.apis.streams import Serde, StreamsApp
from kraft.testing.local_cluster import Cluster, wait_for

PARTITIONS = 6
VALUE_BYTES = 100
STREAMS_RECORDS = int(os.environ.get("BENCH_STREAMS_RECORDS", "100000"))
# The word count's lines: enough that the last commit interval (the clock waits for it) stays small
# beside the run.
STREAMS_LINES = int(os.environ.get("BENCH_STREAMS_LINES", "300000"))


def _values(n: int, words: bool, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    if not words:
        return [rng.randbytes(VALUE_BYTES) for _ in range(n)]
    vocabulary = [f"w{i:03d}{rng.choice('abcdefgh') * rng.randint(1, 8)}" for i in range(1000)]
    out = []
    for _ in range(n):
        line = ""
        while len(line) < VALUE_BYTES:
            line += rng.choice(vocabulary) + " "
        out.append(line[:VALUE_BYTES].rsplit(" ", 1)[0].ljust(VALUE_BYTES).encode())
    return out


def _fill(cluster: Cluster, topic: str, values: list[bytes]) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=PARTITIONS)
    cluster.wait_leaders(topic)
    with Producer(cluster.bootstrap, linger_ms=5) as producer:
        send = producer.send
        for i, value in enumerate(values):
            send(topic, value=value, partition=i % PARTITIONS)
        producer.flush()


def _all_committed(admin: Admin, app: StreamsApp, topic: str, n: int) -> bool:
    offsets = admin.describe_group(app.app_id).offsets
    return (sum(o.committed or 0 for o in offsets if o.topic == topic) >= n
            and all(o.committed == o.end_offset for o in offsets))


def _time_app(app: StreamsApp, topic: str, n: int, processed: int | None,
              check: Callable[[], bool] = lambda: True) -> float:
    """Input records per second of ``app``: until it has processed ``processed`` records, or (None)
    until its group has committed every input and internal record (the clock stops at the commit
    that covers the last one)."""
    app.start()
    try:
        app.wait_until_running(120)
        start = time.perf_counter()
        with Admin(app.bootstrap) as admin:
            if processed is not None:
                wait_for(lambda: app.processed >= processed or app.error, 600, f"{processed} records processed",
                         interval_s=0.01)
                elapsed = time.perf_counter() - start
            else:
                wait_for(lambda: app.processed >= n or app.error, 600, f"{n} input records processed",
                         interval_s=0.01)
                wait_for(lambda: app.error or _all_committed(admin, app, topic, n), 600, "every record committed",
                         interval_s=0.02)
                elapsed = time.perf_counter() - start
            wait_for(lambda: app.error or _all_committed(admin, app, topic, n), 60, "every record committed")
            wait_for(lambda: app.error or check(), 60, "the app's result (every word counted once)")
        if app.error is not None:
            raise app.error
    finally:
        app.close()
    return n / elapsed


def stateless_throughput(cluster: Cluster, state_dir: Path, run: int, n: int) -> float:
    topic = f"streams-stateless-in-{run}"
    _fill(cluster, topic, _values(n, words=False, seed=run))
    app = StreamsApp(f"bench-stateless-{run}", cluster.bootstrap, state_dir=state_dir)
    (app.stream(topic)
        .map_values(lambda v: v[::-1])
        .filter(lambda _k, v: v[0] != 0)
        .to(f"streams-stateless-out-{run}"))
    return _time_app(app, topic, n, n)


def word_count_throughput(cluster: Cluster, state_dir: Path, run: int, n: int) -> float:
    topic = f"streams-lines-{run}"
    lines = _values(n, words=True, seed=run)
    _fill(cluster, topic, lines)
    words = sum(len(line.split()) for line in lines)
    app = StreamsApp(f"bench-wordcount-{run}", cluster.bootstrap, state_dir=state_dir)
    (app.stream(topic, value_serde=Serde.str)
        .flat_map_values(str.split)
        .group_by(lambda _k, word: word)
        .count(store="word-counts")
        .to_stream()
        .to(f"streams-word-counts-{run}", value_serde=Serde.int))
    return _time_app(app, topic, n, None, lambda: sum(v for _k, v in app.store("word-counts").all()) == words)


def run_streams_benchmarks(cluster: Cluster, runs: int, records: int = STREAMS_RECORDS,
                           lines: int = STREAMS_LINES) -> dict[str, Any]:
    stateless, wordcount = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            stateless.append(stateless_throughput(cluster, Path(tmp) / "stateless", run, records))
            print(f"run {run}: streams map/filter {stateless[-1]:,.0f} rec/s", flush=True)
            wordcount.append(word_count_throughput(cluster, Path(tmp) / "wordcount", run, lines))
            print(f"run {run}: streams word count {wordcount[-1]:,.0f} lines/s", flush=True)
    return {"records": records, "word_count_lines": lines, "value_bytes": VALUE_BYTES,
            "map_filter_records_per_s": statistics.median(stateless), "map_filter_runs": stateless,
            "word_count_records_per_s": statistics.median(wordcount), "word_count_runs": wordcount}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp) / "cluster", 3, fsync="always")
        try:
            cluster.start_all()
            print(run_streams_benchmarks(cluster, int(os.environ.get("BENCH_RUNS", "3"))))
        finally:
            cluster.stop_all()


if __name__ == "__main__":
    main()
