"""The cost of a write's path through Raft, two ways (issue 16, targets 1 and 5):

- ``cpu``: confluent-kafka (librdkafka) produces ``--records`` 100-byte records (acks=all, linger 5 ms,
  64 KiB batches) into a fresh 3-node cluster (RF 3, ``fsync = always``, 6 partitions), per run: the
  rate, the nodes' CPU per record (utime + stime of every node process over the run, in
  microseconds per record, all three nodes together), the client's CPU and the machine's busy share.
  On this 2-core VM the client and the nodes share the cores, so the rate follows the machine's load
  while the CPU per record is what a change to the nodes moves.
- ``codec``: the Kafka listener's cost per Produce request before and after Raft: decoding a
  Produce request (2 partitions of 65,000-byte record batches, as librdkafka sends to one broker)
  and encoding its answer, per version, in microseconds (in this process, no cluster).
- ``latency``: one record at a time (kraft's Producer, acks=all, ``linger_ms=0``, one partition):
  the client's p50/p90/p99, and from the leader's ``/metrics`` the mean proposal commit (submit to
  applied and durable), request and store-commit (fsync) times.

To compare two revisions, run it once per side in alternation, each with the other checkout on
``PYTHONPATH`` (``git worktree add --detach /tmp/base <rev>``; then ``cd /tmp && PYTHONPATH=/tmp/base
python -m benchmarks.raft_path cpu``): the nodes are started from whatever ``kraft`` imports.
Every node process is stopped by its pid.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.kafka_clients import confluent_produce_to
from kraft import Admin, Producer
from kraft.testing.local_cluster import Cluster

PARTITIONS = 6
VALUE = os.urandom(100)
TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _machine() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def cpu(runs: int, records: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kraft-raft-path-") as tmp:
        cluster = Cluster(Path(tmp), 3, fsync="always")
        try:
            cluster.start_all()
            with Admin(cluster.bootstrap) as admin:
                per_record: list[float] = []
                rates: list[float] = []
                for run in range(runs):
                    topic = f"cpu-{run}"
                    admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
                    cluster.wait_leaders(topic)
                    pids = [p.pid for p in cluster.procs.values()]
                    nodes0 = sum(_proc_cpu_s(pid) for pid in pids)
                    self0 = resource.getrusage(resource.RUSAGE_SELF)
                    total0, idle0 = _machine()
                    rate = confluent_produce_to(cluster.kafka_bootstrap, topic, records, VALUE)
                    total1, idle1 = _machine()
                    self1 = resource.getrusage(resource.RUSAGE_SELF)
                    nodes = sum(_proc_cpu_s(pid) for pid in pids) - nodes0
                    client = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
                    elapsed = records / rate
                    busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
                    per_record.append(nodes / records * 1e6)
                    rates.append(rate)
                    print(f"run {run + 1}: {rate:,.0f} records/s, nodes {per_record[-1]:.2f} us of CPU per record, "
                          f"client {100 * client / elapsed:.0f} % of a core, machine {100 * busy:.0f} % busy, "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
                print(f"median: {statistics.median(rates):,.0f} records/s, "
                      f"{statistics.median(per_record):.2f} us of node CPU per record")
        finally:
            cluster.stop_all()


def _leader_means(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    sums: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        m = re.match(r'(kraft_raft_commit_duration_seconds|kraft_store_fsync_duration_seconds|'
                     r'kraft_request_duration_seconds)_(sum|count)(\{api="produce"[^}]*\})? (\S+)', line)
        if m and (m.group(1) != "kraft_request_duration_seconds" or m.group(3)):
            sums[(m.group(1), m.group(2))] = sums.get((m.group(1), m.group(2)), 0.0) + float(m.group(4))
    return {name: 1000 * sums.get((name, "sum"), 0.0) / sums[(name, "count")]
            for name in ("kraft_raft_commit_duration_seconds", "kraft_store_fsync_duration_seconds",
                         "kraft_request_duration_seconds") if sums.get((name, "count"))}


def latency(records: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kraft-raft-path-") as tmp:
        cluster = Cluster(Path(tmp), 3, fsync="always", http=True)
        try:
            cluster.start_all()
            with Admin(cluster.bootstrap) as admin:
                admin.create_topic("lat", partitions=1, replication_factor=3)
            cluster.wait_leaders("lat")
            with Producer(cluster.bootstrap, acks="all", linger_ms=0) as producer:
                for _ in range(20):
                    producer.send("lat", value=VALUE, partition=0).result(10)
                took: list[float] = []
                for _ in range(records):
                    started = time.perf_counter()
                    producer.send("lat", value=VALUE, partition=0).result(10)
                    took.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.003)  # sleep-ok: one record at a time, paced
            q = statistics.quantiles(took, n=100)
            line = f"client p50 {q[49]:.2f} ms, p90 {q[89]:.2f}, p99 {q[98]:.2f} (load {os.getloadavg()[0]:.2f})"
            for node, port in cluster.http_ports.items():
                means = _leader_means(port)
                if means.get("kraft_request_duration_seconds") is not None:
                    line += (f"; leader node {node}: proposal commit {means['kraft_raft_commit_duration_seconds']:.2f}"
                             f" ms, request {means['kraft_request_duration_seconds']:.2f} ms, store commit "
                             f"{means.get('kraft_store_fsync_duration_seconds', 0.0):.2f} ms")
            print(line)
        finally:
            cluster.stop_all()


def codec(rounds: int) -> None:
    import io

    from kraft.protocol.kafka import codec as kafka_codec

    for version in (3, 7, 9):
        schema = kafka_codec._request_schema(0, version)
        header = schema.__header_schema__
        out = io.BytesIO()
        kafka_codec._writer(header)(out, kafka_codec.build(header, {
            "request_api_key": 0, "request_api_version": version, "correlation_id": 7, "client_id": "rdkafka"}))
        kafka_codec._writer(schema)(out, kafka_codec.build(schema, {
            "transactional_id": None, "acks": -1, "timeout": 30000,
            "topic_data": [{"name": "t", "partition_data": [{"index": p, "records": os.urandom(65_000)}
                                                            for p in range(2)]}]}))
        frame = out.getvalue()
        answer = {"responses": [{"name": "t", "partition_responses": [
            {"index": p, "error_code": 0, "base_offset": 1234, "log_append_time_ms": -1, "log_start_offset": 0}
            for p in range(2)]}], "throttle_time_ms": 0}
        started = time.perf_counter()
        for _ in range(rounds):
            kafka_codec.decode_request(frame)
        decode = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for _ in range(rounds):
            kafka_codec.encode_response(0, version, 7, answer)
        encode = (time.perf_counter() - started) / rounds
        print(f"Produce v{version}: decode {decode * 1e6:.1f} us, encode the answer {encode * 1e6:.1f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=("cpu", "latency", "codec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--records", type=int, default=0, help="default: 400,000 (cpu), 600 (latency)")
    args = ap.parse_args()
    if args.workload == "cpu":
        cpu(args.runs, args.records or 400_000)
    elif args.workload == "codec":
        codec(args.records or 3000)
    else:
        latency(args.records or 600)


if __name__ == "__main__":
    sys.exit(main())
