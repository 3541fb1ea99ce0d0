"""A seeded chaos run: a real 3-node cluster, producers, a nemesis, and a checker at the end.

``python -m tests.faults.chaos --duration 600 --seed 7`` (or ``make chaos DURATION=600``). The
nemesis picks, every few seconds, one of: kill -9 a random node (restarted a few seconds later),
kill -9 the leader of a partition, kill -9 the metadata leader, SIGSTOP a node for longer than the
election timeout, cut a node off (network partition), or make the network lossy and duplicating.
After the last fault the cluster heals; the checker then reads every partition and every replica.

Checked: every acknowledged record is present at its acknowledged offset; no value is at two offsets
(the producer is idempotent, so retries must not duplicate — reported, and an error once the
idempotent producer is on by default); every replica holds the same committed log; the cluster
accepts writes again within ``RECOVERY_BOUND_S`` of healing.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.raft.metadata_machine import partition_gid
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.replica_log import read_replica

PARTITIONS = 3
RECOVERY_BOUND_S = 15.0
TOPIC = "chaos"


@dataclass
class Tally:
    operations: int = 0
    faults: list[str] = field(default_factory=list)
    acked: list[tuple[int, int, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def produce(bootstrap: str, tally: Tally, stop: threading.Event, worker: int) -> None:
    producer = Producer(bootstrap, acks="all", linger_ms=2, request_timeout_ms=3000, delivery_timeout_ms=120_000)
    i = 0
    try:
        while not stop.is_set():
            window = []
            for _ in range(20):
                value = b"p%d-%08d" % (worker, i)
                window.append((value, producer.send(TOPIC, value=value, partition=i % PARTITIONS)))
                i += 1
            for value, fut in window:
                with tally.lock:
                    tally.operations += 1
                try:
                    meta = fut.result(timeout=150)
                except Exception:
                    continue  # unacknowledged: may or may not be in the log, never twice
                with tally.lock:
                    tally.acked.append((meta.partition, meta.offset, value))
    finally:
        producer.close()


class Nemesis:
    def __init__(self, cluster: Cluster, rng: random.Random, tally: Tally) -> None:
        self.cluster = cluster
        self.rng = rng
        self.tally = tally

    def leader_of(self, partition: int) -> int | None:
        try:
            return self.cluster.leaders(TOPIC).get(partition)
        except Exception:
            return None

    def metadata_leader(self) -> int | None:
        for node in self.cluster.alive():
            try:
                _, md = self.cluster.call(node, "metadata", {"topics": []})
                return md["controller"]
            except Exception:
                continue
        return None

    def one_fault(self) -> None:
        c, rng = self.cluster, self.rng
        kind = rng.choice(["kill", "kill_leader", "kill_metadata_leader", "pause", "partition", "lossy"])
        nodes = sorted(c.procs)
        target = rng.choice(nodes)
        if kind == "kill_leader":
            target = self.leader_of(rng.randrange(PARTITIONS)) or target
        elif kind == "kill_metadata_leader":
            target = self.metadata_leader() or target
        self.tally.faults.append(f"{kind}:{target}")
        if kind.startswith("kill"):
            c.kill(target, signal.SIGKILL)
            time.sleep(rng.uniform(1, 4))  # sleep-ok: how long the node stays down is the fault
            c.start(target)
            wait_for(lambda: c._listening(target), 30, f"node {target} back")
        elif kind == "pause":
            c.kill(target, signal.SIGSTOP)
            time.sleep(rng.uniform(3.5, 6))  # sleep-ok: longer than the election timeout, on purpose
            c.kill(target, signal.SIGCONT)
        elif kind == "partition":
            c.partition({target})
            time.sleep(rng.uniform(2, 6))  # sleep-ok: the partition's length is the fault
            c.heal()
        else:
            for node in c.alive():
                c.call(node, "debug_faults", {"loss": 0.05, "duplicate": 0.05, "seed": rng.randrange(1 << 30)})
            time.sleep(rng.uniform(2, 5))  # sleep-ok: the lossy period is the fault
            c.heal()


def check(cluster: Cluster, tally: Tally) -> dict[str, Any]:
    with Admin(cluster.bootstrap) as admin:
        ends = {p.partition: p.high_watermark for p in admin.describe_topic(TOPIC).partitions}
    consumer = Consumer(cluster.bootstrap)
    seen: dict[tuple[int, int], bytes | None] = {}
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps) and time.monotonic() < deadline:
            for rec in consumer.poll(timeout_ms=500):
                seen[(rec.partition, rec.offset)] = rec.value
    finally:
        consumer.close()
    lost = [(p, o) for p, o, v in tally.acked if seen.get((p, o)) != v]
    values = [v for v in seen.values()]
    duplicated = len(values) - len(set(values))
    wait_for(lambda: all(g["high_watermark"] >= ends[g["partition"]] for n in cluster.procs
                         for g in cluster.node_status(n)["groups"]), 90, "every replica to catch up")
    cluster.stop_all()
    divergent = 0
    for p in range(PARTITIONS):
        logs = [read_replica(cluster.root / "data" / str(n), partition_gid(1, p)) for n in sorted(cluster.procs)]
        if any(log[: ends[p]] != logs[0][: ends[p]] for log in logs):
            divergent += 1
    return {"acknowledged": len(tally.acked), "lost": len(lost), "lost_examples": lost[:5],
            "duplicated": duplicated, "divergent_replicas": divergent}


def run(duration_s: float, seed: int, root: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    cluster = Cluster(root, 3, faults=True)
    tally = Tally()
    stop = threading.Event()
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
        cluster.wait_leaders(TOPIC)
        workers = [threading.Thread(target=produce, args=(cluster.bootstrap, tally, stop, w), daemon=True)
                   for w in range(2)]
        for w in workers:
            w.start()
        nemesis = Nemesis(cluster, rng, tally)
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            time.sleep(rng.uniform(0.5, 2))  # sleep-ok: quiet time between faults
            nemesis.one_fault()
        cluster.heal()
        healed = time.monotonic()
        before = len(tally.acked)
        wait_for(lambda: len(tally.acked) > before + 100, RECOVERY_BOUND_S, "writes after the last fault")
        recovery_s = time.monotonic() - healed
        stop.set()
        for w in workers:
            w.join(timeout=200)
        result = check(cluster, tally)
        result.update({"seed": seed, "operations": tally.operations, "faults_injected": len(tally.faults),
                       "faults": tally.faults, "recovery_s": round(recovery_s, 2)})
        return result
    finally:
        stop.set()
        cluster.stop_all()


def summary(result: dict[str, Any]) -> str:
    return (f"seed {result['seed']}: operations {result['operations']}, faults injected "
            f"{result['faults_injected']}, acknowledged {result['acknowledged']}, lost {result['lost']}, "
            f"duplicated {result['duplicated']}, divergent replicas {result['divergent_replicas']}, "
            f"recovery {result['recovery_s']}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.duration, args.seed, Path(tmp))
    print(json.dumps(result, indent=2))
    print(summary(result))
    raise SystemExit(0 if not result["lost"] and not result["divergent_replicas"] else 1)


if __name__ == "__main__":
    main()
