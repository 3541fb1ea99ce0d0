"""How long one ``/metrics`` answer takes to build with many partitions (issue 15: within 100 ms with
3,000).

Builds ``kraft.node.metrics.NodeCollector`` over a synthetic snapshot of N partition replicas (a
third led here, each leader with two followers' lag, a consumer group committed on every led
partition) and request stats of every API, then times ``kraft.node.exposition.generate`` (the
collector, the process collector and the text exposition, what the HTTP handler does) with
per-partition series on and off, and prometheus_client's ``generate_latest`` of the same registry
(what the handler did before the per-partition families wrote their own text). It does not time
reading the node's state into the snapshot (``kraft.node.observe``: one LMDB read transaction, a
state row and an index row per partition), which the integration tests run.

    python -m benchmarks.metrics_scrape [--partitions 3000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from kraft.node.exposition import generate
from kraft.node.metrics import (
    GroupLag,
    ListenerSample,
    NodeCollector,
    NodeSnapshot,
    PartitionSample,
    StoreUsage,
    registry,
)
from kraft.node.stats import NodeStats

TARGET_MS = 100.0


def synthetic_snapshot(partitions: int) -> NodeSnapshot:
    parts = []
    lags = []
    for i in range(partitions):
        topic, p = f"topic-{i // 30:04d}", i % 30
        leads = i % 3 == 0
        parts.append(PartitionSample(topic, p, 1 if leads else 2, leads, leads and i % 7 == 0,
                                     {2: i % 5, 3: 0} if leads else {}, i, i * 10, i * 4096, False))
        if leads:
            lags.append(GroupLag("group-a", topic, p, i % 11))
    return NodeSnapshot(node_id=1, partitions=parts, metadata_leader=True, offline_partitions=0,
                        store=StoreUsage(1 << 34, 4096, 100_000), listeners=[ListenerSample("kraft", 10, 100, 0)],
                        group_lag=lags, groups=1, group_members=3, rebalances=2, producer_ids_issued=10,
                        peers_connected={2: True, 3: True})


def synthetic_stats(topics: int) -> NodeStats:
    stats = NodeStats()
    for front_end in ("kraft", "kafka"):
        for api in ("produce", "fetch", "metadata", "list_offsets", "offset_commit", "heartbeat"):
            for n in range(50):
                stats.requests.started(front_end)
                stats.requests.finished(front_end, api, n / 1000, "NOT_LEADER_OR_FOLLOWER" if n == 0 else None)
    for t in range(topics):
        stats.traffic.produced(f"topic-{t:04d}", 1000, 10)
        stats.traffic.fetched(f"topic-{t:04d}", 1000, 10)
    return stats


def time_scrape(partitions: int, rounds: int, per_partition: bool,
                render: Callable[[CollectorRegistry], bytes] = generate) -> tuple[float, float, int]:
    """(median ms, max ms, bytes) of ``rounds`` scrapes written by ``render``."""
    snapshot = synthetic_snapshot(partitions)
    reg = registry(NodeCollector(lambda: snapshot, synthetic_stats(partitions // 30 + 1), per_partition=per_partition))
    times = []
    size = 0
    for _ in range(rounds):
        started = time.perf_counter()
        size = len(render(reg))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    for per_partition, render in ((True, generate), (False, generate), (True, generate_latest)):
        median, worst, size = time_scrape(args.partitions, args.rounds, per_partition, render)
        verdict = "ok" if median <= TARGET_MS else f"OVER the {TARGET_MS:g} ms target"
        print(f"{args.partitions} partitions, metrics_per_partition={str(per_partition).lower()}, "
              f"{render.__module__}.{render.__name__}: "
              f"median {median:.1f} ms, max {worst:.1f} ms, {size / 1024:.0f} KiB ({verdict})")


if __name__ == "__main__":
    main()
