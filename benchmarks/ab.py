"""``make bench-ab BASE=<rev>``: produce and consume throughput of this checkout against another
revision, in the same run, alternating A and B so both see the same machine.

Each round starts a fresh 3-node cluster (RF 3, ``fsync = always``, 6 partitions) from one side's
code, produces ``BENCH_RECORDS`` 100-byte records with kraft's Producer (acks=all, linger 5 ms,
64 KiB batches) and reads them back with a Consumer; the figures are the medians over
``BENCH_AB_ROUNDS`` rounds per side. The base revision is checked out into a temporary worktree and
imported through PYTHONPATH (this file runs as a script, so it measures both sides the same way).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_AB_ROUNDS", "5"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "200000"))
PARTITIONS = 6


def measure() -> dict[str, float]:
    """One round against whichever kraft PYTHONPATH names (run as ``python ab.py --measure``).

    The same workload as ``benchmarks.run``'s produce and consume figures, written out here rather
    than imported: under PYTHONPATH=<base>, ``benchmarks`` would be the base revision's copy."""
    from kraft import Admin, Consumer, Producer, TopicPartition
    from kraft.testing.local_cluster import Cluster

    value = os.urandom(100)
    root = Path(tempfile.mkdtemp(prefix="kraft-ab-"))
    cluster = Cluster(root, 3)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("ab", partitions=PARTITIONS, replication_factor=3)
        cluster.wait_leaders("ab", timeout_s=60)
        with Producer(cluster.bootstrap, acks="all", linger_ms=5, batch_size=65536) as producer:
            start = time.perf_counter()
            for i in range(RECORDS):
                producer.send("ab", value=value, partition=i % PARTITIONS)
            producer.flush()
            produce_s = time.perf_counter() - start
        consumer = Consumer(cluster.bootstrap)
        try:
            consumer.assign([TopicPartition("ab", p) for p in range(PARTITIONS)])
            consumer.seek_to_beginning()
            got = 0
            start = time.perf_counter()
            deadline = time.monotonic() + 300
            while got < RECORDS and time.monotonic() < deadline:
                got += len(consumer.poll(timeout_ms=1000))
            consume_s = time.perf_counter() - start
        finally:
            consumer.close()
        return {"produce": RECORDS / produce_s, "consume": got / consume_s}
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def run_side(code_root: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure"], env=env, cwd=code_root,
                          capture_output=True, text=True, timeout=900, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(base: str) -> None:
    base_root = Path(tempfile.mkdtemp(prefix="kraft-ab-base-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base_root), base], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    base_rev = subprocess.run(["git", "-C", str(base_root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    sides = {f"A (base {base_rev})": base_root, f"B (this checkout, {head})": ROOT}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    try:
        for r in range(ROUNDS):
            for name, code_root in sides.items():
                got = run_side(code_root)
                results[name].append(got)
                print(f"round {r + 1}/{ROUNDS} {name}: produce {got['produce']:,.0f} records/s, "
                      f"consume {got['consume']:,.0f} records/s", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_root)], check=False)
    medians = {name: {k: statistics.median(run[k] for run in runs) for k in ("produce", "consume")}
               for name, runs in results.items()}
    a, b = medians.values()
    print(f"\nmedians of {ROUNDS} rounds, {RECORDS} records of 100 bytes, 3 nodes, RF 3, fsync always:")
    for name, m in medians.items():
        print(f"  {name}: produce {m['produce']:,.0f} records/s, consume {m['consume']:,.0f} records/s")
    print(f"  B/A: produce {b['produce'] / a['produce']:.3f}, consume {b['consume'] / a['consume']:.3f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(measure()))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "HEAD~1")
