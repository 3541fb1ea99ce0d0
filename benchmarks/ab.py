"""``make bench-ab BASE=<rev>``: produce and consume throughput of this checkout against another
revision, in the same run, alternating A and B so both see the same machine.
``BENCH_AB_WORKLOAD=wordcount``: the Streams word count instead (lines/s; see :func:`measure_word_count`).
``BENCH_AB_WORKLOAD=kafka``: confluent-kafka's (librdkafka) producer and consumer through the Kafka
listener instead (issue 16's target 1 workload; see :func:`measure_kafka`); its ``batch.size`` and
``linger.ms`` are ``BENCH_KAFKA_BATCH_BYTES`` (65536) and ``BENCH_KAFKA_LINGER_MS`` (5): 4096 and 1
give many small batches, the load where a leader joins queued batches into one Raft entry.

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
WORKLOAD = os.environ.get("BENCH_AB_WORKLOAD", "produce")  # produce (and consume) | wordcount | kafka
LINES = int(os.environ.get("BENCH_STREAMS_LINES", "300000"))
KAFKA_BATCH_BYTES = int(os.environ.get("BENCH_KAFKA_BATCH_BYTES", "65536"))
KAFKA_LINGER_MS = int(os.environ.get("BENCH_KAFKA_LINGER_MS", "5"))


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


def measure_kafka() -> dict[str, float]:
    """One round of ``benchmarks/vs_tansu.py``'s kraft side (written out here for the same reason):
    librdkafka's producer (acks=all, linger 5 ms, 64 KiB batches unless the environment says
    otherwise) into a fresh 3-node cluster, then
    its consumer (``fetch.queue.backoff.ms`` 10, see ``vs_tansu.ck_consume``) reading it all back."""
    from confluent_kafka import Consumer as CKConsumer
    from confluent_kafka import Producer as CKProducer
    from confluent_kafka import TopicPartition as CKTopicPartition

    from kraft import Admin
    from kraft.testing.local_cluster import Cluster

    value = os.urandom(100)
    root = Path(tempfile.mkdtemp(prefix="kraft-ab-"))
    cluster = Cluster(root, 3)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("ab", partitions=PARTITIONS, replication_factor=3)
        cluster.wait_leaders("ab", timeout_s=60)
        pids = [p.pid for p in cluster.procs.values()]
        cpu0 = _nodes_cpu_s(pids)
        producer = CKProducer({"bootstrap.servers": cluster.kafka_bootstrap, "acks": "all",
                               "linger.ms": KAFKA_LINGER_MS, "batch.size": KAFKA_BATCH_BYTES,
                               "queue.buffering.max.messages": 1_000_000})
        start = time.perf_counter()
        for i in range(RECORDS):
            while True:
                try:
                    producer.produce("ab", value=value, partition=i % PARTITIONS)
                    break
                except BufferError:
                    producer.poll(0.01)
            if i % 10_000 == 0:
                producer.poll(0)
        if producer.flush(120):
            raise RuntimeError("undelivered records")
        produce_s = time.perf_counter() - start
        cpu1 = _nodes_cpu_s(pids)
        consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": "ab",
                               "enable.auto.commit": False, "fetch.wait.max.ms": 100, "fetch.queue.backoff.ms": 10})
        try:
            consumer.assign([CKTopicPartition("ab", p, 0) for p in range(PARTITIONS)])
            got = 0
            start = time.perf_counter()
            deadline = time.monotonic() + 300
            while got < RECORDS and time.monotonic() < deadline:
                got += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
            consume_s = time.perf_counter() - start
        finally:
            consumer.close()
        cpu2 = _nodes_cpu_s(pids)
        # The nodes' CPU per record (all three, microseconds): what a change saves, far less moved by
        # other tenants of the machine than the throughput.
        return {"ck_produce": RECORDS / produce_s, "ck_consume": got / consume_s,
                "produce_node_cpu_us_per_record": (cpu1 - cpu0) / RECORDS * 1e6,
                "consume_node_cpu_us_per_record": (cpu2 - cpu1) / max(got, 1) * 1e6}
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def _nodes_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure_word_count() -> dict[str, float]:
    """One round of the Streams word count (``benchmarks/streams.py``'s app and lines, written out
    here for the same reason as above): ``LINES`` lines of 100 bytes of words from a 1,000-word
    vocabulary in a 6-partition topic (RF 3, 3 nodes, ``fsync = always``); one app instance
    (defaults: commit every 1000 ms; the record cache where the side has one); the clock runs from
    the app owning its tasks until its group has committed every input and repartition record,
    then the stored counts must add up to the number of words."""
    import random

    from kraft import Admin, Producer
    from kraft.apis.streams import Serde, StreamsApp
    from kraft.testing.local_cluster import Cluster, wait_for

    rng = random.Random(1)
    vocabulary = [f"w{i:03d}{rng.choice('abcdefgh') * rng.randint(1, 8)}" for i in range(1000)]
    lines = []
    for _ in range(LINES):
        line = ""
        while len(line) < 100:
            line += rng.choice(vocabulary) + " "
        lines.append(line[:100].rsplit(" ", 1)[0].ljust(100).encode())
    words = sum(len(line.split()) for line in lines)
    root = Path(tempfile.mkdtemp(prefix="kraft-ab-"))
    cluster = Cluster(root / "cluster", 3, fsync="always")
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("lines", partitions=PARTITIONS, replication_factor=3)
        cluster.wait_leaders("lines", timeout_s=60)
        with Producer(cluster.bootstrap, linger_ms=5) as producer:
            for i, line in enumerate(lines):
                producer.send("lines", value=line, partition=i % PARTITIONS)
            producer.flush()
        app = StreamsApp("wordcount", cluster.bootstrap, state_dir=root / "state")
        (app.stream("lines", value_serde=Serde.str)
            .flat_map_values(str.split)
            .group_by(lambda _k, word: word)
            .count(store="word-counts")
            .to_stream()
            .to("word-counts", value_serde=Serde.int))
        app.start()
        try:
            with Admin(cluster.bootstrap) as admin:
                def all_committed() -> bool:
                    offsets = admin.describe_group("wordcount").offsets
                    return (sum(o.committed or 0 for o in offsets if o.topic == "lines") >= LINES
                            and all(o.committed == o.end_offset for o in offsets))

                app.wait_until_running(120)
                start = time.perf_counter()
                wait_for(lambda: app.processed >= LINES or app.error, 1200, "every line processed", 0.01)
                wait_for(lambda: app.error or all_committed(), 600, "everything committed", 0.02)
                elapsed = time.perf_counter() - start
                wait_for(lambda: app.error or sum(v for _k, v in app.store("word-counts").all()) == words, 60,
                         "every word counted")
            if app.error is not None:
                raise app.error
        finally:
            app.close()
        return {"lines_per_s": LINES / elapsed}
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def run_side(code_root: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure"], env=env, cwd=code_root,
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:  # say why: a failed round is otherwise only an exit status
        sys.stderr.write(proc.stderr[-4000:])
        proc.check_returncode()
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
                figures = ", ".join(f"{k} {v:,.2f}" if v < 100 else f"{k} {v:,.0f}" for k, v in got.items())
                print(f"round {r + 1}/{ROUNDS} {name}: {figures} (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_root)], check=False)
    keys = list(next(iter(results.values()))[0])
    medians = {name: {k: statistics.median(run[k] for run in runs) for k in keys} for name, runs in results.items()}
    a, b = medians.values()
    what = (f"{LINES} lines (word count)" if WORKLOAD == "wordcount" else f"{RECORDS} records of 100 bytes"
            + (f" (librdkafka, batch.size {KAFKA_BATCH_BYTES}, linger.ms {KAFKA_LINGER_MS})"
               if WORKLOAD == "kafka" else ""))
    print(f"\nmedians of {ROUNDS} rounds, {what}, 3 nodes, RF 3, fsync always:")
    for name, m in medians.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:,.2f}" if v < 100 else f"{k} {v:,.0f}" for k, v in m.items()))
    print("  B/A: " + ", ".join(f"{k} {b[k] / a[k]:.3f}" for k in keys))
    for name, runs in results.items():
        print(f"  {name} runs: " + "; ".join(", ".join(f"{k} {v:,.0f}" for k, v in run.items()) for run in runs))


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        measures = {"wordcount": measure_word_count, "kafka": measure_kafka}
        print(json.dumps(measures.get(WORKLOAD, measure)()))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "HEAD~1")
