"""``make bench-moves``: issue 13's cluster-operation benchmarks on local clusters (127.0.0.1).

Two benchmarks, each runnable alone (``python -m benchmarks.moves move|wipe``):

- **move**: 4 nodes, RF 3, ``fsync = always``. A 1-partition topic is filled with ``--fill-mb`` of
  1 KiB records (idempotent producer: stored batches of up to 1 MiB); then one Python producer sends
  1 KiB records as fast as it can (acks=all, linger 5 ms, 64 KiB batches) to a second topic of 3
  partitions, and its acknowledged records/s are measured over ``--window-s`` with no move
  ("before"), then from the ``reassign_partitions`` call until the move is over ("during": one
  follower of the filled partition replaced by the node that lacks it; over = no reassignment listed,
  the target replicas in place and every one "leader" or "in sync"), then ``--window-s`` again
  ("after"). Figures: the move's time, and throughput during / before (the issue's target: >= 0.7
  with the default throttle). ``--throttle`` runs the whole thing per value of
  ``reassignment_throttle_bytes_per_s`` ("default": the key not set), each on a fresh cluster; the
  bytes the leader sent through the throttle (node status) are recorded too.
- **wipe**: 3 nodes, RF 3, ``--partitions`` partitions (each node holds every one), each filled with
  ``--wipe-kb`` KiB of 1 KiB records. Node 3 is killed (SIGKILL), its data directory deleted, and it is
  started again; the figure is the time from that start until node 3 reports no learner group and
  is not rejoining, and every partition's leader reports it "in sync" (the replica states
  ``kraft cluster status --json`` shows).

Every cluster is stopped in ``finally``. Results go to stdout and ``benchmarks/results/moves-*.json``;
BENCHMARKS.md quotes them with the command. This machine is shared: quote medians and same-run
ratios. Environment: BENCH_RUNS (runs of each figure; the median is quoted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from kraft import Admin, Producer, RecordMetadata
from kraft.testing.local_cluster import Cluster, wait_for

HERE = Path(__file__).resolve().parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MB = 1_000_000
VALUE = os.urandom(1024)
LOAD_PARTITIONS = 3
MAP_SIZE_MB = 65536  # address space for gigabytes of fill (not disk)


def machine() -> str:
    return f"{platform.node()} {os.cpu_count()} cores Python {platform.python_version()}"


def throttle_line(throttle: str) -> str:
    return "" if throttle == "default" else f"reassignment_throttle_bytes_per_s = {int(throttle)}"


@contextlib.contextmanager
def running_cluster(nodes: int, throttle: str, partitions: int = 3) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="kraft-bench-moves-"))
    extra = f"lmdb_map_size_mb = {MAP_SIZE_MB}\n{throttle_line(throttle)}"
    cluster = Cluster(root, nodes, fsync="always", partitions=partitions, extra=extra)
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def fill(cluster: Cluster, topic: str, total_bytes: int, partitions: int) -> float:
    """Write ``total_bytes`` of 1 KiB records spread over ``partitions``; seconds it took."""
    n = total_bytes // len(VALUE)
    with Producer(cluster.bootstrap, acks="all", linger_ms=5, batch_size=65536) as producer:
        start = time.perf_counter()
        for i in range(n):
            producer.send(topic, value=VALUE, partition=i % partitions)
        producer.flush()
        return time.perf_counter() - start


class LoadProducer:
    """One producer sending 1 KiB records as fast as it can; counts acknowledgements (keeps no
    futures: thousands of live futures make the client's garbage collection stall it)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.acked = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _done(self, f: Future[RecordMetadata]) -> None:
        if f.exception() is None:
            self.acked += 1
        else:
            self.failed += 1

    def _run(self) -> None:
        with Producer(self.bootstrap, acks="all", linger_ms=5, batch_size=65536) as producer:
            i = 0
            while not self._stop.is_set():
                producer.send(self.topic, value=VALUE, partition=i % LOAD_PARTITIONS).add_done_callback(self._done)
                i += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def mark(self) -> tuple[float, int]:
        return time.monotonic(), self.acked


def rate(a: tuple[float, int], b: tuple[float, int]) -> float:
    return (b[1] - a[1]) / (b[0] - a[0])


def describe(cluster: Cluster, topic: str) -> Any:
    with Admin(cluster.bootstrap) as admin:
        return admin.describe_topic(topic)


def moved(cluster: Cluster, topic: str, target: list[int]) -> bool:
    with Admin(cluster.bootstrap) as admin:
        if (topic, 0) in admin.list_partition_reassignments():
            return False
        info = admin.describe_topic(topic).partitions[0]
    return list(info.replicas) == target and all(info.replica_states.get(n) in ("leader", "in sync") for n in target)


def throttle_stats(cluster: Cluster, node: int) -> dict[str, int]:
    stats: dict[str, int] = cluster.node_status(node).get("learner_throttle", {})
    return stats


def move_run(throttle: str, fill_mb: float, window_s: float) -> dict[str, Any]:
    with running_cluster(4, throttle) as cluster:
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("big", partitions=1, replication_factor=3)
            admin.create_topic("load", partitions=LOAD_PARTITIONS, replication_factor=3)
        cluster.wait_leaders("big")
        cluster.wait_leaders("load")
        fill_s = fill(cluster, "big", int(fill_mb * MB), 1)
        info = describe(cluster, "big").partitions[0]
        replicas, leader = list(info.replicas), info.leader
        spare = next(n for n in (1, 2, 3, 4) if n not in replicas)
        leaving = next(n for n in reversed(replicas) if n != leader)
        target = [n if n != leaving else spare for n in replicas]
        load = LoadProducer(cluster.bootstrap, "load")
        load.start()
        try:
            wait_for(lambda: load.acked > 1000, 60, "the load producer's first acknowledgements")
            t0 = load.mark()
            time.sleep(window_s)  # a measurement window, not synchronisation
            t1 = load.mark()
            sent_before = throttle_stats(cluster, leader).get("sent_bytes", 0) if leader else 0
            with Admin(cluster.bootstrap) as admin:
                admin.reassign_partitions({("big", 0): target})
            wait_for(lambda: moved(cluster, "big", target), 3600, f"the move to {target}", interval_s=0.2)
            t2 = load.mark()
            stats = throttle_stats(cluster, leader) if leader else {}
            time.sleep(window_s)
            t3 = load.mark()
        finally:
            load.stop()
        before, during, after = rate(t0, t1), rate(t1, t2), rate(t2, t3)
        result = {
            "throttle": throttle, "fill_mb": fill_mb, "fill_s": round(fill_s, 1), "from": replicas,
            "to": target, "move_s": round(t2[0] - t1[0], 2), "before_rps": round(before),
            "during_rps": round(during), "after_rps": round(after), "ratio": round(during / before, 3),
            "ratio_after": round(during / after, 3), "failed": load.failed,
            "throttled_mb": round((stats.get("sent_bytes", 0) - sent_before) / MB, 1),
            "held": stats.get("held", 0), "load": round(os.getloadavg()[0], 1),
        }
        print(f"  {json.dumps(result)}", flush=True)
        return result


def bench_move(args: argparse.Namespace) -> dict[str, Any]:
    throttles = args.throttle.split(",")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in throttles}
    for i in range(args.runs):  # the throttles in turn within each round: same-session comparisons
        for throttle in throttles:
            print(f"move: round {i + 1}, throttle {throttle}", flush=True)
            runs[throttle].append(move_run(throttle, args.fill_mb, args.window_s))
    summary = {t: {"move_s": statistics.median(r["move_s"] for r in rs),
                   "ratio": statistics.median(r["ratio"] for r in rs),
                   "ratio_after": statistics.median(r["ratio_after"] for r in rs),
                   "before_rps": statistics.median(r["before_rps"] for r in rs)} for t, rs in runs.items()}
    for t, s in summary.items():
        print(f"move, throttle {t}: median move {s['move_s']:.1f} s, throughput during/before "
              f"{s['ratio']:.2f} (during/after {s['ratio_after']:.2f}), before {s['before_rps']:,.0f} records/s")
    return {"runs": runs, "summary": summary}


def wipe_run(throttle: str, partitions: int, kb_per_partition: int) -> dict[str, Any]:
    with running_cluster(3, throttle, partitions=partitions) as cluster:
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("many", partitions=partitions, replication_factor=3)
        cluster.wait_leaders("many", timeout_s=300)
        fill_s = fill(cluster, "many", kb_per_partition * 1024 * partitions, partitions)
        cluster.kill(3, signal.SIGKILL)
        shutil.rmtree(cluster.root / "data" / "3")
        cluster.start(3)
        start = time.monotonic()

        def caught_up() -> bool:
            try:
                status = cluster.node_status(3)
            except Exception:  # not answering yet
                return False
            groups = status["groups"]
            if status.get("rejoining") or len(groups) < partitions or any(g["learner"] for g in groups):
                return False
            states = describe(cluster, "many").partitions
            return all(p.replica_states.get(3) in ("leader", "in sync") for p in states)

        wait_for(caught_up, 3600, "node 3 promoted in every group", interval_s=0.5)
        result = {"throttle": throttle, "partitions": partitions, "kb_per_partition": kb_per_partition,
                  "fill_s": round(fill_s, 1), "catch_up_s": round(time.monotonic() - start, 2),
                  "throttled_mb": round(sum(throttle_stats(cluster, n).get("sent_bytes", 0) for n in (1, 2)) / MB, 1),
                  "load": round(os.getloadavg()[0], 1)}
        print(f"  {json.dumps(result)}", flush=True)
        return result


def bench_wipe(args: argparse.Namespace) -> dict[str, Any]:
    throttles = args.throttle.split(",")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in throttles}
    for i in range(args.runs):
        for throttle in throttles:
            print(f"wipe: round {i + 1}, throttle {throttle}", flush=True)
            runs[throttle].append(wipe_run(throttle, args.partitions, args.wipe_kb))
    summary = {t: {"catch_up_s": statistics.median(r["catch_up_s"] for r in rs)} for t, rs in runs.items()}
    for t, s in summary.items():
        print(f"wipe, throttle {t}: median catch-up of a wiped node with {args.partitions} partitions "
              f"{s['catch_up_s']:.1f} s")
    return {"runs": runs, "summary": summary}


BENCHMARKS = {"move": bench_move, "wipe": bench_wipe}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.moves", description=__doc__.split("\n")[0])
    parser.add_argument("which", choices=[*BENCHMARKS, "all"], nargs="?", default="all")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each figure (median quoted)")
    parser.add_argument("--throttle", default="default",
                        help="comma-separated reassignment_throttle_bytes_per_s values, or 'default' (not set)")
    parser.add_argument("--fill-mb", type=float, default=1000.0, help="MB in the moved partition")
    parser.add_argument("--window-s", type=float, default=15.0, help="seconds of each no-move window")
    parser.add_argument("--partitions", type=int, default=300, help="partitions on the wiped node")
    parser.add_argument("--wipe-kb", type=int, default=1024, help="KiB written to each partition before the wipe")
    args = parser.parse_args()
    for name, bench in BENCHMARKS.items():
        if args.which in (name, "all"):
            results = {"machine": machine(), "args": vars(args), **bench(args)}
            out = HERE / "results"
            out.mkdir(exist_ok=True)
            (out / f"moves-{name}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
