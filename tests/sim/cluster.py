"""A whole kraft cluster in one thread on simulated time: N ``SimNode``s, the metadata group and M
partition groups on each, a ``SimNetwork``, a workload and a fault schedule, checked after every step.

Everything random comes from the seed (separate streams for the schedule, the network, the workload
and pysyncobj's election timeouts), and the clock is simulated, so a seed replays exactly. The loop
jumps from one due thing to the next (a message, a tick, a fault, a client request); nothing sleeps.

A run: the fault phase (``duration_s``, faults and writes), then healing (every node up, the network
whole), then liveness (every group elects a leader that commits, and every replica catches up, within
``liveness_s`` simulated seconds), then the final checks (logs, acknowledged writes).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pysyncobj.syncobj as _pso

from kraft.log.entry import OP_NATIVE
from kraft.node.identity import PeerHello
from kraft.node.metadata_members import initial_members
from kraft.protocol.batch import encode_batch
from kraft.raft import clock as raft_clock
from kraft.raft import driver as raft_driver
from kraft.raft.group import RaftGroup
from kraft.raft.outbox import Applied, OnOutcome, Outcome
from kraft.state import metadata as metadata_state
from kraft.state.metadata import METADATA_GID, encode_command, partition_gid
from kraft.state.partition import PartitionMachine
from tests.sim.checker import Checker, Violation
from tests.sim.disk import SimDisk
from tests.sim.faults import Fault, draw_schedule
from tests.sim.metadata_voters import MetadataVoterKeeper
from tests.sim.moves import Mover
from tests.sim.network import SimNetwork, pair
from tests.sim.node import SimNode
from tests.sim.workload import Workload

PEER_TIMEOUT_S = 5.0  # cluster.ini's peer_timeout_ms: a silent connection is closed after this
RECONNECT_S = 0.25  # the host dials missing peers this often
FULL_CHECK_EVERY_S = 2.0
PROBE_TIMEOUT_S = 3.0  # as a client's request timeout: then it asks whichever node leads now
MAX_STEPS_PER_SIM_S = 20_000  # a node busy forever is a liveness bug, not a hang
SIM_METADATA_LOG_KEEP = 8  # entries the metadata group keeps (the real default is 10,000)
SIM_RECLAIM_ROWS_PER_ITERATION = 50  # about 2 batches of a compaction pass per driver iteration


@dataclass(frozen=True)
class SimConfig:
    nodes: int = 3
    partitions: int = 2
    duration_s: float = 12.0
    liveness_s: float = 30.0
    produce_per_s: float = 15.0
    alloc_per_s: float = 4.0
    trim_per_s: float = 1.0
    idempotent_per_s: float = 5.0
    compact_per_s: float = 2.0
    topics_per_s: float = 1.0  # topics created and partitions added through the metadata group
    empty_disks: bool = False
    replicas: int = 0  # replicas per partition group (0: every node); fewer leaves room for moves
    moves_per_s: float = 0.0  # partition moves started per second (tests/sim/moves.py)
    catalogue_per_s: float = 0.0  # metadata catalogue changes (topics, moves started and reported) per second
    cluster_id: bool = True  # the metadata leader gives the cluster its id (off: runs from before ids)
    metadata_voters: int = 0  # the metadata group's voters kept by its leader (0: every node, fixed)
    # Nodes decommissioned during the fault phase, drawn from the seed (with ``metadata_voters``;
    # tests/sim/metadata_voters.py).
    decommissions: int = 0
    throttle_bytes_per_s: int = 0  # each node's learner throttle (reassignment_throttle_bytes_per_s); 0: off
    # Every other crash falls inside the node's next iteration, after the leaders' early appends left
    # and before the store commit (off: seeds found before keep their runs).
    crashes_inside_iterations: bool = False


@dataclass
class Result:
    seed: int
    schedule: list[Fault]
    violation: str | None = None
    trace: list[str] = field(default_factory=list)
    acked: int = 0
    sim_s: float = 0.0
    steps: int = 0


class SimClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


class ErrorLog(logging.Handler):
    """An error logged by the node's own code (a group failing on a message, a refused truncation)
    is a bug the simulation found, even when the node survives it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def simulated(clock: SimClock, rng: random.Random, errors: ErrorLog) -> Iterator[None]:
    """pysyncobj's clock and election randomness point at the simulation's while it runs."""
    saved_random = _pso.random
    saved_clock = raft_clock.installed()
    saved_budget = raft_driver.RECLAIM_ROWS_PER_ITERATION
    # Slow background work: compaction passes and deletions span many iterations, so snapshots,
    # trims and restarts land in the middle of them.
    raft_driver.RECLAIM_ROWS_PER_ITERATION = SIM_RECLAIM_ROWS_PER_ITERATION
    saved_keep = metadata_state.METADATA_LOG_KEEP
    metadata_state.METADATA_LOG_KEEP = SIM_METADATA_LOG_KEEP  # a short metadata log: snapshots happen
    raft_clock.install(clock)
    _pso.random = rng  # pysyncobj draws election timeouts with random.random()
    logger = logging.getLogger("kraft")
    logger.addHandler(errors)
    try:
        yield
    finally:
        logger.removeHandler(errors)
        _pso.random = saved_random
        raft_clock.install(saved_clock)
        raft_driver.RECLAIM_ROWS_PER_ITERATION = saved_budget
        metadata_state.METADATA_LOG_KEEP = saved_keep


class SimCluster:
    def __init__(self, seed: int, config: SimConfig, schedule: list[Fault] | None = None) -> None:
        self.seed = seed
        self.config = config
        self.ids = list(range(1, config.nodes + 1))
        self.clock = SimClock()
        self.raft_rng = random.Random(f"{seed}/raft")
        self.net = SimNetwork(random.Random(f"{seed}/net"))
        self.schedule = schedule if schedule is not None else draw_schedule(
            random.Random(f"{seed}/faults"), self.ids, config.duration_s, config.empty_disks)
        self.trace: list[str] = []
        self.partition_gids = [partition_gid(1, p) for p in range(config.partitions)]
        replicas = config.replicas or config.nodes
        placement = {gid: [self.ids[(i + k) % config.nodes] for k in range(replicas)]
                     for i, gid in enumerate(self.partition_gids)}
        self.mover = Mover(random.Random(f"{seed}/moves"), self.ids, placement, self.trace.append)
        # its own random stream: seeds from before decommissions replay
        decommission_at = _draw_decommissions(random.Random(f"{seed}/decommissions"), self.ids, config)
        if decommission_at and not config.metadata_voters:
            raise ValueError("decommissions need --metadata-voters (the policy that lets a node leave)")
        if decommission_at and (config.moves_per_s or config.replicas):
            raise ValueError("decommissions stop nodes for good: only with every partition on every node, no moves")
        self.keeper = (MetadataVoterKeeper(self.ids, config.metadata_voters, self.trace.append, decommission_at)
                       if config.metadata_voters else None)
        self.metadata_members = (initial_members(self.ids, config.metadata_voters) if config.metadata_voters
                                 else (list(self.ids), []))
        self._next_move = 0.0
        self._next_catalogue = 0.0
        self.catalogue_rng = random.Random(f"{seed}/catalogue")
        self.workload = Workload(random.Random(f"{seed}/clients"), self.partition_gids)
        self.trim_rng = random.Random(f"{seed}/trims")  # its own stream: seeds from before trims replay
        self.idempotent_rng = random.Random(f"{seed}/idempotent")
        self.compact_rng = random.Random(f"{seed}/compact")
        self.topics_rng = random.Random(f"{seed}/topics")
        self.cluster_id_rng = random.Random(f"{seed}/cluster-id")
        self.checker = Checker([METADATA_GID, *self.partition_gids])
        self.disks = {n: SimDisk() for n in self.ids}
        self.nodes: dict[int, SimNode | None] = {}
        self.down_until: dict[int, tuple[float, bool]] = {}  # node -> (restart at, with an empty disk)
        self.paused_until: dict[int, float] = {}
        self.backlog: dict[int, list[tuple[int, int, dict[str, Any]]]] = {n: [] for n in self.ids}
        self.links: dict[tuple[int, int], bool] = {}
        self.link_down_at: dict[tuple[int, int], float] = {}
        self.cuts: dict[tuple[int, int], float] = {}  # unordered pair -> until
        self.oneway: dict[tuple[int, int], tuple[float, float]] = {}  # (src, dst) -> (since, until)
        self.levels: dict[str, list[tuple[float, float]]] = {k: [] for k in ("loss", "duplicate", "jitter", "delay")}
        self._pending = sorted(self.schedule, key=lambda f: f.at)
        self._next_produce = 0.0
        self._next_alloc = 0.0
        self._next_trim = 0.0
        self._next_idempotent = 0.0
        self._next_compact = 0.0
        self._next_topics = 0.0
        self._steps = 0
        self._last_full_check = 0.0
        self._leaders: dict[int, int | None] = {}
        self._cluster_id: str | None = None
        self._learners: dict[int, set[int]] = {}
        self.errors = ErrorLog()
        self._next_fault_at = 0.0
        self._pause_start: dict[int, float] = {}
        self.lost_disks: set[int] = set()  # nodes wiped and not yet voters in every group again
        self._incarnations: dict[int, int] = {}  # disks each node has had (a disk id names each)

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> Result:
        result = Result(self.seed, self.schedule, trace=self.trace)
        with simulated(self.clock, self.raft_rng, self.errors):
            try:
                for n in self.ids:
                    self._start(n, wiped=False)
                self._run_until(self.config.duration_s, clients=True)
                self._heal()
                self._await_liveness()
                alive = self._alive()
                self.checker.full_check(alive)
                meta = alive[0].machines[METADATA_GID]
                self.checker.check_acknowledged(self.workload.acked, alive, self.partition_gids,
                                                meta._next_producer_id)  # type: ignore[union-attr]
                self.checker.check_replicas_identical(alive, self.partition_gids)
                self.checker.check_catalogue(self.workload.acked, alive)
                if self.config.cluster_id:
                    self.checker.check_cluster_id(alive)
            except Violation as v:
                result.violation = str(v)
                self.trace.append(f"t={self.clock.t:.3f}s VIOLATION {v}")
            finally:
                self._close()
        result.acked = len(self.workload.acked.produce)
        result.sim_s = self.clock.t
        result.steps = self._steps
        return result

    def _alive(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n is not None]

    def _running(self) -> list[SimNode]:
        now = self.clock.t
        return [n for n in self._alive() if self.paused_until.get(n.node_id, 0.0) <= now]

    def _run_until(self, end: float, clients: bool, done: Any = None) -> None:
        while self.clock.t < end:
            if done is not None and done():
                return
            self._step(end, clients)

    def _step(self, end: float, clients: bool) -> None:
        now = self.clock.t
        self._steps += 1
        if self._steps > MAX_STEPS_PER_SIM_S * max(1.0, now):
            raise Violation(f"no progress of simulated time at t={now:.3f}s (a node busy forever)")
        running = self._running()
        if not any(n.driver.busy() for n in running):
            now = min(end, self._next_event(running, clients))
            self.clock.t = now
        if now >= self._next_fault_at:
            self._apply_faults(now)
            self._update_links(now)
            self._next_fault_at = self._fault_times()
        if clients:
            self._clients(now)
        if not self.mover.idle():
            self.mover.advance(self.nodes, now, self.checker.forget_group)
        if self.keeper is not None:
            self.keeper.advance(self.nodes, now)
            for n in self.keeper.drained(self.nodes):
                self._stop_for_good(n, now)
        inbox: dict[int, list[tuple[int, int, dict[str, Any]]]] = {n: [] for n in self.ids}
        for src, dst, gid, message in self.net.due(now):
            if self.nodes.get(dst) is not None:
                inbox[dst].append((src, gid, message))
        ran: list[SimNode] = []
        for node in self._alive():
            nid = node.node_id
            if self.paused_until.get(nid, 0.0) > now:
                self.backlog[nid] += inbox[nid]
                continue
            messages = self.backlog[nid] + inbox[nid]
            self.backlog[nid] = []
            if messages or node.needs_run(now):
                ran.append(node)
                for peer, gid, message in node.run(now, messages):
                    if self.links.get(pair(nid, peer)):
                        self.net.send(now, nid, peer, gid, message)
                if node.died:
                    self.trace.append(f"t={now:.3f}s node {nid} died after its early sends, before its store commit")
                    self._crash(nid)
        if self.errors.records:
            record = self.errors.records[0]
            raise Violation(f"node code logged an error: {record.getMessage()}"
                            + (f" ({record.exc_info[1]!r})" if record.exc_info else ""))
        self.checker.after_step(ran)  # only a node that ran can have changed
        if ran:
            self._note_leaders(self._alive())
        if now - self._last_full_check >= FULL_CHECK_EVERY_S:
            self._last_full_check = now
            self.checker.full_check(self._alive())

    def _next_event(self, running: list[SimNode], clients: bool) -> float:
        times = [self.clock.t + 1.0]
        net = self.net.next_at()
        if net is not None:
            times.append(net)
        times += [n.driver.next_tick_at() for n in running]
        times.append(self._next_fault_at)
        if clients:
            times += [self._next_produce, self._next_alloc]
            if self.config.trim_per_s > 0:
                times.append(self._next_trim)
            if self.config.idempotent_per_s > 0:
                times.append(self._next_idempotent)
            if self.config.compact_per_s > 0:
                times.append(self._next_compact)
            if self.config.moves_per_s > 0:
                times.append(self._next_move)
            if self.config.catalogue_per_s > 0:
                times.append(self._next_catalogue)
            if self.config.topics_per_s > 0:
                times.append(self._next_topics)
        return min(t for t in times if t > self.clock.t)  # what is due now was done this step

    def _fault_times(self) -> float:
        """When the fault state next changes by itself (a fault due, one ending, a link timing out)."""
        times = [self.clock.t + 1.0]
        if self._pending:
            times.append(self._pending[0].at)
        times += [t for t, _ in self.down_until.values()]
        times += list(self.paused_until.values())
        times += [t + PEER_TIMEOUT_S for t in self._pause_start.values()]
        times += list(self.cuts.values()) + [u for _, u in self.oneway.values()]
        times += [s + PEER_TIMEOUT_S for s, _ in self.oneway.values()]
        times += [t + RECONNECT_S for t in self.link_down_at.values()]
        times += [u for levels in self.levels.values() for u, _ in levels]
        return min(t for t in times if t > self.clock.t)

    # --- clients ----------------------------------------------------------------------------------
    def _clients(self, now: float) -> None:
        running = self._running()
        if now >= self._next_move and self.config.moves_per_s > 0:
            self._next_move = now + self.mover.rng.expovariate(self.config.moves_per_s)
            self.mover.start_one(now)
        if now >= self._next_catalogue and self.config.catalogue_per_s > 0:
            self._next_catalogue = now + self.catalogue_rng.expovariate(self.config.catalogue_per_s)
            if running:
                self.workload.catalogue(running, self.catalogue_rng)
        if now >= self._next_produce:
            self._next_produce = now + self.workload.rng.expovariate(self.config.produce_per_s)
            if running:
                self.workload.produce(running)
        if now >= self._next_trim and self.config.trim_per_s > 0:
            self._next_trim = now + self.trim_rng.expovariate(self.config.trim_per_s)
            if running:
                self.workload.trim(running, self.trim_rng)
        if now >= self._next_idempotent and self.config.idempotent_per_s > 0:
            self._next_idempotent = now + self.idempotent_rng.expovariate(self.config.idempotent_per_s)
            if running:
                self.workload.produce_idempotent(running, self.idempotent_rng, now)
        if now >= self._next_compact and self.config.compact_per_s > 0:
            self._next_compact = now + self.compact_rng.expovariate(self.config.compact_per_s)
            if running:
                self.workload.tombstone_or_compact(running, self.compact_rng)
        if now >= self._next_topics and self.config.topics_per_s > 0:
            self._next_topics = now + self.topics_rng.expovariate(self.config.topics_per_s)
            if running:
                self.workload.topic_change(running, self.ids, self.topics_rng)
        if now >= self._next_alloc:
            self._next_alloc = now + self.workload.rng.expovariate(self.config.alloc_per_s)
            if running:
                self.workload.alloc_producer_id(running)

    # --- faults -----------------------------------------------------------------------------------
    def _apply_faults(self, now: float) -> None:
        while self._pending and self._pending[0].at <= now:
            fault = self._pending.pop(0)
            self.trace.append(str(fault))
            if fault.kind in ("crash", "wipe"):
                if self.nodes.get(fault.a) is not None:
                    wipe = fault.kind == "wipe" and not self._disk_still_lost(fault.a)
                    if fault.kind == "wipe" and not wipe:
                        self.trace.append(f"t={now:.3f}s (a crash only: another node's lost disk has not caught up)")
                    node = self.nodes[fault.a]
                    assert node is not None
                    inside = self.config.crashes_inside_iterations and _inside_iteration(fault)
                    if inside and not wipe and self.paused_until.get(fault.a, 0.0) <= now:
                        # Every other crash falls inside the node's next iteration, between the
                        # leaders' early appends and the store commit: what they carried is then on
                        # the followers' disks and nowhere on this one.
                        node.dies_before_commit = True
                    else:
                        self._crash(fault.a)
                    self.down_until[fault.a] = (now + fault.value, wipe)
                    if wipe:
                        self.lost_disks.add(fault.a)
            elif fault.kind == "pause":
                self.paused_until[fault.a] = max(self.paused_until.get(fault.a, 0.0), now + fault.value)
            elif fault.kind == "cut":
                key = pair(fault.a, fault.b)
                self.cuts[key] = max(self.cuts.get(key, 0.0), now + fault.value)
            elif fault.kind == "oneway":
                since, until = self.oneway.get((fault.a, fault.b), (now, now))
                self.oneway[(fault.a, fault.b)] = (since, max(until, now + fault.value))
            else:
                self.levels[fault.kind].append((now + fault.value, fault.level))
        for n, (at, wiped) in list(self.down_until.items()):
            if at <= now:
                del self.down_until[n]
                self._start(n, wiped)
        for n, until in list(self.paused_until.items()):
            if until <= now:
                del self.paused_until[n]
                self.trace.append(f"t={now:.3f}s node {n} resumes")
        for key, until in list(self.cuts.items()):
            if until <= now:
                del self.cuts[key]
        for key, (_, until) in list(self.oneway.items()):
            if until <= now:
                del self.oneway[key]
        for kind, levels in self.levels.items():
            levels[:] = [(u, lv) for u, lv in levels if u > now]
            level = max((lv for _, lv in levels), default=0.0)
            if kind == "loss":
                self.net.loss = level
            elif kind == "duplicate":
                self.net.duplicate = level
            elif kind == "jitter":
                self.net.jitter_s = level
            else:
                self.net.delay_s = level
        self.net.cut_one_way = {k: since for k, (since, _) in self.oneway.items()}

    def _disk_still_lost(self, other_than: int) -> bool:
        """Whether a node other than ``other_than`` lost its disk and is not a voter everywhere again:
        losing a second disk before then loses a majority's copy of acknowledged writes (no system
        survives that without losing them), so the simulator then crashes the node but keeps its disk."""
        for n in list(self.lost_disks):
            node = self.nodes.get(n)
            if node is not None and not any(_rebuilding(gid, g) for gid, g in node.groups.items()):
                self.lost_disks.discard(n)
        return bool(self.lost_disks - {other_than})

    def _stop_for_good(self, n: int, now: float) -> None:
        """A decommissioned node that left the metadata group, stopped as an operator would: no
        fault and no healing starts it again."""
        assert self.keeper is not None
        self._crash(n)
        self.down_until.pop(n, None)
        self.lost_disks.discard(n)
        self.keeper.stop(n, now)

    def _crash(self, n: int) -> None:
        node = self.nodes[n]
        if node is None:
            return  # died inside an iteration already
        node.crash()
        self.nodes[n] = None
        self.backlog[n] = []
        self.paused_until.pop(n, None)

    def _start(self, n: int, wiped: bool) -> None:
        if wiped and all(self.nodes.get(p) is None for p in self.ids if p != n):
            self.down_until[n] = (self.clock.t + 0.5, True)  # no peer to ask yet: it waits, as a node does
            return
        if wiped:
            self.disks[n].wipe()
            self.checker.forget(n)
            self.trace.append(f"t={self.clock.t:.3f}s node {n} starts with an EMPTY disk")
        elif self.clock.t > 0:
            self.trace.append(f"t={self.clock.t:.3f}s node {n} restarts")
        # At t=0 every node starts at once, each hearing the others' empty disks; later, the nodes up
        # (founders heard each other's identities at once: none is pending).
        peers = {p: PeerHello(None if self.clock.t == 0 or peer is None else peer.identity.disk_id)
                 for p in self.ids if p != n and ((peer := self.nodes.get(p)) is not None or self.clock.t == 0)}
        self._incarnations[n] = self._incarnations.get(n, 0) + (1 if wiped or self.clock.t == 0 else 0)
        node = SimNode(n, self.ids, self.mover.hosted_by(n), self.disks[n], self._is_connected, peers,
                       f"disk-{n}-{self._incarnations[n]}", self.cluster_id_rng if self.config.cluster_id else None,
                       metadata=self.metadata_members, throttle_bytes_per_s=self.config.throttle_bytes_per_s)
        node.destroy_stale(self.mover.dropped[n])
        self.mover.dropped[n] = set()
        self.nodes[n] = node

    def _is_connected(self, a: int, b: int) -> bool:
        return bool(self.links.get(pair(a, b)))

    def _link_wanted(self, a: int, b: int, now: float) -> bool:
        if self.nodes.get(a) is None or self.nodes.get(b) is None or pair(a, b) in self.cuts:
            return False
        for x, y in ((a, b), (b, a)):
            if self.paused_until.get(x, 0.0) - now > 0 and now - self._paused_since(x) > PEER_TIMEOUT_S:
                return False  # y's silence timer closed the connection to the stopped x
            one = self.oneway.get((x, y))
            if one is not None and now - one[0] >= PEER_TIMEOUT_S:
                return False  # y hears nothing from x: its silence timer closes the connection
        down_at = self.link_down_at.get(pair(a, b))
        return down_at is None or now - down_at >= RECONNECT_S

    def _paused_since(self, n: int) -> float:
        return self._pause_start.get(n, self.clock.t)

    def _update_links(self, now: float) -> None:
        for n, until in self.paused_until.items():
            if until > now:
                self._pause_start.setdefault(n, now)
        for n in [n for n in self._pause_start if n not in self.paused_until]:
            del self._pause_start[n]
        for i, a in enumerate(self.ids):
            for b in self.ids[i + 1:]:
                key = (a, b)
                up = self.links.get(key, False)
                wanted = self._link_wanted(a, b, now)
                if up == wanted:
                    continue
                self.links[key] = wanted
                if wanted:
                    self.link_down_at.pop(key, None)
                    for x, y in ((a, b), (b, a)):
                        node = self.nodes.get(x)
                        if node is not None:
                            node.driver.peer_connected(y)
                else:
                    self.link_down_at[key] = now
                    self.net.link_dropped(a, b)
                    for x, y in ((a, b), (b, a)):
                        node = self.nodes.get(x)
                        if node is not None:
                            node.driver.peer_disconnected(y)


    # --- healing and liveness ---------------------------------------------------------------------
    def _heal(self) -> None:
        now = self.clock.t
        self.trace.append(f"t={now:.3f}s heal: every node up, the network whole")
        self._pending.clear()
        for n, (_, wiped) in sorted(self.down_until.items(), key=lambda item: item[1][1]):
            del self.down_until[n]  # empty disks last: they start once a peer answers
            self._start(n, wiped)
        self.paused_until.clear()
        self.cuts.clear()
        self.oneway.clear()
        for levels in self.levels.values():
            levels.clear()
        self.net.heal()
        self._next_fault_at = now

    def _await_liveness(self) -> None:
        """Every group elects a leader that commits a write (retried at whichever node then leads, as a
        client would: a deposed leader refuses it), and every replica applies everything, in time."""
        deadline = self.clock.t + self.config.liveness_s
        self._run_until(deadline, clients=False, done=self.mover.idle)
        if not self.mover.idle():
            raise Violation(f"moves of groups {sorted(self.mover.targets)} did not finish "
                            f"{self.config.liveness_s:.0f}s after healing")
        keeper = self.keeper
        if keeper is not None:
            self._run_until(deadline, clients=False, done=lambda: keeper.settled(self.nodes, self.clock.t))
            if not keeper.settled(self.nodes, self.clock.t):
                raise Violation(f"the metadata group did not settle on {keeper.want} voters "
                                f"{self.config.liveness_s:.0f}s after healing (next: "
                                f"{keeper.next_step(self.nodes, self.clock.t)}"
                                f"{keeper.unsettled(self.nodes)})")
        probes = {gid: "waiting" for gid in self.checker.gids}
        sent_at: dict[int, float] = {}

        def all_committed() -> bool:
            for gid, state in probes.items():
                if state == "pending" and self.clock.t - sent_at[gid] > PROBE_TIMEOUT_S:
                    state = "waiting"  # a deposed leader's entry waits for an index that may never commit
                if state == "waiting":
                    leader = next((n for n in self._alive() if gid in n.groups
                                   and n.groups[gid].leadership_ready()), None)
                    if leader is not None:
                        probes[gid], sent_at[gid] = "pending", self.clock.t
                        leader.groups[gid].submit(_probe_command(gid), _probe_done(probes, gid))
            return all(state == "committed" for state in probes.values())

        self._run_until(deadline, clients=False, done=all_committed)
        stuck = [gid for gid, state in probes.items() if state != "committed"]
        if stuck:
            raise Violation(f"groups {stuck} did not commit a write {self.config.liveness_s:.0f}s after healing")
        self._run_until(deadline, clients=False, done=self._caught_up)
        if not self._caught_up():
            raise Violation(f"replicas not caught up {self.config.liveness_s:.0f}s after healing: "
                            f"{self._lagging()}")

    def _lagging(self) -> list[str]:
        out = []
        for gid in self.checker.gids:
            leader = next((n for n in self._alive() if gid in n.groups and n.groups[gid].is_leader()), None)
            if leader is None:
                out.append(f"group {gid} has no leader")
                continue
            last = leader.journals[gid].last_index
            for n in self._alive():
                if gid not in n.groups:
                    continue
                applied = n.machines[gid].last_applied
                machine = n.machines[gid]
                if _rebuilding(gid, n.groups[gid]):
                    out.append(f"group {gid} node {n.node_id} is still a learner (lost its disk)")
                if isinstance(machine, PartitionMachine) and not machine.compaction_settled():
                    out.append(f"group {gid} node {n.node_id} is compacting")
                if applied < last or n.journals[gid].last_index < last:
                    out.append(f"group {gid} node {n.node_id} applied {applied}, log ends at "
                               f"{n.journals[gid].last_index}, of {last}")
        return out

    def _caught_up(self) -> bool:
        return not self._lagging()

    def _note_leaders(self, alive: list[SimNode]) -> None:
        if self._cluster_id is None:
            self._cluster_id = next((n.metadata.view.cluster_id for n in alive if n.metadata.view.cluster_id), None)
            if self._cluster_id is not None:
                self.trace.append(f"t={self.clock.t:.3f}s the cluster has its id {self._cluster_id}")
        for gid in self.checker.gids:
            leader = next((n.node_id for n in alive if gid in n.groups and n.groups[gid].is_leader()), None)
            if self._leaders.get(gid, -1) != leader:
                self._leaders[gid] = leader
                self.trace.append(f"t={self.clock.t:.3f}s group {gid} leader {leader}")
            learners = {n.node_id for n in alive if gid in n.groups and n.groups[gid].is_learner()}
            if learners != self._learners.get(gid, set()):
                self._learners[gid] = learners
                self.trace.append(f"t={self.clock.t:.3f}s group {gid} learners {sorted(learners) or 'none'}")

    def _close(self) -> None:
        for n in self._alive():
            n.crash()


def _rebuilding(gid: int, group: RaftGroup) -> bool:
    """Whether ``group``'s replica is a learner because its node lost its disk (most nodes are the
    metadata group's learners by its configuration, for good, when it keeps fewer voters)."""
    return group.journal.learner is not None if gid == METADATA_GID else group.is_learner()


def _probe_command(gid: int) -> bytes:
    if gid == METADATA_GID:
        return encode_command("alloc_producer_id")
    return OP_NATIVE + encode_batch([(0, None, b"probe", [])])


def _probe_done(probes: dict[int, str], gid: int) -> OnOutcome:
    def done(outcome: Outcome) -> None:
        if isinstance(outcome, Applied):
            probes[gid] = "committed"
        elif probes[gid] != "committed":
            probes[gid] = "waiting"

    return done




def _draw_decommissions(rng: random.Random, ids: list[int], config: SimConfig) -> dict[int, float]:
    """``config.decommissions`` nodes (as many as leave ``metadata_voters`` and 3 nodes, and with lost
    disks a majority of the partition groups' replicas besides a lost disk's: the stopped nodes'
    replicas stay down for good), each asked to leave at a time in the fault phase's first half, so
    that faults still come after."""
    stay = max(config.metadata_voters, 3, len(ids) // 2 + 2 if config.empty_disks else 0)
    count = min(config.decommissions, len(ids) - stay)
    if count <= 0:
        return {}
    return {n: rng.uniform(0.5, config.duration_s / 2) for n in sorted(rng.sample(ids, count))}


def _inside_iteration(fault: Fault) -> bool:
    """Whether a crash falls inside the node's next iteration (after its early sends, before its
    store commit) rather than between two: every other one, by its time, so the choice draws
    nothing from the seed's random streams (a seed's schedule is the same either way)."""
    return int(fault.at * 1_000_000) % 2 == 0
