"""``make bench``: kraft's throughput, latency, idle cost and failover on a local 3-node cluster.

Every figure is the median of ``BENCH_RUNS`` runs (default 3) on a fresh topic; the peer baseline
(NATS JetStream R3 from ../shared/peers, when available) runs in the same invocation so the ratio is
between numbers measured on the same machine at the same time. Results go to stdout and to
``benchmarks/results/latest.json``; BENCHMARKS.md quotes them with the command and the machine.

Environment: BENCH_RUNS (3), BENCH_RECORDS (200000), BENCH_SKIP_PEERS=1 to skip the baseline.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.connect import run_connect_benchmarks
from benchmarks.groups import run_group_benchmarks
from benchmarks.kafka_clients import run_kafka_benchmarks
from benchmarks.streams import run_streams_benchmarks
from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster, RawClient, wait_for

VALUE = os.urandom(100)
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "200000"))
PARTITIONS = 6
HERE = Path(__file__).resolve().parent


def produce_throughput(cluster: Cluster, topic: str, n: int) -> dict[str, float]:
    rate = produce_rate(cluster.bootstrap, topic, n)
    return {"records_per_s": rate, "mb_per_s": rate * len(VALUE) / 1e6}


def produce_rate(bootstrap: str, topic: str, n: int) -> float:
    """Records/s of kraft's producer sending ``n`` 100-byte records round-robin over the partitions."""
    with Producer(bootstrap, acks="all", linger_ms=5, batch_size=65536) as producer:
        start = time.perf_counter()
        send = producer.send
        for i in range(n):
            send(topic, value=VALUE, partition=i % PARTITIONS)
        producer.flush()
        elapsed = time.perf_counter() - start
    return n / elapsed


def consume_throughput(cluster: Cluster, topic: str, n: int) -> dict[str, float]:
    return {"records_per_s": consume_rate(cluster.bootstrap, topic, n, strict=False)}


def consume_rate(bootstrap: str, topic: str, n: int, *, strict: bool = True) -> float:
    """Records/s of kraft's consumer reading ``n`` records from the beginning of every partition
    (``strict``: fewer within 300 s is an error)."""
    consumer = Consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        consumer.seek_to_beginning()
        got = 0
        start = time.perf_counter()
        deadline = time.monotonic() + 300
        while got < n and time.monotonic() < deadline:
            got += len(consumer.poll(timeout_ms=1000))
        elapsed = time.perf_counter() - start
    finally:
        consumer.close()
    if strict and got < n:
        raise RuntimeError(f"kraft consumer: {got} of {n} records")
    return got / elapsed


def produce_latency(cluster: Cluster, topic: str, rate: int, seconds: float) -> dict[str, float]:
    """Send at a fixed rate (records/s, in 1 ms ticks); latency = send() to acknowledgement."""
    latencies: list[float] = []
    with Producer(cluster.bootstrap, acks="all", linger_ms=1) as producer:
        pending = []
        start = time.perf_counter()
        sent = 0
        total = int(rate * seconds)
        while sent < total:
            due = int((time.perf_counter() - start) * rate)
            while sent < min(due, total):
                t = time.perf_counter()
                fut = producer.send(topic, value=VALUE, partition=sent % PARTITIONS)
                fut.add_done_callback(lambda _f, t=t: latencies.append(time.perf_counter() - t))
                pending.append(fut)
                sent += 1
            time.sleep(0.0005)  # pacing, not synchronisation
        producer.flush()
        for f in pending:
            f.result()
    q = statistics.quantiles(latencies, n=100)
    return {"rate": rate, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_and_failover(root: Path) -> dict[str, Any]:
    cluster = Cluster(root, 3)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("idle", partitions=300, replication_factor=3)
        t0 = time.monotonic()
        cluster.wait_leaders("idle", timeout_s=120)
        elected_s = time.monotonic() - t0
        time.sleep(3)  # let elections' aftermath settle before measuring idle cost
        pids = {n: p.pid for n, p in cluster.procs.items()}
        before = {n: proc_cpu_s(pid) for n, pid in pids.items()}
        t = time.monotonic()
        time.sleep(10)
        dt = time.monotonic() - t
        idle = {n: 100 * (proc_cpu_s(pid) - before[n]) / dt for n, pid in pids.items()}
        victim = 1
        probe = RawClient(cluster.client_ports[2])
        cluster.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()

        def all_led() -> bool:
            _, md = probe.call("metadata", {"topics": ["idle"]})
            return all(p["leader"] in (2, 3) for p in md["topics"][0]["partitions"])

        wait_for(all_led, 60, "every partition led again", interval_s=0.02)
        failover_s = time.monotonic() - t0
        probe.close()
        return {"initial_election_s": elected_s, "idle_cpu_pct": idle, "failover_s": failover_s}
    finally:
        cluster.stop_all()


def peer_baseline() -> dict[str, Any] | None:
    run = HERE.parent.parent / "shared" / "peers" / "run.sh"
    if os.environ.get("BENCH_SKIP_PEERS") or not run.exists():
        return None
    out = Path(tempfile.mkdtemp())
    env = {**os.environ, "PEER_RESULTS_DIR": str(out), "PEER_SCALE": os.environ.get("PEER_SCALE", "0.3")}
    try:
        subprocess.run(["bash", str(run), "nats-r3"], env=env, check=True, timeout=1800,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (subprocess.SubprocessError, OSError) as e:
        print(f"peer baseline unavailable: {e}", file=sys.stderr)
        return None
    return {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}


def main() -> None:
    results: dict[str, Any] = {"machine": f"{platform.node()} {os.cpu_count()} cores {platform.python_version()}",
                               "records": RECORDS, "value_bytes": len(VALUE), "runs": RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp) / "tput", 3, fsync="always")
        try:
            cluster.start_all()
            prod, cons, lat = [], [], []
            with Admin(cluster.bootstrap) as admin:
                for run in range(RUNS):
                    topic = f"bench-{run}"
                    admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
                    cluster.wait_leaders(topic)
                    prod.append(produce_throughput(cluster, topic, RECORDS))
                    print(f"run {run}: produce {prod[-1]['records_per_s']:,.0f} rec/s", flush=True)
                    cons.append(consume_throughput(cluster, topic, RECORDS))
                    print(f"run {run}: consume {cons[-1]['records_per_s']:,.0f} rec/s", flush=True)
                    ltopic = f"lat-{run}"
                    admin.create_topic(ltopic, partitions=PARTITIONS, replication_factor=3)
                    cluster.wait_leaders(ltopic)
                    lat.append(produce_latency(cluster, ltopic, 10_000, 5))
                    print(f"run {run}: latency p50 {lat[-1]['p50_ms']:.2f} ms p99 {lat[-1]['p99_ms']:.2f} ms",
                          flush=True)
            results["produce_records_per_s"] = statistics.median(r["records_per_s"] for r in prod)
            results["produce_mb_per_s"] = statistics.median(r["mb_per_s"] for r in prod)
            results["consume_records_per_s"] = statistics.median(r["records_per_s"] for r in cons)
            results["latency_p50_ms"] = statistics.median(r["p50_ms"] for r in lat)
            results["latency_p99_ms"] = statistics.median(r["p99_ms"] for r in lat)
            results["kafka"] = run_kafka_benchmarks(cluster, RUNS, RECORDS, VALUE,
                                                    [f"bench-{run}" for run in range(RUNS)])
            kafka = results["kafka"]
            kafka["confluent_vs_kraft_produce"] = kafka["confluent_produce_records_per_s"] / results[
                "produce_records_per_s"]
            kafka["confluent_vs_kraft_consume"] = kafka["confluent_consume_records_per_s"] / results[
                "consume_records_per_s"]
            print(f"kafka: {kafka}", flush=True)
            results["groups"] = run_group_benchmarks(cluster, RUNS)
            print(f"groups: {results['groups']}", flush=True)
            results["streams"] = run_streams_benchmarks(cluster, RUNS)
            print(f"streams: {results['streams']}", flush=True)
            results["connect"] = run_connect_benchmarks(cluster, RUNS)
            print(f"connect: {results['connect']}", flush=True)
        finally:
            cluster.stop_all()
        results["idle_and_failover"] = idle_cpu_and_failover(Path(tmp) / "idle")
    peers = peer_baseline()
    if peers:
        results["peers"] = peers
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
