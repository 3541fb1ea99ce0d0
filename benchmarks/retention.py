"""``make bench-retention``: issue 12's benchmarks of retention and compaction on a local 3-node cluster.

Three benchmarks, each runnable alone (``python -m benchmarks.retention steady|compaction|latency``):

- **steady**: a producer sends 1 KiB records as fast as it can for ``--minutes`` into a 3-partition
  topic (RF 3, ``fsync = always``, acks=all) whose ``retention.bytes`` is ``--retention-mb`` per
  partition; every ``--sample-s`` it records per node the size of LMDB's ``data.mdb`` (apparent and
  allocated) and the sum of ``size_bytes`` of its replicas (``node_status``), and the produce rate over
  the interval (from the high watermarks). Then the same run without retention, as the baseline; the
  ratio is throughput with / without. A disk guard (``--min-free-gb``) ends a run early rather than
  fill the shared disk; the ratio is then also given over the window both runs covered.
- **compaction**: 1,000,000 updates over 10,000 keys (9-byte keys, 8-byte values, an idempotent
  producer as Streams' own, linger 20 ms, 64 KiB batches) into a ``cleanup.policy=compact`` topic
  (``min.cleanable.dirty.ratio=0.01``, passes every 500 ms) and the same updates into an uncompacted
  copy (``delete``, no retention); written twice: in one burst (one flush at the end) and in
  commit-sized steps (a flush every 10,000 updates, as a Streams app flushes at each commit).
  Records/s cleaned come from the nodes' logs (a leader's "compacting below offset X" line to its
  own "compaction pass N done below offset X: R records" line); a third topic written with
  ``min.compaction.lag.ms`` at one hour and then set to 0 gives the rate of one pass over the whole
  log. Then the restore: Streams' own ``restore_store`` (what a StreamsApp's runtime calls for each
  task) into ``LmdbTaskStores``, every partition from the beginning to the end offset, from the
  compacted topic and from its copy, alternating; the store's content is checked against the
  latest value of every key.
- **latency**: produce latency (acks=all) at a fixed 10,000 records/s (``linger_ms=1``, send() to
  acknowledgement, as ``benchmarks.run``) and of a synchronous ``send().result()`` loop (one record per
  request), idle and while a retention pass removes ``--fill-mb`` of another topic (filled, then its
  ``retention.bytes`` lowered to 0 with ``Admin.alter_configs``). The removal is over when no
  partition's row count in the nodes' LMDB files (read-only) falls any more; "during" is the samples
  sent from the first trim to that moment (the JSON also has a timeline per 100 ms of send time
  around it: records sent, their median and largest latency). ``--fill-batches``: ``merged`` fills
  with the default (idempotent) producer, whose sender merges queued batches into stored batches of
  up to 1 MiB; ``64k`` with a non-idempotent one, whose stored batches stay at 64 KiB (16x the rows
  for the same bytes: the removal's slices are counted in rows).

Every cluster is stopped (``Cluster.stop_all``) in ``finally``. Results go to stdout and to
``benchmarks/results/retention-<benchmark>.json``; BENCHMARKS.md quotes them with the command.
Environment: BENCH_RUNS (runs of each figure; the median is quoted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lmdb

from kraft import Admin, Consumer, Producer, RecordMetadata, TopicPartition
from kraft.apis.streams.changelog import restore_store
from kraft.apis.streams.stores import LmdbTaskStores
from kraft.log.store import DB_JOURNAL, DB_OFFSETS
from kraft.testing.local_cluster import Cluster

HERE = Path(__file__).resolve().parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PARTITIONS = 3
NODES = (1, 2, 3)
MB = 1_000_000
MAP_SIZE_MB = 65536  # room for a baseline that keeps everything (address space, not disk)


# --- shared helpers -------------------------------------------------------------------------------
def machine() -> str:
    return f"{platform.node()} {os.cpu_count()} cores Python {platform.python_version()}"


def load_average() -> float:
    return os.getloadavg()[0]


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e9


@contextlib.contextmanager
def running_cluster(root: Path, extra: str) -> Iterator[Cluster]:
    cluster = Cluster(root, len(NODES), fsync="always", extra=extra)
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop_all()


def create_topic(cluster: Cluster, topic: str, config: dict[str, object]) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3, config=config)
    cluster.wait_leaders(topic)


def replicas_of(cluster: Cluster, node: int, topic: str) -> list[dict[str, Any]]:
    return [g for g in cluster.node_status(node)["groups"] if g["topic"] == topic]


def high_watermarks(cluster: Cluster, topic: str) -> dict[int, int]:
    """Each partition's high watermark, the highest any node reports."""
    out: dict[int, int] = {}
    for node in NODES:
        for g in replicas_of(cluster, node, topic):
            out[g["partition"]] = max(out.get(g["partition"], 0), g["high_watermark"])
    return out


def data_file(cluster: Cluster, node: int) -> Path:
    return cluster.root / "data" / str(node) / "data.mdb"


def disk_of(cluster: Cluster, node: int, topic: str) -> dict[str, int]:
    """data.mdb's apparent size and allocated bytes, and the bytes of ``topic``'s replicas on ``node``."""
    st = data_file(cluster, node).stat()
    return {"mdb_bytes": st.st_size, "mdb_allocated_bytes": st.st_blocks * 512,
            "replica_bytes": sum(g["size_bytes"] for g in replicas_of(cluster, node, topic))}


def write_results(name: str, results: dict[str, Any]) -> None:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"retention-{name}.json").write_text(json.dumps(results, indent=2))


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def log_lines(cluster: Cluster, node: int, pattern: re.Pattern[str]) -> list[tuple[float, re.Match[str]]]:
    """(wall-clock time, match) of every line of ``node``'s log that ``pattern`` finds."""
    out = []
    for line in cluster.log(node).splitlines():
        stamp, found = LOG_TIME.match(line), pattern.search(line)
        if stamp and found:
            out.append((datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), found))
    return out


def quantiles_ms(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"samples": len(latencies), "p50_ms": float("nan"), "p99_ms": float("nan")}
    q = statistics.quantiles(latencies, n=100)
    return {"samples": len(latencies), "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "max_ms": max(latencies) * 1000}


# --- 1. steady produce with retention -------------------------------------------------------------
@dataclass
class SteadyRun:
    retention_bytes: int | None
    minutes: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    seconds: float = 0.0
    stopped_early: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"retention_bytes": self.retention_bytes, "minutes": self.minutes, "records": self.records,
                "seconds": self.seconds, "records_per_s": self.records / self.seconds,
                "mb_per_s": self.records * 1024 / self.seconds / MB, "stopped_early": self.stopped_early,
                "samples": self.samples}


def steady_run(root: Path, minutes: float, retention_bytes: int | None, sample_s: float, check_interval_ms: int,
               min_free_gb: float) -> SteadyRun:
    run = SteadyRun(retention_bytes, minutes)
    extra = f"log_retention_check_interval_ms = {check_interval_ms}\nlmdb_map_size_mb = {MAP_SIZE_MB}"
    value = os.urandom(1024)
    with running_cluster(root, extra) as cluster:
        create_topic(cluster, "steady", {} if retention_bytes is None else {"retention.bytes": retention_bytes})
        stop = threading.Event()
        start = time.monotonic()
        sampler = threading.Thread(target=_sample_steady, args=(cluster, run, start, sample_s, min_free_gb, stop),
                                   daemon=True)
        deadline = start + minutes * 60
        sent = 0
        with Producer(cluster.bootstrap, acks="all", linger_ms=5, batch_size=65536) as producer:
            sampler.start()
            send = producer.send
            while not stop.is_set() and time.monotonic() < deadline:
                for _ in range(1000):
                    send("steady", value=value, partition=sent % PARTITIONS)
                    sent += 1
            producer.flush()
            run.seconds = time.monotonic() - start
        stop.set()
        sampler.join()
        run.records = sent
        acked = sum(high_watermarks(cluster, "steady").values())
        if acked != sent:
            raise AssertionError(f"sent {sent} records but the high watermarks add up to {acked}")
        run.samples.append(_steady_sample(cluster, run.seconds, run.samples))
    return run


DISK_CHECK_S = 1.0  # a baseline writes several hundred MB/s: look at the free space often


def _sample_steady(cluster: Cluster, run: SteadyRun, start: float, every_s: float, min_free_gb: float,
                   stop: threading.Event) -> None:
    """A sample every ``every_s``; the free disk every ``DISK_CHECK_S``: below ``min_free_gb`` the
    run stops (with a last sample)."""
    run.samples.append(_steady_sample(cluster, 0.0, run.samples))
    next_sample = every_s
    while not stop.wait(DISK_CHECK_S):
        t = time.monotonic() - start
        low = free_gb(cluster.root) < min_free_gb
        if t < next_sample and not low:
            continue
        next_sample += every_s
        try:
            run.samples.append(_steady_sample(cluster, t, run.samples))
        except Exception as e:  # a slow answer skips one sample; the run goes on
            print(f"  sample failed: {e!r}", flush=True)
        else:
            print("  " + _format_sample(run.samples[-1]), flush=True)
        if low:
            run.stopped_early = f"free disk below {min_free_gb} GB after {t:.0f} s"
            stop.set()


def _steady_sample(cluster: Cluster, t_s: float, before: list[dict[str, Any]]) -> dict[str, Any]:
    records = sum(high_watermarks(cluster, "steady").values())
    sample: dict[str, Any] = {"t_s": t_s, "records": records, "load": load_average(),
                              "free_gb": free_gb(cluster.root),
                              "nodes": {n: disk_of(cluster, n, "steady") for n in NODES}}
    if before:
        prev = before[-1]
        sample["interval_records_per_s"] = (records - prev["records"]) / max(t_s - prev["t_s"], 1e-9)
    return sample


def _format_sample(s: dict[str, Any]) -> str:
    nodes = " | ".join(f"n{n}: mdb {d['mdb_bytes'] / MB:,.0f} MB, replicas {d['replica_bytes'] / MB:,.0f} MB"
                       for n, d in s["nodes"].items())
    return (f"t={s['t_s']:5.0f}s rate {s.get('interval_records_per_s', 0):8,.0f} rec/s | {nodes} | "
            f"load {s['load']:.1f}")


def rate_until(run: SteadyRun, t_s: float) -> float:
    """Records/s from the start to the last sample at or before ``t_s`` (high watermarks)."""
    upto = [s for s in run.samples if 0 < s["t_s"] <= t_s + 1]
    last = upto[-1]
    return float(last["records"] / last["t_s"])


def bench_steady(args: argparse.Namespace) -> dict[str, Any]:
    retention_bytes = int(args.retention_mb * MB)
    with_ret: list[SteadyRun] = []
    without: list[SteadyRun] = []
    with tempfile.TemporaryDirectory(prefix="kraft-retention-") as tmp:
        for i in range(args.runs):
            sides = [("with", retention_bytes, with_ret), ("without", None, without)]
            for label, r_bytes, into in sides if i % 2 == 0 else sides[::-1]:  # alternate which goes first
                root = Path(tmp) / f"steady-{label}-{i}"
                print(f"steady run {i + 1}/{args.runs} {label} retention ({args.minutes} min)", flush=True)
                got = steady_run(root, args.minutes, r_bytes, args.sample_s, args.check_interval_ms, args.min_free_gb)
                shutil.rmtree(root, ignore_errors=True)
                into.append(got)
                print(f"  -> {got.records / got.seconds:,.0f} records/s"
                      + (f" ({got.stopped_early})" if got.stopped_early else ""), flush=True)
    ratios = [w.records / w.seconds / (b.records / b.seconds) for w, b in zip(with_ret, without, strict=True)]
    common = [min(w.samples[-1]["t_s"], b.samples[-1]["t_s"]) for w, b in zip(with_ret, without, strict=True)]
    window_ratios = [rate_until(w, t) / rate_until(b, t) for w, b, t in zip(with_ret, without, common, strict=True)]
    results = {"benchmark": "steady", "machine": machine(), "value_bytes": 1024, "partitions": PARTITIONS,
               "replication_factor": 3, "fsync": "always", "producer": "acks=all linger_ms=5 batch_size=65536",
               "minutes": args.minutes, "retention_bytes_per_partition": retention_bytes,
               "check_interval_ms": args.check_interval_ms, "runs": args.runs,
               "with_records_per_s": statistics.median(r.records / r.seconds for r in with_ret),
               "without_records_per_s": statistics.median(r.records / r.seconds for r in without),
               "ratio_per_pair": ratios, "ratio_median": statistics.median(ratios),
               "common_window_s": common, "common_window_ratio_per_pair": window_ratios,
               "with_retention": [r.summary() for r in with_ret], "without_retention": [r.summary() for r in without]}
    write_results("steady", results)
    print(f"steady: with retention {results['with_records_per_s']:,.0f} records/s, without "
          f"{results['without_records_per_s']:,.0f}; ratio per pair {[f'{r:.3f}' for r in ratios]}, "
          f"median {results['ratio_median']:.3f}; over the common window {[f'{r:.3f}' for r in window_ratios]}")
    return results


# --- 2. compaction ---------------------------------------------------------------------------------
COMPACTING = re.compile(r"compaction: (?P<topic>[^/ ]+)/(?P<partition>\d+) compacting below offset (?P<end>\d+)")
PASS_DONE = re.compile(r"partition (?P<gid>\d+): compaction pass (?P<epoch>\d+) done below offset (?P<end>\d+): "
                       r"(?P<records>\d+) records, (?P<bytes>\d+) bytes removed")


def updates(n: int, keys: int, seed: int = 12) -> tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]]:
    """``n`` updates of ``keys`` keys in random order (each value: that key's update count, 8 bytes
    big-endian, as a count store's changelog), and each key's latest value."""
    rng = random.Random(seed)
    counts = [0] * keys
    names = [b"key-%05d" % k for k in range(keys)]
    out = []
    for _ in range(n):
        k = rng.randrange(keys)
        counts[k] += 1
        out.append((names[k], counts[k].to_bytes(8, "big")))
    latest = {names[k]: counts[k].to_bytes(8, "big") for k in range(keys) if counts[k]}
    return out, latest


def produce_updates(cluster: Cluster, topic: str, records: list[tuple[bytes, bytes]], batch_size: int,
                    flush_every: int) -> float:
    """Records/s of writing ``records`` (keyed: the default partitioner places them) with an
    idempotent producer (as Streams' own), flushing every ``flush_every`` records (0: at the end)."""
    with Producer(cluster.bootstrap, acks="all", linger_ms=20, batch_size=batch_size,
                  enable_idempotence=True) as producer:
        start = time.perf_counter()
        send = producer.send
        for i, (key, value) in enumerate(records, 1):
            send(topic, value=value, key=key)
            if flush_every and i % flush_every == 0:
                producer.flush()
        producer.flush()
        return len(records) / (time.perf_counter() - start)


@dataclass(frozen=True)
class CompactionPassTimes:
    topic: str
    partition: int
    node: int
    end: int
    start: float
    done: float
    records: int
    bytes: int


def compaction_passes(cluster: Cluster, topic: str) -> tuple[list[CompactionPassTimes], dict[int, dict[str, int]]]:
    """The passes each leader ran over ``topic`` (its "compacting below" line paired with its own
    "done" line of the same end offset, nearest in time), and per node the records and bytes its
    replicas of ``topic`` removed (the gid of a replica from the leaders' pairs)."""
    passes: list[CompactionPassTimes] = []
    gid_of: dict[tuple[int, int], int] = {}  # (node, gid) -> partition
    done_lines = {n: log_lines(cluster, n, PASS_DONE) for n in NODES}
    for node in NODES:
        unmatched = list(done_lines[node])
        for t, m in log_lines(cluster, node, COMPACTING):
            if m["topic"] != topic:
                continue
            same_end = [d for d in unmatched if d[1]["end"] == m["end"]]
            if not same_end:
                continue
            dt, dm = min(same_end, key=lambda d: abs(d[0] - t))
            unmatched.remove((dt, dm))
            partition = int(m["partition"])
            gid_of[(node, int(dm["gid"]))] = partition
            passes.append(CompactionPassTimes(topic, partition, node, int(m["end"]), t, dt, int(dm["records"]),
                                              int(dm["bytes"])))
    gids = {gid for (_n, gid) in gid_of}  # the gid of a partition is the same on every node
    removed: dict[int, dict[str, int]] = {}
    for node in NODES:
        mine = [d for d in done_lines[node] if int(d[1]["gid"]) in gids]
        removed[node] = {"passes": len(mine), "records": sum(int(m["records"]) for _, m in mine),
                         "bytes": sum(int(m["bytes"]) for _, m in mine)}
    return passes, removed


def wait_compacted(cluster: Cluster, topic: str, quiet_s: float, timeout_s: float) -> float:
    """Wait until every pass a leader began over ``topic`` has finished there and none has finished
    for ``quiet_s``; when the last one finished."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        passes, _ = compaction_passes(cluster, topic)
        began = [m for n in NODES for _, m in log_lines(cluster, n, COMPACTING) if m["topic"] == topic]
        last = max((p.done for p in passes), default=0.0)
        if passes and len(began) == len(passes) and time.time() - last > quiet_s:
            return last
        time.sleep(1)  # sleep-ok: poll interval of a deadline-bounded wait
    raise AssertionError(f"compaction of {topic} still running after {timeout_s} s")


def cleaner_rate(passes: list[CompactionPassTimes]) -> dict[str, float]:
    """Records removed (on one replica of each partition: every replica removes the same), the
    passes' summed time and records/s over it, and the span from the first start to the last end."""
    busy = sum(max(p.done - p.start, 0.0) for p in passes)
    removed = sum(p.records for p in passes)
    span = max(p.done for p in passes) - min(p.start for p in passes) if passes else 0.0
    return {"passes": len(passes), "records_removed": removed, "bytes_removed": sum(p.bytes for p in passes),
            "busy_s": busy, "records_per_busy_s": removed / busy if busy > 0 else float("nan"),
            "span_s": span, "records_per_span_s": removed / span if span > 0 else float("nan")}


def restore_once(bootstrap: str, topic: str, path: Path, latest: dict[bytes, bytes]) -> dict[str, float]:
    """Restore a store from every partition of ``topic`` as a StreamsApp's runtime does (one task per
    partition, one LMDB environment each, one restore consumer); check it holds ``latest``."""
    consumer = Consumer(bootstrap, client_id="bench-restore", enable_auto_commit=False)
    replayed = 0
    held: dict[bytes, bytes] = {}
    try:
        start = time.perf_counter()
        opened = []
        for p in range(PARTITIONS):
            stores = LmdbTaskStores(path / f"0_{p}", ["counts"])
            opened.append(stores)
            replayed += restore_store(consumer, stores, "counts", TopicPartition(topic, p))
        elapsed = time.perf_counter() - start
        for stores in opened:
            held.update(stores.read_range("counts", b"", None))
            stores.close()
    finally:
        consumer.close()
    if held != latest:
        wrong = len([k for k, v in latest.items() if held.get(k) != v])
        raise AssertionError(f"restored store of {topic}: {len(held)} keys, {wrong} of {len(latest)} wrong")
    return {"seconds": elapsed, "records_replayed": replayed, "keys": len(held)}


WRITES = {"burst": 0, "commits": 10_000}  # flush the producer once at the end / every 10,000 updates


def compact_while_writing(cluster: Cluster, case: str, records: list[tuple[bytes, bytes]],
                          batch_size: int) -> dict[str, Any]:
    """Write the updates into ``copy-<case>`` and then ``compacted-<case>``; wait until the passes
    over the latter stop; what they removed and how fast."""
    out: dict[str, Any] = {"flush_every": WRITES[case]}
    out["produce_copy_records_per_s"] = produce_updates(cluster, f"copy-{case}", records, batch_size, WRITES[case])
    t0 = time.time()
    out["produce_compacted_records_per_s"] = produce_updates(cluster, f"compacted-{case}", records, batch_size,
                                                             WRITES[case])
    written = time.time()
    last_done = wait_compacted(cluster, f"compacted-{case}", quiet_s=5, timeout_s=900)
    passes, removed = compaction_passes(cluster, f"compacted-{case}")
    out.update({**cleaner_rate(passes), "write_s": written - t0, "last_pass_done_after_write_s": last_done - written,
                "removed_per_node": removed})
    print(f"{case}: continuous compaction {out}", flush=True)
    return out


def one_pass(cluster: Cluster, records: list[tuple[bytes, bytes]], batch_size: int) -> dict[str, Any]:
    """Write the updates with min.compaction.lag.ms at an hour, then set it to 0: one pass per
    partition over the whole log."""
    produce_updates(cluster, "onepass", records, batch_size, 0)
    time.sleep(2)
    with Admin(cluster.bootstrap) as admin:
        admin.alter_configs("onepass", set={"min.compaction.lag.ms": 0})
    wait_compacted(cluster, "onepass", quiet_s=5, timeout_s=900)
    passes, removed = compaction_passes(cluster, "onepass")
    out = {**cleaner_rate(passes), "removed_per_node": removed, "per_pass": [p.__dict__ for p in passes]}
    print(f"one pass over the whole log: {out}", flush=True)
    return out


def restores(cluster: Cluster, case: str, path: Path, latest: dict[bytes, bytes], runs: int) -> dict[str, Any]:
    """Restore from ``compacted-<case>`` and from ``copy-<case>``, alternating which goes first."""
    got: dict[str, list[dict[str, float]]] = {"compacted": [], "copy": []}
    for i in range(runs):
        for kind in ("compacted", "copy") if i % 2 == 0 else ("copy", "compacted"):
            got[kind].append(restore_once(cluster.bootstrap, f"{kind}-{case}", path / f"{kind}-{case}-{i}", latest))
            print(f"{case}: restore {i + 1}/{runs} from {kind}: {got[kind][-1]['seconds']:.3f} s, "
                  f"{got[kind][-1]['records_replayed']:,} records", flush=True)
    compacted_s = statistics.median(r["seconds"] for r in got["compacted"])
    copy_s = statistics.median(r["seconds"] for r in got["copy"])
    print(f"{case}: restore from compacted {compacted_s:.3f} s, from the copy {copy_s:.3f} s: "
          f"{copy_s / compacted_s:.1f}x faster", flush=True)
    pairs = zip(got["copy"], got["compacted"], strict=True)
    return {"runs": got, "compacted_s": compacted_s, "copy_s": copy_s, "speedup": copy_s / compacted_s,
            "speedup_per_pair": [c["seconds"] / k["seconds"] for c, k in pairs]}


def bench_compaction(args: argparse.Namespace) -> dict[str, Any]:
    records, latest = updates(args.updates, args.keys)
    results: dict[str, Any] = {"benchmark": "compaction", "machine": machine(), "updates": args.updates,
                               "keys": args.keys, "key_bytes": 9, "value_bytes": 8, "partitions": PARTITIONS,
                               "replication_factor": 3, "fsync": "always",
                               "producer": f"idempotent acks=all linger_ms=20 batch_size={args.batch_size}",
                               "check_interval_ms": 500, "runs": args.runs, "load_start": load_average()}
    compact = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": 0.01}
    with tempfile.TemporaryDirectory(prefix="kraft-compaction-") as tmp, \
            running_cluster(Path(tmp) / "cluster", "log_retention_check_interval_ms = 500") as cluster:
        for case in WRITES:
            create_topic(cluster, f"copy-{case}", {"cleanup.policy": "delete", "retention.ms": -1})
            create_topic(cluster, f"compacted-{case}", compact)
        create_topic(cluster, "onepass", {**compact, "min.compaction.lag.ms": 3_600_000})
        for case in WRITES:
            results[case] = compact_while_writing(cluster, case, records, args.batch_size)
        results["one_pass"] = one_pass(cluster, records, args.batch_size)
        results["size_bytes"] = {t: {n: sum(g["size_bytes"] for g in replicas_of(cluster, n, t)) for n in NODES}
                                 for t in [f"{k}-{c}" for c in WRITES for k in ("copy", "compacted")] + ["onepass"]}
        for case in WRITES:
            results[case]["restore"] = restores(cluster, case, Path(tmp), latest, args.runs)
    results["load_end"] = load_average()
    write_results("compaction", results)
    return results


# --- 3. latency during a retention pass ----------------------------------------------------------
def paced_latencies(producer: Producer, topic: str, rate: int, stop: threading.Event,
                    out: list[tuple[float, float]]) -> None:
    """Send 100-byte records at ``rate``/s (1 ms ticks) until ``stop``; append (send wall time,
    send() to acknowledgement in s) for each. The futures are not kept (``flush`` waits for them;
    a failure is raised at the end): hundreds of thousands of live futures made every full garbage
    collection of this process stop it for 100-400 ms, and those pauses, not the cluster, were the
    p99 of a window."""
    value = os.urandom(100)
    start = time.perf_counter()
    wall0 = time.time() - start
    sent = 0
    failed: list[BaseException] = []
    while not stop.is_set():
        due = int((time.perf_counter() - start) * rate)
        while sent < due:
            t = time.perf_counter()
            fut = producer.send(topic, value=value, partition=sent % PARTITIONS)
            fut.add_done_callback(_recorder(out, wall0, t, failed))
            sent += 1
        time.sleep(0.0005)  # pacing, not synchronisation
    producer.flush()
    if failed:
        raise failed[0]


def _recorder(out: list[tuple[float, float]], wall0: float, sent: float,
              failed: list[BaseException]) -> Callable[[Future[RecordMetadata]], None]:
    def record(f: Future[RecordMetadata]) -> None:
        error = f.exception()
        if error is not None:
            failed.append(error)
            return
        out.append((wall0 + sent, time.perf_counter() - sent))
    return record


def sync_latencies(producer: Producer, topic: str, rate: int, stop: threading.Event,
                   out: list[tuple[float, float]]) -> None:
    """One record per request: ``send(...).result()`` in a loop, at most ``rate``/s."""
    value = os.urandom(100)
    start = time.perf_counter()
    wall0 = time.time() - start
    sent = 0
    while not stop.is_set():
        t = time.perf_counter()
        producer.send(topic, value=value, partition=sent % PARTITIONS).result()
        out.append((wall0 + t, time.perf_counter() - t))
        sent += 1
        ahead = sent / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)  # pacing, not synchronisation


Loop = Callable[[Producer, str, int, threading.Event, list[tuple[float, float]]], None]


@contextlib.contextmanager
def measuring(cluster: Cluster, loop: Loop, rate: int) -> Iterator[list[tuple[float, float]]]:
    out: list[tuple[float, float]] = []
    stop = threading.Event()
    with Producer(cluster.bootstrap, acks="all", linger_ms=1) as producer:
        worker = threading.Thread(target=loop, args=(producer, "lat", rate, stop, out), daemon=True)
        worker.start()
        try:
            yield out
        finally:
            stop.set()
            worker.join(timeout=120)


class RowCounter:
    """Rows of the Raft journal and the batch index in each node's LMDB file, read through a
    read-only environment (LMDB's table statistics: no scan, one short transaction per call)."""

    def __init__(self, cluster: Cluster) -> None:
        self._envs = {n: lmdb.open(str(data_file(cluster, n).parent), readonly=True, lock=True, max_dbs=16)
                      for n in NODES}

    def rows(self) -> dict[int, int]:
        out = {}
        for node, env in self._envs.items():
            try:
                txn = env.begin()
            except lmdb.MapResizedError:  # the node's file outgrew this reader's map: take its size
                env.set_mapsize(0)
                txn = env.begin()
            with txn:
                out[node] = sum(txn.stat(env.open_db(name, txn=txn, create=False))["entries"]
                                for name in (DB_JOURNAL, DB_OFFSETS))
        return out

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


POLL_S = 0.1


def wait_removed(rows: RowCounter, quiet_s: float, timeout_s: float) -> tuple[float, float, dict[int, int]]:
    """Poll every node's row count; once it has fallen, wait until it has not fallen for ``quiet_s``
    (the latency topic's appends only add rows): the wall times of the poll before the first fall
    and of the last fall, and per node the rows gone between the first poll and the lowest one."""
    before = prev = rows.rows()
    lowest = dict(before)
    first_fall = last_fall = 0.0
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        polled = time.time()
        time.sleep(POLL_S)  # sleep-ok: poll interval of a deadline-bounded wait
        now = rows.rows()
        if any(now[n] < prev[n] for n in NODES):
            first_fall = first_fall or polled
            last_fall = time.time()
        lowest = {n: min(lowest[n], now[n]) for n in NODES}
        prev = now
        if last_fall and time.time() - last_fall > quiet_s:
            return first_fall, last_fall, {n: before[n] - lowest[n] for n in NODES}
    raise AssertionError(f"the removal did not finish in {timeout_s} s")


WARMUP_S = 1.0  # a new producer's first second (connections, metadata) is not measured
TRIMMED = re.compile(r"retention: (?P<topic>[^/ ]+)/(?P<partition>\d+) log start (?P<old>\d+) -> (?P<new>\d+)")


def fill(cluster: Cluster, topic: str, fill_bytes: int, merged: bool) -> float:
    """Records/s of writing ``fill_bytes`` of 1 KiB records; ``merged``: with an idempotent producer
    (stored batches up to 1 MiB), else a plain one (stored batches up to 64 KiB)."""
    value = os.urandom(1024)
    n = fill_bytes // len(value)
    with Producer(cluster.bootstrap, acks="all", linger_ms=5, batch_size=65536,
                  enable_idempotence=merged) as producer:
        start = time.perf_counter()
        for i in range(n):
            producer.send(topic, value=value, partition=i % PARTITIONS)
        producer.flush()
        return n / (time.perf_counter() - start)


def latency_round(cluster: Cluster, loop: Loop, rate: int, fill_topic: str, fill_bytes: int,
                  idle_s: float, merged: bool) -> dict[str, Any]:
    """Fill ``fill_topic``, measure idle, then lower its retention.bytes to 0 and measure while
    the pass removes it."""
    create_topic(cluster, fill_topic, {})
    fill_rate = fill(cluster, fill_topic, fill_bytes, merged)
    sizes = {n: sum(g["size_bytes"] for g in replicas_of(cluster, n, fill_topic)) for n in NODES}
    time.sleep(5)  # the followers' last appends and the fill's fsyncs settle
    with measuring(cluster, loop, rate) as measured:
        idle_from = time.time() + WARMUP_S
        time.sleep(idle_s)
    idle = [(sent, lat) for sent, lat in measured if sent >= idle_from]
    idle_lat = quantiles_ms([lat for _, lat in idle])
    counter = RowCounter(cluster)
    try:
        with measuring(cluster, loop, rate) as during:
            time.sleep(WARMUP_S)
            altered = time.time()
            with Admin(cluster.bootstrap) as admin:
                admin.alter_configs(fill_topic, set={"retention.bytes": 0})
            began_at, removed_at, rows = wait_removed(counter, quiet_s=2, timeout_s=600)
            time.sleep(1)
    finally:
        counter.close()
    trims = [t for n in NODES for t, m in log_lines(cluster, n, TRIMMED) if m["topic"] == fill_topic]
    if len(trims) < PARTITIONS:
        raise AssertionError(f"{len(trims)} trims of {fill_topic} logged, expected one per partition")
    began = min(*trims, began_at)  # a trim's log line follows its apply, and the removal begins at the apply
    window = [lat for sent, lat in during if began <= sent <= removed_at]
    after_alter = [lat for sent, lat in during if altered <= sent <= altered + 10]
    during_lat = quantiles_ms(window)
    return {"fill_records_per_s": fill_rate, "removed_replica_bytes": sizes, "rows_removed": rows,
            "removal_began_after_alter_s": began - altered, "removal_s": removed_at - began,
            "idle": idle_lat, "during": during_lat, "ten_s_after_alter": quantiles_ms(after_alter),
            "p99_ratio": during_lat["p99_ms"] / idle_lat["p99_ms"],
            "achieved_idle_records_per_s": len(idle) / (idle_s - WARMUP_S), "load": load_average(),
            "timeline": timeline(during, began - 1, removed_at + 1, began),
            "idle_samples": [lat for _, lat in idle], "during_samples": window}


def timeline(samples: list[tuple[float, float]], start: float, end: float, zero: float,
             step_s: float = 0.1) -> list[dict[str, float]]:
    """Per ``step_s`` of send time from ``start`` to ``end`` (seconds relative to ``zero``): how many
    records were sent, their median and their largest latency."""
    buckets: dict[int, list[float]] = {}
    for sent, lat in samples:
        if start <= sent < end:
            buckets.setdefault(int((sent - start) / step_s), []).append(lat)
    return [{"t_s": round(start - zero + i * step_s, 3), "records": len(lats),
             "p50_ms": statistics.median(lats) * 1000, "max_ms": max(lats) * 1000}
            for i, lats in sorted(buckets.items())]


def bench_latency(args: argparse.Namespace) -> dict[str, Any]:
    fill_bytes = int(args.fill_mb * MB)
    rounds: dict[str, list[dict[str, Any]]] = {"paced": [], "sync": []}
    pooled: dict[str, dict[str, list[float]]] = {name: {"idle": [], "during": []} for name in rounds}
    loops: dict[str, tuple[Loop, int]] = {"paced": (paced_latencies, args.rate),
                                          "sync": (sync_latencies, args.sync_rate)}
    loops = {name: loop for name, loop in loops.items() if name in args.loops.split(",")}
    rounds = {name: rounds[name] for name in loops}
    with tempfile.TemporaryDirectory(prefix="kraft-retention-latency-") as tmp:
        for i in range(args.runs):
            extra = "log_retention_check_interval_ms = 1000"
            with running_cluster(Path(tmp) / f"run-{i}", extra) as cluster:
                create_topic(cluster, "lat", {})
                for name, (loop, rate) in loops.items():
                    got = latency_round(cluster, loop, rate, f"fill-{name}", fill_bytes, args.idle_s,
                                        args.fill_batches == "merged")
                    pooled[name]["idle"] += got.pop("idle_samples")
                    pooled[name]["during"] += got.pop("during_samples")
                    rounds[name].append(got)
                    print(f"run {i + 1}/{args.runs} {name}: idle p50 {got['idle']['p50_ms']:.1f} "
                          f"p99 {got['idle']['p99_ms']:.1f} ms; during ({got['removal_s']:.1f} s, "
                          f"{got['during']['samples']} samples) p50 {got['during']['p50_ms']:.1f} "
                          f"p99 {got['during']['p99_ms']:.1f} ms; ratio {got['p99_ratio']:.2f}", flush=True)
            shutil.rmtree(Path(tmp) / f"run-{i}", ignore_errors=True)
    results: dict[str, Any] = {"benchmark": "latency", "machine": machine(), "fill_bytes": fill_bytes,
                               "fill_value_bytes": 1024, "value_bytes": 100, "partitions": PARTITIONS,
                               "replication_factor": 3, "fsync": "always", "check_interval_ms": 1000,
                               "paced_rate": args.rate, "sync_rate_cap": args.sync_rate, "idle_s": args.idle_s,
                               "fill_batches": args.fill_batches, "runs": args.runs, "rounds": rounds}
    for name, measured in rounds.items():
        results[name] = {
            "idle_p50_ms": statistics.median(r["idle"]["p50_ms"] for r in measured),
            "idle_p99_ms": statistics.median(r["idle"]["p99_ms"] for r in measured),
            "during_p50_ms": statistics.median(r["during"]["p50_ms"] for r in measured),
            "during_p99_ms": statistics.median(r["during"]["p99_ms"] for r in measured),
            "p99_ratio_median": statistics.median(r["p99_ratio"] for r in measured),
            "removal_s_median": statistics.median(r["removal_s"] for r in measured),
            "pooled_idle": quantiles_ms(pooled[name]["idle"]), "pooled_during": quantiles_ms(pooled[name]["during"])}
        results[name]["pooled_p99_ratio"] = results[name]["pooled_during"]["p99_ms"] / results[name]["pooled_idle"][
            "p99_ms"]
        print(f"latency {name}: {results[name]}", flush=True)
    write_results("latency" if args.fill_batches == "merged" else "latency-64k", results)
    return results


# --- command line ----------------------------------------------------------------------------------
BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "steady": bench_steady, "compaction": bench_compaction, "latency": bench_latency}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retention", description=__doc__.split("\n")[0])
    parser.add_argument("which", choices=[*BENCHMARKS, "all"], nargs="?", default="all")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs (pairs for steady) of each figure")
    steady = parser.add_argument_group("steady")
    steady.add_argument("--minutes", type=float, default=3.0, help="duration of each steady run")
    steady.add_argument("--retention-mb", type=float, default=20.0, help="retention.bytes per partition, in MB")
    steady.add_argument("--sample-s", type=float, default=30.0, help="seconds between disk samples")
    steady.add_argument("--check-interval-ms", type=int, default=30000, help="log_retention_check_interval_ms")
    steady.add_argument("--min-free-gb", type=float, default=25.0, help="end a run early below this much free disk")
    compaction = parser.add_argument_group("compaction")
    compaction.add_argument("--updates", type=int, default=1_000_000)
    compaction.add_argument("--keys", type=int, default=10_000)
    compaction.add_argument("--batch-size", type=int, default=65536, help="producer batch_size in bytes")
    latency = parser.add_argument_group("latency")
    latency.add_argument("--fill-mb", type=float, default=1000.0, help="MB the retention pass removes")
    latency.add_argument("--rate", type=int, default=10_000, help="records/s of the paced loop")
    latency.add_argument("--sync-rate", type=int, default=1_000, help="cap on records/s of the synchronous loop")
    latency.add_argument("--fill-batches", choices=["merged", "64k"], default="merged",
                         help="stored batches of the fill: up to 1 MiB (idempotent producer) or 64 KiB")
    latency.add_argument("--loops", default="paced,sync", help="which latency loops: paced, sync or both")
    latency.add_argument("--idle-s", type=float, default=20.0, help="seconds of the idle measurement")
    args = parser.parse_args()
    for name, bench in BENCHMARKS.items():
        if args.which in (name, "all"):
            bench(args)


if __name__ == "__main__":
    main()
