"""The metadata catalogue at scale (issue 16, target 4): what one metadata operation costs with
10,000 partitions in the catalogue, in-process.

The metadata state machine over a real LMDB store (``fsync`` off: the figures are CPU and bytes,
not the disk), no Raft: a catalogue of ``--partitions`` partitions (topics of ``--per-topic``, RF 3
over 3 registered nodes, every partition with a reported leader and ISR) and two consumer groups
(one with a committed offset for every partition of the catalogue), then each operation is timed
``--repeat`` times (median, with the store's commit) and the bytes it wrote to LMDB are counted:

- create-topic: the proposer's plan and checks (``Broker.check_topic``: placement, the partition
  limits) and the apply of a 10-partition ``create_topic``;
- leader report: one ``partition_leader`` apply (what every node applies for each leader change);
- offset commit: one offset of a small group, and one offset of the group with 10,000 offsets;
- Metadata request for one topic (``Broker.metadata``);
- the replica manager's work after a change (which partitions this node must host);
- start-up: loading the catalogue from its rows.

``python -m benchmarks.catalogue micro`` (``make bench-catalogue``); the revision of the tree it
runs in is what it measures (run it in an older checkout for the figures before).

``python -m benchmarks.catalogue create``: a real 3-node cluster (RF 3, fsync always, the partition
limits raised in its cluster.ini) creates a topic of ``--partitions`` (1,000) partitions; reported:
how long the create request took, and how long until every partition has a leader in the metadata
(polled every 0.1 s from one node); ``--runs`` fresh clusters, medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from kraft.config import ClusterConfig, parse_config
from kraft.log.lmdb_store import LmdbStore
from kraft.log.rows import MetadataRows
from kraft.node.broker import Broker
from kraft.state.metadata import METADATA_GID, MetadataMachine, MetadataView, encode_command

NODES = (1, 2, 3)


class CountingStore(LmdbStore):
    """An LMDB store that counts the bytes written (keys and values) since ``reset``."""

    written = 0

    def put(self, table: bytes, key: bytes, value: bytes) -> None:
        self.written += len(key) + len(value)
        super().put(table, key, value)

    def reset(self) -> None:
        self.written = 0


class _Group:
    """The metadata group as the broker sees it: no leader here, no members (no Raft in this bench)."""

    def configuration(self) -> tuple[frozenset[int], frozenset[int]]:
        return frozenset(NODES), frozenset()

    def leader_id(self) -> int | None:
        return 1

    def leadership_ready(self) -> bool:
        return True


class _Clock:
    def now(self) -> float:
        return time.monotonic()


class _Host:
    clock = _Clock()


class _Replicas:
    """What ``Broker`` reads of a node's replica manager: the metadata machine and its group."""

    def __init__(self, machine: MetadataMachine) -> None:
        self.metadata = machine
        self.meta_group = _Group()
        self.partitions: dict[int, Any] = {}


def _config(partitions: int) -> ClusterConfig:
    nodes = "\n".join(f"[node.{n}]\nhost = 127.0.0.1\nclient_port = {19000 + n}\nraft_port = {19100 + n}\n"
                      for n in NODES)
    return parse_config(f"[cluster]\nreplication_factor = 3\npartitions = 10\nmax_partitions_per_node = "
                        f"{partitions * 2}\nmax_partitions_per_topic = {partitions}\n{nodes}")


def reconcile_cost(machine: MetadataMachine, before: MetadataView) -> Callable[[], object]:
    """What the replica manager computes after the view changed: the partitions this node hosts
    (the changed topics' only, where the metadata module can tell which changed)."""
    try:
        from kraft.state.metadata import hosted_changes  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # before rows per topic: the whole catalogue, on every change
        return lambda: machine.view.partitions_on(1)
    return lambda: hosted_changes(before, machine.view, 1)


class Bench:
    def __init__(self, path: Path, partitions: int, per_topic: int) -> None:
        self.store = CountingStore(path, fsync=False, map_size_mb=4096)
        self.machine = MetadataMachine(MetadataRows(self.store, METADATA_GID))
        self.index = self.machine.last_applied
        self.config = _config(partitions)
        self.broker = Broker(self.config, 1, cast(Any, _Host()), cast(Any, _Replicas(self.machine)))
        self.partitions = partitions
        self.per_topic = per_topic

    def apply(self, payload: bytes) -> Any:
        self.index += 1
        result = self.machine.apply(self.index, payload)
        self.store.commit()
        return result

    def build(self) -> None:
        for n in NODES:
            self.apply(encode_command("register_node", id=n, host="127.0.0.1", client_port=19000 + n,
                                      raft_port=19100 + n, rack=None))
        topics = self.partitions // self.per_topic
        for i in range(topics):
            assignment = [[NODES[(p + k) % 3] for k in range(3)] for p in range(self.per_topic)]
            self.apply(encode_command("create_topic", name=f"t{i}", assignment=assignment, configs={}))
        for topic in self.machine.view.topics.values():
            for p in topic.partitions:
                self.apply(encode_command("partition_leader", topic_id=topic.topic_id, partition=p.partition,
                                          leader=p.replicas[0], term=1, isr=list(p.replicas)))
        offsets = [[f"t{i}", p, 1] for i in range(topics) for p in range(self.per_topic)]
        self.apply(encode_command("commit_offsets", commits=[{"group": "big", "generation": -1, "offsets": offsets}]))
        self.apply(encode_command("commit_offsets", commits=[{"group": "small", "generation": -1,
                                                               "offsets": [["t0", 0, 1]]}]))

    def time(self, name: str, repeat: int, op: Callable[[int], object]) -> dict[str, Any]:
        samples, written = [], []
        for i in range(repeat):
            self.store.reset()
            start = time.perf_counter()
            op(i)
            samples.append(time.perf_counter() - start)
            written.append(self.store.written)
        return {"op": name, "median_us": statistics.median(samples) * 1e6, "p90_us":
                sorted(samples)[int(len(samples) * 0.9)] * 1e6, "bytes": int(statistics.median(written))}

    def run(self, repeat: int) -> list[dict[str, Any]]:
        topics = self.partitions // self.per_topic
        rows = []
        created = [0]

        def create(i: int) -> None:
            name = f"new{created[0]}"
            created[0] += 1
            self.broker.check_topic(name, 10, 3, None)  # the proposer's plan and limit checks
            assignment = [[NODES[(p + k) % 3] for k in range(3)] for p in range(10)]
            self.apply(encode_command("create_topic", name=name, assignment=assignment, configs={}))

        rows.append(self.time("create-topic (10 partitions)", repeat, create))

        def report(i: int) -> None:
            topic = self.machine.view.topics[f"t{i % topics}"]
            self.apply(encode_command("partition_leader", topic_id=topic.topic_id, partition=i % self.per_topic,
                                      leader=2, term=2 + i, isr=[2, 3]))

        rows.append(self.time("leader report", repeat, report))
        for group in ("small", "big"):
            def commit(i: int, group: str = group) -> None:
                self.apply(encode_command("commit_offsets", commits=[{"group": group, "generation": -1,
                                                                       "offsets": [["t1", i % self.per_topic, i]]}]))

            rows.append(self.time(f"offset commit ({group} group)", repeat, commit))
        rows.append(self.time("Metadata request, one topic", repeat,
                              lambda i: self.broker.metadata([f"t{i % topics}"])))

        def changed(i: int) -> None:
            before = self.machine.view
            report(i)
            self.store.reset()
            reconcile_cost(self.machine, before)()

        rows.append(self.time("leader report + hosted partitions", repeat, changed))

        def load(i: int) -> None:
            MetadataMachine(MetadataRows(self.store, METADATA_GID))

        rows.append(self.time("start-up load", max(3, repeat // 20), load))
        return rows


def micro(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kraft-catalogue-") as tmp:
        bench = Bench(Path(tmp), args.partitions, args.per_topic)
        start = time.perf_counter()
        bench.build()
        print(f"catalogue: {args.partitions} partitions in {args.partitions // args.per_topic} topics, "
              f"built in {time.perf_counter() - start:.1f} s")
        print(f"{'operation':38} {'median':>12} {'p90':>12} {'LMDB bytes':>12}")
        for row in bench.run(args.repeat):
            print(f"{row['op']:38} {row['median_us']:>9.0f} us {row['p90_us']:>9.0f} us {row['bytes']:>12,}")
        bench.store.close()


def create_once(partitions: int, timeout_s: float) -> tuple[float, float, float]:
    """One fresh 3-node cluster: (seconds the create request took, seconds until every partition
    had a leader in the metadata, seconds until the first had one)."""
    import shutil

    from kraft.testing.local_cluster import Cluster

    root = Path(tempfile.mkdtemp(prefix="kraft-bench-create-"))
    extra = f"max_partitions_per_topic = {partitions}\nmax_partitions_per_node = {partitions * 2}"
    cluster = Cluster(root, 3, fsync="always", rf=3, extra=extra)
    try:
        cluster.start_all()
        start = time.perf_counter()
        code, body = cluster.call(1, "create_topic", {"name": "many", "partitions": partitions,
                                                      "replication_factor": 3})
        created = time.perf_counter() - start
        assert code == 0, body
        first = None
        deadline = start + timeout_s
        while time.perf_counter() < deadline:
            leaders = cluster.leaders("many")
            led = sum(v is not None for v in leaders.values())
            if led and first is None:
                first = time.perf_counter() - start
            if len(leaders) == partitions and led == partitions:
                return created, time.perf_counter() - start, first or 0.0
            time.sleep(0.1)  # a poll interval, not synchronisation: the deadline bounds it
        raise TimeoutError(f"not every partition had a leader after {timeout_s} s ({led} of {partitions})")
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def create(args: argparse.Namespace) -> None:
    import os
    import platform

    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    runs = []
    for i in range(args.runs):
        created, led, first = create_once(args.partitions, args.timeout_s)
        runs.append((created, led, first))
        print(f"run {i + 1}: create answered in {created:.2f} s, first leader at {first:.2f} s, "
              f"every partition led at {led:.2f} s")
    print(f"{args.partitions} partitions, RF 3, 3 nodes: create answered (median) "
          f"{statistics.median(r[0] for r in runs):.2f} s, every partition led (median) "
          f"{statistics.median(r[1] for r in runs):.2f} s (target < 10 s), "
          f"spread {min(r[1] for r in runs):.2f}-{max(r[1] for r in runs):.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="bench", required=True)
    m = sub.add_parser("micro", help="one operation at a time over a 10,000-partition catalogue, in-process")
    m.add_argument("--partitions", type=int, default=10_000)
    m.add_argument("--per-topic", type=int, default=100)
    m.add_argument("--repeat", type=int, default=200)
    c = sub.add_parser("create", help="a 1,000-partition topic created on a real 3-node cluster")
    c.add_argument("--partitions", type=int, default=1_000)
    c.add_argument("--runs", type=int, default=3)
    c.add_argument("--timeout-s", type=float, default=180.0)
    args = p.parse_args()
    micro(args) if args.bench == "micro" else create(args)


if __name__ == "__main__":
    main()
