"""One simulated kraft node: the real Raft groups (metadata and partitions), journals, state
machines and ``GroupDriver`` over a ``SimDisk``, speaking through the ``SimNetwork``.

It is the RaftHost minus sockets: the same ``TransportHost`` seam, the same driver iteration (calls,
ticks, leaders' appends released early, one store commit, outbox released); what a node sends is
routed when the iteration returns, and a crash the simulator places inside an iteration
(``dies_before_commit``) lets only the early messages out. Like a
node's ``ReplicaManager``, its metadata leader gives the cluster its id while the metadata state has
none (``set_cluster_id``, retried every ``LEADER_REPORT_RETRY_S`` until applied; the id from the
simulator's seed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kraft.log.memory_store import MemoryStore
from kraft.log.partition_log import PartitionLog
from kraft.log.rows import MetadataRows
from kraft.node import identity
from kraft.node.identity import PeerHello, Start
from kraft.node.replicas import LEADER_REPORT_RETRY_S
from kraft.raft.driver import GroupDriver
from kraft.raft.group import GroupTimers, RaftGroup
from kraft.raft.journal import RaftJournal
from kraft.raft.throttle import LearnerThrottle
from kraft.state.metadata import METADATA_GID, MetadataMachine, encode_command
from kraft.state.partition import PartitionMachine
from kraft.state.produce_sets import ProduceSets
from tests.sim.disk import SimDisk

TICK_INTERVAL_S = 0.1
PRODUCE_SETS = ProduceSets(1 << 20, lambda: True)  # every simulated node runs this code
HEARTBEAT_S, ELECTION_MIN_S, ELECTION_MAX_S = 0.4, 1.5, 3.0  # cluster.ini's defaults

Machine = MetadataMachine | PartitionMachine
Membership = tuple[list[int], list[int]]  # (voters, learners) a group starts with


class DiedBeforeCommit(Exception):
    """The simulated process dies inside an iteration: its early messages have left, its store
    commit never happens."""


class SimNode:
    def __init__(self, node_id: int, members: list[int], hosted: dict[int, Membership], disk: SimDisk,
                 is_connected: Callable[[int, int], bool], peers: dict[int, PeerHello], disk_id: str,
                 cluster_ids: random.Random | None, metadata: Membership | None = None,
                 throttle_bytes_per_s: int = 0) -> None:
        """``members``: the metadata group's; ``hosted``: the partition groups this node hosts, each
        with the (voters, learners) it was created with (as the metadata would tell a real node);
        ``peers``: what the other nodes' hellos say of their disks (the simulator lets a starting
        node hear every node that is up, as a real one waits until it does); ``disk_id``: this disk's
        id if it gets a new one; ``cluster_ids``: where a cluster id this node proposes comes from (None:
        it proposes none, as before clusters had ids); ``metadata``: the (voters, learners) the metadata
        group starts with (None: every node votes); ``throttle_bytes_per_s``: the node's
        learner throttle (``reassignment_throttle_bytes_per_s``; 0: off), one bucket per node life."""
        self.node_id = node_id
        self.disk = disk
        self._connected = is_connected
        self.store: MemoryStore = disk.open()
        own = identity.load(self.store)
        start = identity.decide_start(node_id, own, identity.disk_empty(self.store), peers, len(members),
                                      metadata[0] if metadata else members)
        assert start is not Start.WAIT, "the simulator starts a node only when it can decide"
        self.identity = identity.starting_identity(node_id, start, own, disk_id, peers)
        identity.save(self.store, self.identity)
        self.driver = GroupDriver(self, self.store, TICK_INTERVAL_S)
        self.timers = GroupTimers(HEARTBEAT_S, ELECTION_MIN_S, ELECTION_MAX_S, LearnerThrottle(throttle_bytes_per_s))
        self.driver.reclaim_wakes_loop = False  # background work takes simulated time
        self.outbox: list[tuple[int, int, dict[str, Any]]] = []  # (peer, gid, message) this iteration
        # Leaders' appends, which leave before the store commit (GroupDriver.run_iteration): queued,
        # then released; ``_waiting``: groups whose later messages this iteration wait for the commit.
        self._early: list[int] = []  # positions in outbox
        self._released: list[int] = []
        self._waiting: set[int] = set()
        # A crash the simulator placed between this iteration's early sends and its store commit.
        self.dies_before_commit = False
        self.died = False
        self._cluster_ids = cluster_ids or random.Random(0)
        self._cluster_id_proposed_at = float("-inf")
        self._now = 0.0
        if cluster_ids is not None:
            self.driver.on_loop.append(self._found_cluster)
        self.machines: dict[int, Machine] = {}
        self.journals: dict[int, RaftJournal] = {}
        self._add(METADATA_GID, metadata or (members, []), MetadataMachine(MetadataRows(self.store, METADATA_GID)),
                  forward=True)
        for gid, membership in hosted.items():
            self.host(gid, membership)
        self.store.commit()

    def host(self, gid: int, membership: Membership) -> None:
        """Create the replica of partition group ``gid`` here (voters and learners it starts with)."""
        self._add(gid, membership, PartitionMachine(PartitionLog(self.store, gid)), forward=False)

    def destroy_stale(self, gids: set[int]) -> None:
        """Replicas that moved away while this node was down: their data goes before anything runs."""
        for gid in gids:
            RaftJournal(self.store, gid).destroy_data()
            PartitionLog(self.store, gid).destroy()
        self.store.commit()

    def drop(self, gid: int) -> None:
        """The group moved away from this node: destroy its replica and data (the next commit)."""
        self.driver.remove_group(gid)
        self.journals.pop(gid).destroy_data()
        machine = self.machines.pop(gid)
        assert isinstance(machine, PartitionMachine)
        PartitionLog(self.store, gid).destroy()

    def _add(self, gid: int, membership: Membership, machine: Machine, forward: bool) -> None:
        voters, learners = membership
        journal = RaftJournal(self.store, gid)
        if self.identity.rejoining and not journal.existed and len(set(voters) | set(learners)) > 1:
            journal.become_learner()
        self.journals[gid] = journal
        self.machines[gid] = machine
        outbox = self.driver.outbox
        # Partition groups join queued Kafka batches without a producer id into one entry, as a node's.
        joiner = None if forward else PRODUCE_SETS
        self.driver.add_group(gid, lambda factory: RaftGroup(gid, self.node_id, voters, journal, machine, factory,
                                                             self.timers, outbox, forward_to_leader=forward,
                                                             learners=learners, joiner=joiner))

    @property
    def metadata(self) -> MetadataMachine:
        machine = self.machines[METADATA_GID]
        assert isinstance(machine, MetadataMachine)
        return machine

    def _found_cluster(self) -> None:
        """The metadata leader's proposal of the cluster's id (``ReplicaManager._found_cluster``)."""
        if self.metadata.view.cluster_id is not None or not self.groups[METADATA_GID].leadership_ready():
            return
        if self._now - self._cluster_id_proposed_at < LEADER_REPORT_RETRY_S:
            return
        self._cluster_id_proposed_at = self._now
        cluster_id = f"c{self._cluster_ids.getrandbits(64):016x}"
        self.groups[METADATA_GID].submit(encode_command("set_cluster_id", cluster_id=cluster_id))

    @property
    def groups(self) -> dict[int, RaftGroup]:
        return self.driver.groups

    # --- TransportHost ----------------------------------------------------------------------------
    def is_connected(self, peer: int) -> bool:
        return self._connected(self.node_id, peer)

    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0,
                early: bool = False) -> None:
        if early and gid not in self._waiting:
            self._early.append(len(self.outbox))
        else:
            self._waiting.add(gid)
        self.outbox.append((peer, gid, message))

    def release_early(self) -> None:
        self._released += self._early
        self._early = []
        if self.dies_before_commit:
            raise DiedBeforeCommit

    def can_queue(self, peer: int) -> bool:
        return self.is_connected(peer)

    def wake(self, gid: int) -> None:
        self.driver.wake(gid)

    # --- the simulator drives ---------------------------------------------------------------------
    def run(self, now: float, messages: list[tuple[int, int, dict[str, Any]]]) -> list[tuple[int, int, dict[str, Any]]]:
        """One driver iteration with ``messages`` (src, gid, message) delivered first; returns what
        the node sends, which leaves only now that the iteration's store commit is done."""
        for src, gid, message in messages:
            self.driver.deliver(src, gid, message)
        self._now = now
        try:
            self.driver.run_iteration(now)
        except DiedBeforeCommit:
            self.died = True  # what left early is all that left; the caller crashes the node
            return [self.outbox[i] for i in self._released]
        # In the order queued: a node that lives through its iteration sends the same as before
        # early sends existed (early ones first only reorders different groups' messages), and a
        # seed's network draws stay as they were.
        sends, self.outbox = self.outbox, []
        self._released, self._early = [], []
        self._waiting.clear()
        return sends

    def needs_run(self, now: float) -> bool:
        return self.dies_before_commit or self.driver.busy() or now >= self.driver.next_tick_at()

    def crash(self) -> None:
        """The process dies: memory is gone, the disk keeps what was committed."""
        for group in self.groups.values():
            group.destroy()
        self.disk.crash()
