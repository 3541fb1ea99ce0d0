"""A seeded chaos run: a real cluster of 3 (or more) nodes, producers, a nemesis, and a checker at the end.

``python -m tests.faults.chaos --duration 600 --seed 7 [--nodes 5]`` (or ``make chaos
DURATION=600``). The nemesis picks, every few seconds, one of: kill -9 a random node (restarted a
few seconds later), kill -9 the leader of a partition, kill -9 the metadata leader, kill -9 every
node and restart them all, SIGSTOP a node for longer than the election timeout, cut a node off
(minority partition), a bridge (two nodes cannot see each other, a third sees both), or a lossy,
duplicating and sometimes slow (20 or 150 ms) network, or a partition move (reassignment of a
random partition to random nodes: with more nodes than replicas a real move, with as many a new
preferred leader; the move goes on through the faults that follow). With spare nodes in cluster.ini
(2 by default from 5 nodes on) also: add-node (a spare starts with an empty disk, registers, and a
rebalance moves replicas onto it; always the first fault) and decommission (a started node's replicas
move off it through the faults that follow; once it holds none and has left the metadata group it is
stopped for good). After the last
fault the cluster heals, every move finishes and every drained node stops; the checker then reads
every partition and every final replica.

Workloads: idempotent producers sending unique values; a consumer group of two members committing
what they read; a producer of updates over 50 keys to a compacted topic, which the leaders compact
every few seconds all through the faults (so nodes are killed in the middle of passes); librdkafka's
producer without idempotence sending batches of five records through the Kafka listener, many in
flight, so that leaders join them into sets (one Raft entry for several batches); at the end, a
reader of every partition from the start, and every replica's log.

Checked: every acknowledged record is present at its acknowledged offset; no value is at two offsets
(idempotent producer); every replica holds the same committed log; group members never see offsets
go backwards while they hold a partition; the group's committed offsets never move backwards; the
cluster accepts writes again within ``RECOVERY_BOUND_S`` of healing. On the compacted topic: the
latest acknowledged update of every key is still there (or a later one), and every replica holds the
same records from its log start. On librdkafka's topic: every acknowledged record is at its
acknowledged offset (a retried batch may be there twice: at-least-once without idempotence), and
every replica holds the same log. Every partition ends with 3 replicas, all on nodes still running
(none on a decommissioned node).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import signal
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kraft import Admin, Consumer, KraftError, Producer, TopicPartition
from kraft.apis.types import PartitionInfo
from kraft.errors import BrokerIdNotRegistered, NotEnoughNodes
from kraft.metrics_client import parse_samples
from kraft.state.metadata import partition_gid
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.replica_log import read_replica

PARTITIONS = 3
RECOVERY_BOUND_S = 15.0
TOPIC = "chaos"
TABLE = "chaos-table"  # compacted all through the run
TABLE_PARTITIONS = 2
TABLE_KEYS = 50
KAFKA_TOPIC = "chaos-kafka"  # librdkafka's producer without idempotence: batches joined into sets
TABLE_CONFIG = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.05", "delete.retention.ms": "1000"}


@dataclass
class Tally:
    operations: int = 0
    faults: list[str] = field(default_factory=list)
    acked: list[tuple[int, int, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    consumed: int = 0
    backwards_reads: list[str] = field(default_factory=list)
    backwards_commits: list[str] = field(default_factory=list)
    table_acked: list[tuple[int, int, bytes, bytes]] = field(default_factory=list)  # partition, offset, key, value
    kafka_acked: list[tuple[int, int, bytes]] = field(default_factory=list)  # partition, offset, value
    stale_move_lists: list[str] = field(default_factory=list)  # see moves_finished


GROUP = "chaos-readers"


def consume(bootstrap: str, tally: Tally, stop: threading.Event, member: int) -> None:
    """A group member that commits what it read; offsets it sees must only go up while it holds a
    partition (a rebalance may move it back to the committed offset: at-least-once, never a skip)."""
    last: dict[int, int] = {}

    def on_assign(tps: list[TopicPartition]) -> None:
        for tp in tps:
            last.pop(tp.partition, None)

    consumer = Consumer(bootstrap, group_id=GROUP, enable_auto_commit=False, session_timeout_ms=6000,
                        heartbeat_interval_ms=1000, client_id=f"chaos-{member}", request_timeout_ms=5000)
    try:
        consumer.subscribe([TOPIC], on_assign=on_assign)
        while not stop.is_set():
            try:
                records = consumer.poll(timeout_ms=300)
                for rec in records:
                    prev = last.get(rec.partition)
                    if prev is not None and rec.offset <= prev:
                        tally.backwards_reads.append(f"member {member} p{rec.partition}: {prev} then {rec.offset}")
                    last[rec.partition] = rec.offset
                tally.consumed += len(records)
                if records:
                    consumer.commit()
            except KraftError:
                continue  # fenced, moved coordinator, leader changes: the next poll rejoins or retries
    finally:
        try:
            consumer.close()
        except KraftError:
            pass


def watch_commits(bootstrap: str, tally: Tally, stop: threading.Event) -> None:
    """Committed offsets of the group, sampled: they must never move backwards."""
    seen: dict[int, int] = {}
    admin = Admin(bootstrap, request_timeout_ms=3000)
    try:
        while not stop.wait(0.5):
            try:
                offsets = admin.describe_group(GROUP).offsets
            except KraftError:
                continue
            for o in offsets:
                if o.committed is None:
                    continue
                if o.committed < seen.get(o.partition, -1):
                    tally.backwards_commits.append(f"p{o.partition}: {seen[o.partition]} then {o.committed}")
                seen[o.partition] = max(seen.get(o.partition, -1), o.committed)
    finally:
        admin.close()


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


def produce_table(bootstrap: str, tally: Tally, stop: threading.Event) -> None:
    producer = Producer(bootstrap, acks="all", linger_ms=2, request_timeout_ms=3000, delivery_timeout_ms=120_000)
    i = 0
    try:
        while not stop.is_set():
            window = []
            for _ in range(10):
                key, value = b"key-%d" % (i % TABLE_KEYS), b"u%08d" % i
                window.append((key, value, producer.send(TABLE, key=key, value=value)))
                i += 1
            for key, value, fut in window:
                try:
                    meta = fut.result(timeout=150)
                except Exception:
                    continue
                with tally.lock:
                    tally.table_acked.append((meta.partition, meta.offset, key, value))
    finally:
        producer.close()


def produce_kafka(kafka_bootstrap: str, tally: Tally, stop: threading.Event) -> None:
    """librdkafka's producer without idempotence, batches of five records sent at once: a leader
    finds several of them queued together and joins them into one entry."""
    from confluent_kafka import Producer as CKProducer

    producer = CKProducer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "linger.ms": 0,
                           "batch.num.messages": 5, "enable.idempotence": False, "message.timeout.ms": 60_000,
                           "queue.buffering.max.messages": 20_000, "log_level": 3})

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            with tally.lock:
                tally.kafka_acked.append((msg.partition(), msg.offset(), msg.value()))

    i = 0
    while not stop.wait(0.01):  # sleep-ok: paces it at about 2,000 records a second
        for _ in range(20):
            try:
                producer.produce(KAFKA_TOPIC, value=b"c%08d" % i, partition=i % PARTITIONS, on_delivery=delivered)
            except BufferError:
                break  # its queue is full while the cluster is down: deliveries drain it
            i += 1
        producer.poll(0)
    producer.flush(90)


class Nemesis:
    def __init__(self, cluster: Cluster, rng: random.Random, tally: Tally) -> None:
        self.cluster = cluster
        self.rng = rng
        self.tally = tally
        self.decommissioning: set[int] = set()  # asked to leave, still running until it holds nothing
        self.added: list[int] = []

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
        self.retire_drained()
        kinds = ["kill", "kill_leader", "kill_metadata_leader", "kill_all", "pause", "partition", "bridge",
                 "lossy", "move"]
        # Only with spare nodes (none in a 3-node run, whose seeds so replay as before). A run with
        # spares grows first, so even a short one has a node joining and moves going on under faults.
        if c.never_started():
            kinds.append("add_node")
        if self.may_decommission():
            kinds += ["decommission"] * 2  # rarer than it looks: allowed only once the cluster has grown
        kind = "add_node" if c.never_started() and not self.added else rng.choice(kinds)
        if kind == "add_node":
            self.add_node()
            return
        if kind == "decommission":
            self.decommission()
            return
        nodes = sorted(c.procs)
        target = rng.choice(nodes)
        in_move = False  # the target was chosen for being in a move (the fault log says so)
        # A leader as some node last saw it may be a node stopped for good since: the random one then.
        if kind == "kill_leader":
            leader = self.leader_of(rng.randrange(PARTITIONS))
            target = leader if leader in c.procs else target
        elif kind == "kill_metadata_leader":
            leader = self.metadata_leader()
            target = leader if leader in c.procs else target
        elif kind in ("kill", "pause", "partition"):
            # Half the time, a node joining or leaving a partition: moves are short, and a fault in
            # the middle of one (a learner catching up, a replica being drained) is the point. No
            # such node (3 nodes: a move there only reorders) draws nothing, so those seeds replay.
            moving = sorted(self.moving_nodes() & set(nodes))
            if moving and rng.random() < 0.5:
                target = rng.choice(moving)
                in_move = True
        if kind == "move":
            self.move(rng.choice([(TOPIC, rng.randrange(PARTITIONS)), (TABLE, rng.randrange(TABLE_PARTITIONS))]))
            return
        self.tally.faults.append(f"{kind}:{target}" + (" (moving)" if in_move else ""))
        if kind == "kill_all":
            killed = c.alive()  # not the spares never started, nor retired nodes
            for node in killed:
                c.kill(node, signal.SIGKILL)
            time.sleep(rng.uniform(0.5, 2))  # sleep-ok: how long the cluster stays down is the fault
            c.start_nodes(killed)
        elif kind == "bridge":
            a, b = rng.sample(nodes, 2)  # a and b cannot see each other; everyone else sees both
            for node, blocked in ((a, [b]), (b, [a])):
                c.call(node, "debug_faults", {"blocked": blocked})
            time.sleep(rng.uniform(2, 6))  # sleep-ok: the bridge's length is the fault
            c.heal()
        elif kind.startswith("kill"):
            self.bounce(target)
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
                c.call(node, "debug_faults", {"loss": 0.05, "duplicate": 0.05, "seed": rng.randrange(1 << 30),
                                              "delay_ms": rng.choice([0, 0, 20, 150])})
            time.sleep(rng.uniform(2, 5))  # sleep-ok: the lossy period is the fault
            c.heal()


    def move(self, partition: tuple[str, int]) -> None:
        """Start moving ``partition`` to 3 random nodes (not waiting: the faults go on meanwhile). The
        metadata group may be unreachable (a fault just before): then there is no move this time."""
        replicas = self.rng.sample(self.placeable(), 3)
        self.tally.faults.append(f"move:{partition[0]}/{partition[1]}->{replicas}")
        try:
            with Admin(self.cluster.bootstrap, request_timeout_ms=5000) as admin:
                admin.reassign_partitions({partition: replicas})
        except KraftError as e:
            self.tally.faults.append(f"move refused: {e.code}")

    def bounce(self, node: int) -> None:
        """kill -9 ``node`` and start it again a few seconds later."""
        self.cluster.kill(node, signal.SIGKILL)
        time.sleep(self.rng.uniform(1, 4))  # sleep-ok: how long the node stays down is the fault
        self.cluster.start(node)
        wait_for(lambda: self.cluster._listening(node), 30, f"node {node} back")

    def moving_nodes(self) -> set[int]:
        """Nodes that a move in progress adds to a partition or takes off it (and decommissioned nodes
        not yet drained); empty when the metadata group does not answer."""
        try:
            with Admin(self.cluster.bootstrap, request_timeout_ms=3000) as admin:
                moves = admin.list_partition_reassignments().values()
        except KraftError:
            return set(self.decommissioning)
        return set(self.decommissioning).union(*(set(m.replicas) ^ set(m.target) for m in moves))

    def placeable(self) -> list[int]:
        """Started nodes that may get replicas (a decommissioned node refuses them)."""
        return sorted(set(self.cluster.procs) - self.decommissioning)

    def add_node(self) -> None:
        """Start a spare node of cluster.ini (an empty disk: it joins every group it gets as a learner)
        and, once it has registered, rebalance, so replicas move onto it while the faults go on.
        Moves of a few MB take well under the quiet time between faults, so half the time the new
        node is also killed in the middle of joining: before it has surely registered, or right
        after the rebalance started (a learner catching up)."""
        c = self.cluster
        node = self.rng.choice(c.never_started())
        kill_at = self.rng.choice(["never", "never", "joining", "catching_up"])
        self.added.append(node)
        self.tally.faults.append(f"add_node:{node}" + ("" if kill_at == "never" else f" killed {kill_at}"))
        c.start(node)
        wait_for(lambda: c._listening(node), 30, f"node {node} listening")
        if kill_at == "joining":
            self.bounce(node)
        try:
            with Admin(c.bootstrap, request_timeout_ms=5000) as admin:
                # A plan counts registered nodes only: one from before the node registers leaves it out.
                wait_for(lambda: node in admin.plan_rebalance().replicas_before, 30, f"node {node} to register")
                plan = admin.rebalance()
            self.tally.faults[-1] += f", rebalance {len(plan.moves)} moves"
        except (KraftError, AssertionError) as e:  # the metadata group busy electing: the node stays empty
            self.tally.faults[-1] += f", rebalance failed: {e!r}"
        if kill_at == "catching_up":
            self.bounce(node)

    def may_decommission(self) -> bool:
        """Whether one more node may leave: the nodes that stay must hold RF 3. (The metadata group
        keeps its ``metadata_voters`` voters among the nodes that stay: a leaving node is stopped
        only once it has left the group, see ``drained``.)"""
        return len(self.placeable()) - 1 >= 3

    def decommission(self) -> None:
        """Decommission a random started node (not waiting: its replicas move off through the faults
        that follow; ``retire_drained`` stops it once it holds none)."""
        node = self.rng.choice(self.placeable())
        killed = self.rng.random() < 0.5  # half the time killed while being drained (see add_node)
        self.tally.faults.append(f"decommission:{node}" + (" killed draining" if killed else ""))
        self.decommissioning.add(node)  # before asking: a request that times out may still have marked it
        try:
            with Admin(self.cluster.bootstrap, request_timeout_ms=5000) as admin:
                plan = admin.decommission_nodes([node])
            self.tally.faults[-1] += f", {len(plan.moves)} moves"
        except (NotEnoughNodes, BrokerIdNotRegistered) as e:  # refused: nothing changed
            self.decommissioning.discard(node)
            self.tally.faults[-1] += f", refused: {e!r}"
        except KraftError as e:  # maybe marked, maybe not: asked again at the end
            self.tally.faults[-1] += f", failed: {e!r}"
        if killed:
            self.bounce(node)

    def drained(self, node: int) -> bool:
        """Whether ``node`` may be stopped for good: it holds no replica, by the metadata (moves to or
        from it included) and by its own status (it drops a replica shortly after the metadata says
        so), and it has left the metadata group by every other node's view (a voter leaves once a
        learner replaced it: stopped before, it would be a dead voter until replaced)."""
        c = self.cluster
        try:
            with Admin(c.bootstrap, request_timeout_ms=3000) as admin:
                if admin.replicas_on(node):
                    return False
            if c.node_status(node)["groups"]:
                return False
            for other in c.alive():
                if other != node:
                    code, md = c.call(other, "metadata", {"topics": []})
                    if code != 0 or node in md["metadata_voters"] + md["metadata_learners"]:
                        return False
            return True
        except (KraftError, OSError, AssertionError):  # down or paused by a fault: not known yet
            return False

    def retire_drained(self) -> None:
        """Stop for good every decommissioned node that holds nothing (checked before each fault)."""
        for node in sorted(self.decommissioning):
            if self.drained(node):
                self.retire(node)

    def retire(self, node: int) -> None:
        self.cluster.retire(node)
        self.decommissioning.discard(node)
        self.tally.faults.append(f"retired:{node}")

    def finish_decommissions(self) -> None:
        """At the end: ask again for every decommission (a fault may have cut a request short, and
        asking starts only the moves still missing), wait for every move, then stop every drained
        node; the checker reads only the final replicas."""
        if self.decommissioning:
            with Admin(self.cluster.bootstrap) as admin:
                wait_for(lambda: admin.decommission_nodes(sorted(self.decommissioning)) is not None, 60,
                         "the decommissions asked again")
        self.tally.stale_move_lists += moves_finished(self.cluster)
        for node in sorted(self.decommissioning):
            wait_for(functools.partial(self.drained, node), 60, f"decommissioned node {node} to hold no replica")
            self.retire(node)


def moves_finished(cluster: Cluster) -> list[str]:
    """Wait until every move started by the nemesis has finished (the replicas checked are the final
    ones): by the metadata leader's answer, then by every running node's own metadata, which must
    also agree on every partition's replicas. Each node answers ``list_reassignments`` from its own
    view, and a node that leads no longer (or has not applied everything yet) may still be asked as
    the controller: returns what the controller's answer said early (empty while a node still had a
    move in progress), which the run reports."""
    early: list[str] = []
    with Admin(cluster.bootstrap) as admin:
        wait_for(lambda: not admin.list_partition_reassignments(), 120, "every partition move finished")
    still = _moves_per_node(cluster)
    if still:
        early.append(f"list_partition_reassignments empty while nodes still listed moves: {still}")
    try:
        wait_for(lambda: not _moves_per_node(cluster) and _replicas_agree(cluster), 120,
                 "every node's metadata to have every move finished, and the same replicas")
    except AssertionError as e:  # which node still moves what, and every node's view, for the report
        views = {n: _replicas_view(cluster, n) for n in cluster.alive()}
        raise AssertionError(f"{e}; moves per node: {_moves_per_node(cluster)}; replicas per node: {views}") from None
    return early


def _moves_per_node(cluster: Cluster) -> dict[int, list[str]]:
    """Node -> the moves its own metadata has in progress (only nodes with some)."""
    found: dict[int, list[str]] = {}
    for node in cluster.procs:
        code, body = cluster.call(node, "list_reassignments", {})
        assert code == 0, body
        if body["reassignments"]:
            found[node] = [f"{r['topic']}/{r['partition']}->{r['target']}" for r in body["reassignments"]]
    return found


def _replicas_view(cluster: Cluster, node: int) -> dict[str, list[int]]:
    """Every partition's replicas as ``node``'s metadata has them."""
    code, md = cluster.call(node, "metadata", {"topics": [TOPIC, TABLE]})
    assert code == 0, md
    return {f"{t['name']}/{p['partition']}": p["replicas"] for t in md["topics"] for p in t["partitions"]}


def _replicas_agree(cluster: Cluster) -> bool:
    views = [_replicas_view(cluster, node) for node in cluster.procs]
    return all(v == views[0] for v in views)


def check(cluster: Cluster, tally: Tally) -> dict[str, Any]:
    ends, replicas, seen = read_whole(cluster, TOPIC)
    lost = [(p, o) for p, o, v in tally.acked if seen.get((p, o)) != v]
    gaps = [p for p in range(PARTITIONS) if sorted(o for q, o in seen if q == p) != list(range(ends[p]))]
    values = [v for v in seen.values()]
    duplicated = len(values) - len(set(values))
    table_lost, table_replicas, table_starts = check_table(cluster, tally)
    kafka_lost, kafka_ends, kafka_replicas = check_kafka(cluster, tally)
    # Every final replica set: RF 3 on nodes still running (none on a node stopped for good).
    final = ([(TOPIC, p, r) for p, r in replicas.items()] + [(TABLE, p, r) for p, r in table_replicas.items()]
             + [(KAFKA_TOPIC, p, r) for p, r in kafka_replicas.items()])
    misplaced = [f"{t}/{p}: {r}" for t, p, r in final if len(set(r)) != 3 or not set(r) <= set(cluster.procs)]
    sets = sum(_metric(cluster, n, "kraft_produce_sets_total") for n in cluster.procs)
    cluster.stop_all()
    divergent = 0
    for p in range(PARTITIONS):
        logs = [read_replica(cluster.root / "data" / str(n), partition_gid(1, p)) for n in replicas[p]]
        if any(log[: ends[p]] != logs[0][: ends[p]] for log in logs):
            divergent += 1
    passes = sum(cluster.log(n).count("compaction pass") for n in cluster.procs)
    for p, nodes in table_replicas.items():
        logs = [[r for r in read_replica(cluster.root / "data" / str(n), partition_gid(2, p))
                 if r[0] >= table_starts[p]] for n in nodes]
        if any(log != logs[0] for log in logs):
            divergent += 1
    for p, nodes in kafka_replicas.items():
        logs = [read_replica(cluster.root / "data" / str(n), partition_gid(3, p))[: kafka_ends[p]] for n in nodes]
        if any(log != logs[0] for log in logs):
            divergent += 1
    return {"acknowledged": len(tally.acked), "lost": len(lost) + len(table_lost) + len(kafka_lost),
            "lost_examples": (lost + table_lost + kafka_lost)[:5], "table_acknowledged": len(tally.table_acked),
            "kafka_acknowledged": len(tally.kafka_acked), "kafka_sets_since_last_start": sets,
            "compaction_passes": passes,
            "duplicated": duplicated, "divergent_replicas": divergent, "partitions_with_gaps": gaps,
            "consumed": tally.consumed,
            "backwards_reads": tally.backwards_reads[:5], "backwards_commits": tally.backwards_commits[:5],
            "misplaced_replicas": misplaced}


def check_table(cluster: Cluster, tally: Tally) -> tuple[list[tuple[int, int]], dict[int, list[int]], dict[int, int]]:
    """The compacted topic: every key's latest acknowledged update (or a later one) is readable.
    Returns what is missing, each partition's replicas and its log start, once every replica agrees
    on it (compaction and its snapshots have settled)."""
    with Admin(cluster.bootstrap) as admin:
        described = wait_for(lambda: _fully_led(admin.describe_topic(TABLE).partitions), 90, "the table led")
    ends = {p.partition: p.high_watermark for p in described}
    replicas = {p.partition: sorted(p.replicas) for p in described}
    consumer = Consumer(cluster.bootstrap, enable_auto_commit=False)
    latest_read: dict[tuple[int, bytes], int] = {}
    try:
        tps = [TopicPartition(TABLE, p) for p in ends]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps) and time.monotonic() < deadline:
            for rec in consumer.poll(timeout_ms=500):
                if rec.key is not None:
                    latest_read[(rec.partition, rec.key)] = rec.offset
    finally:
        consumer.close()
    latest_acked: dict[tuple[int, bytes], int] = {}
    for p, offset, key, _value in tally.table_acked:
        latest_acked[(p, key)] = max(latest_acked.get((p, key), -1), offset)
    lost = [(p, o) for (p, key), o in latest_acked.items() if latest_read.get((p, key), -1) < o]

    def starts() -> dict[int, int] | None:
        seen: dict[int, set[tuple[int, int, int]]] = {p: set() for p in ends}
        for n in cluster.procs:
            for g in cluster.node_status(n)["groups"]:
                if g["topic"] != TABLE:
                    continue
                if g["applied_index"] != g["commit_index"] or not g["compaction_settled"]:
                    return None  # a pass applied but still rewriting in the background: not comparable yet
                # the commit index too: a snapshot brings the state before the log
                seen[g["partition"]].add((g["log_start_offset"], g["high_watermark"], g["commit_index"]))
        if any(len(s) != 1 or next(iter(s))[1] < ends[p] for p, s in seen.items()):
            return None
        return {p: next(iter(s))[0] for p, s in seen.items()}

    return lost, replicas, wait_for(starts, 90, "every table replica caught up")


def read_whole(cluster: Cluster, topic: str) -> tuple[dict[int, int], dict[int, list[int]],
                                                     dict[tuple[int, int], bytes | None]]:
    """Each partition's end offset and replicas once every partition is led, every record from the
    start to those ends ((partition, offset) -> value), and then every replica caught up to them (for
    the comparison of their logs)."""
    # Every partition led, and its leader answering: a leaderless partition is described with high
    # watermark 0 (and an unreachable leader with -1), which would make the end offsets too low.
    with Admin(cluster.bootstrap) as admin:
        described = wait_for(lambda: _fully_led(admin.describe_topic(topic).partitions), 90,
                             f"every partition of {topic} led and its end offset known")
    ends = {p.partition: p.high_watermark for p in described}
    replicas = {p.partition: sorted(p.replicas) for p in described}
    seen: dict[tuple[int, int], bytes | None] = {}
    consumer = Consumer(cluster.bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps) and time.monotonic() < deadline:
            for rec in consumer.poll(timeout_ms=500):
                seen[(rec.partition, rec.offset)] = rec.value
    finally:
        consumer.close()
    wait_for(lambda: all(g["high_watermark"] >= ends[g["partition"]] for n in cluster.procs
                         for g in cluster.node_status(n)["groups"] if g["topic"] == topic), 90,
             f"every replica of {topic} to catch up")
    return ends, replicas, seen


def check_kafka(cluster: Cluster, tally: Tally) -> tuple[list[tuple[int, int]], dict[int, int], dict[int, list[int]]]:
    """librdkafka's topic: the acknowledged records not at their acknowledged offsets, and each
    partition's end and replicas (for the log comparison)."""
    ends, replicas, seen = read_whole(cluster, KAFKA_TOPIC)
    return [(p, o) for p, o, v in tally.kafka_acked if seen.get((p, o)) != v], ends, replicas


def _metric(cluster: Cluster, node: int, name: str) -> float:
    """A counter of a node's /metrics (since its last start)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.http_ports[node]}/metrics", timeout=10) as answer:
        return sum(parse_samples(answer.read().decode()).get(name, []))


def _fully_led(partitions: list[PartitionInfo]) -> list[PartitionInfo] | None:
    return partitions if all(p.leader is not None and p.high_watermark >= 0 for p in partitions) else None


def run(duration_s: float, seed: int, root: Path, nodes: int = 3, spares: int | None = None) -> dict[str, Any]:
    """``nodes`` started, ``spares`` more in cluster.ini (default: 2 from 5 nodes on, else none) that
    the nemesis may add; with spares it also decommissions nodes."""
    spares = (2 if nodes >= 5 else 0) if spares is None else spares
    rng = random.Random(seed)
    cluster = Cluster(root, nodes + spares, faults=True, http=True, extra="log_retention_check_interval_ms = 500")
    tally = Tally()
    stop = threading.Event()
    try:
        cluster.start_nodes(range(1, nodes + 1))
        with Admin(cluster.bootstrap) as admin:
            # Until RF nodes have registered, placement uses cluster.ini's list, spares included.
            wait_for(lambda: set(admin.plan_rebalance().replicas_before) >= set(range(1, nodes + 1)), 30,
                     "the started nodes to register")
            admin.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
            admin.create_topic(TABLE, partitions=TABLE_PARTITIONS, replication_factor=3, config=TABLE_CONFIG)
            admin.create_topic(KAFKA_TOPIC, partitions=PARTITIONS, replication_factor=3)
        cluster.wait_leaders(TOPIC)
        cluster.wait_leaders(TABLE)
        cluster.wait_leaders(KAFKA_TOPIC)
        workers = [threading.Thread(target=produce, args=(cluster.bootstrap, tally, stop, w), daemon=True)
                   for w in range(2)]
        workers += [threading.Thread(target=consume, args=(cluster.bootstrap, tally, stop, m), daemon=True)
                    for m in range(2)]
        workers.append(threading.Thread(target=watch_commits, args=(cluster.bootstrap, tally, stop), daemon=True))
        workers.append(threading.Thread(target=produce_table, args=(cluster.bootstrap, tally, stop), daemon=True))
        workers.append(threading.Thread(target=produce_kafka, args=(cluster.kafka_bootstrap, tally, stop), daemon=True))
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
        nemesis.finish_decommissions()
        result = check(cluster, tally)
        result.update({"seed": seed, "nodes": nodes, "spares": spares, "added": nemesis.added,
                       "decommissioned": sorted(cluster.retired), "operations": tally.operations,
                       "faults_injected": len(tally.faults),
                       "faults": tally.faults, "recovery_s": round(recovery_s, 2),
                       "stale_move_lists": tally.stale_move_lists})
        return result
    finally:
        stop.set()
        cluster.stop_all()


def summary(result: dict[str, Any]) -> str:
    return (f"seed {result['seed']} ({result['nodes']} nodes, added {result['added']}, decommissioned "
            f"{result['decommissioned']}): operations {result['operations']}, faults injected "
            f"{result['faults_injected']}, acknowledged {result['acknowledged']}, lost {result['lost']}, "
            f"duplicated {result['duplicated']}, divergent replicas {result['divergent_replicas']}, "
            f"table updates {result['table_acknowledged']} ({result['compaction_passes']} compaction passes), "
            f"librdkafka's records {result['kafka_acknowledged']} ({result['kafka_sets_since_last_start']} sets), "
            f"consumed {result['consumed']}, backwards reads {len(result['backwards_reads'])}, "
            f"backwards commits {len(result['backwards_commits'])}, recovery {result['recovery_s']}s"
            + "".join(f"; {s}" for s in result["stale_move_lists"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--spares", type=int, default=None,
                        help="nodes in cluster.ini started later by add-node faults (default: 2 from 5 nodes on)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this directory and keep it (nodes' logs and data, for a failing seed)")
    args = parser.parse_args()
    if args.keep is not None:
        result = run(args.duration, args.seed, args.keep, args.nodes, args.spares)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args.duration, args.seed, Path(tmp), args.nodes, args.spares)
    print(json.dumps(result, indent=2))
    print(summary(result))
    raise SystemExit(0 if violations(result) == [] else 1)


def violations(result: dict[str, Any]) -> list[str]:
    """What the run found against kraft's promises (empty: none)."""
    found = []
    for key in ("lost", "duplicated", "divergent_replicas"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    for key in ("backwards_reads", "backwards_commits", "partitions_with_gaps", "misplaced_replicas"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    return found


if __name__ == "__main__":
    main()
