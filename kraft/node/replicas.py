"""The replicas a node hosts: the metadata group, and one Raft group per assigned partition.

Owns (on the Raft driver thread): creating and destroying partition groups as the metadata view
changes, making the preferred replica stand for election first, handing leadership back to it
(every ``leader_balance_interval_s``), reporting this node's leaderships to the metadata group so
every node can tell clients where a partition's leader is, and, on the metadata leader, giving a new
cluster its id.
Moves (reassignments): a partition whose metadata has a ``target`` is hosted by its replicas and
the target's new nodes (each created as a learner of its own); its leader carries the move out one
membership change at a time (``kraft.raft.membership``) and reports it done to the metadata group,
after which the nodes it left drop their replicas.
On a node that lost its disk (``rejoining``, ``kraft.node.identity``), every group it creates that
has no Raft state on this disk yet starts as a learner, until the group's leader promotes it; once
no group here is a learner, the node is told (``on_rejoined``) and creates voters again.
Other threads only read ``partitions`` and ``metadata.view``.
Must not: serve clients (the broker does) or touch sockets (the host does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kraft.log.partition_log import PartitionLog
from kraft.log.rows import MetadataRows
from kraft.log.store import LogStore
from kraft.node.host import NodeHost
from kraft.node.identity import new_cluster_id
from kraft.raft.group import GroupTimers, RaftGroup
from kraft.raft.journal import RaftJournal
from kraft.raft.membership import Action, next_step
from kraft.raft.transport import MuxTransport
from kraft.state.metadata import (
    METADATA_GID,
    MetadataMachine,
    PartitionMeta,
    encode_command,
)
from kraft.state.partition import PartitionMachine

log = logging.getLogger(__name__)

PREFERRED_ELECTION_DELAY_S = 0.2
LEADER_REPORT_INTERVAL_S = 0.25
LEADER_REPORT_RETRY_S = 2.0
PREFERRED_LEADER_CHECK_S = 5.0  # how often a non-preferred leader offers leadership back (the default)
MOVE_REPORT_RETRY_S = 2.0  # a finished move is reported again if the metadata has not taken it


@dataclass
class PartitionReplica:
    meta: PartitionMeta
    group: RaftGroup
    machine: PartitionMachine
    log: PartitionLog
    journal: RaftJournal


class ReplicaManager:
    def __init__(
        self,
        node_id: int,
        host: NodeHost,
        store: LogStore,
        timers: GroupTimers,
        controller_ids: list[int],
        on_appended: Callable[[set[int]], None] | None = None,
        announce: dict[str, object] | None = None,
        preferred_election_delay_s: float = PREFERRED_ELECTION_DELAY_S,
        disk_id: str | None = None,
        rejoining: bool = False,
        on_rejoined: Callable[[], None] | None = None,
        leader_balance_interval_s: float = PREFERRED_LEADER_CHECK_S,
    ) -> None:
        """``preferred_election_delay_s``: how soon a group's preferred replica stands for election
        (below the election timeout, so it usually wins; an in-process cluster makes it 0).
        ``disk_id``: this node's disk, which its groups' replies carry; ``rejoining``: the disk was
        lost, so groups new to it start as learners until ``on_rejoined`` is called.
        ``leader_balance_interval_s``: how often leaders hand partitions back to their preferred
        replicas (cluster.ini's ``leader_balance_interval_ms``; 0: never)."""
        self.node_id = node_id
        self.disk_id = disk_id
        self.rejoining = rejoining
        self._on_rejoined = on_rejoined
        self.host = host
        self.store = store
        self.timers = timers
        self.metadata = MetadataMachine(MetadataRows(store, METADATA_GID))
        self.partitions: dict[int, PartitionReplica] = {}
        if on_appended is not None:
            host.outbox.on_appended(on_appended)
        self._seen_version = -1
        self._next_report = 0.0
        self._reported: dict[int, tuple[int, float]] = {}
        self._moves_reported: dict[int, float] = {}  # gid -> when its finished move was last reported
        self._handed_over: dict[int, float] = {}  # gid -> when leadership was last offered for a move
        self.leader_balance_interval_s = leader_balance_interval_s
        self._next_rebalance = host.clock.now() + leader_balance_interval_s
        self._cluster_id_proposed_at = float("-inf")
        self._announce = announce  # this node's entry in the metadata's node registry
        self._announced_at = 0.0
        self._preferred_delay_s = preferred_election_delay_s
        journal = self._journal(METADATA_GID, controller_ids, "the metadata group")
        self.meta_group = host.add_group(
            METADATA_GID,
            lambda factory: RaftGroup(
                METADATA_GID, node_id, controller_ids, journal, self.metadata, factory, timers, host.outbox,
                forward_to_leader=True,  # any node may propose; a duplicate create is refused anyway
            ),
        )
        if min(controller_ids) == node_id:
            self.meta_group.bring_election_forward(preferred_election_delay_s)
        host.on_loop.append(self._on_loop)

    def _journal(self, gid: int, members: list[int] | tuple[int, ...], name: str) -> RaftJournal:
        journal = RaftJournal(self.store, gid)
        if not self.rejoining or journal.existed or self.disk_id is None:
            return journal
        if len(members) > 1:
            journal.become_learner()
            log.info("%s: joining as a learner (this disk is new to the cluster): no vote until caught up", name)
        else:
            log.error("%s had its only replica on this node's lost disk: its data is gone; it starts empty", name)
        return journal

    def learner_groups(self) -> int:
        """How many groups here are learners (catching up after a lost disk)."""
        return int(self.meta_group.is_learner()) + sum(r.group.is_learner() for r in self.partitions.values())

    # --- driver-thread hook -------------------------------------------------------------------
    def _on_loop(self) -> None:
        if self.rejoining and not self.learner_groups() and self._seen_version == self.metadata.view.version:
            self.rejoining = False
            log.warning("caught up in every group with this new disk: a voter everywhere again")
            if self._on_rejoined is not None:
                self._on_rejoined()
        view = self.metadata.view
        if view.version != self._seen_version:
            self._seen_version = view.version
            self._reconcile(view.partitions_on(self.node_id))
        now = self.host.clock.now()
        self._found_cluster(now)
        if now >= self._next_report:
            self._next_report = now + LEADER_REPORT_INTERVAL_S
            self._report_leaders(now)
            self._register(now)
            self._drive_moves(now)
        if self.leader_balance_interval_s > 0 and now >= self._next_rebalance:
            self._next_rebalance = now + self.leader_balance_interval_s
            self._return_leadership()

    def _reconcile(self, wanted: dict[int, PartitionMeta]) -> None:
        for gid in [g for g in self.partitions if g not in wanted]:
            self._remove(gid)
        for gid, meta in wanted.items():
            if gid in self.partitions:
                self.partitions[gid].meta = meta
            else:
                self._create(gid, meta)

    def _create(self, gid: int, meta: PartitionMeta) -> None:
        journal = self._journal(gid, meta.replicas, f"{meta.topic}/{meta.partition}")
        plog = PartitionLog(self.store, gid)
        outbox = self.host.outbox
        def appended(_next_offset: int) -> None:
            outbox.appended(gid)

        machine = PartitionMachine(plog, on_append=appended)

        def build(factory: Callable[..., MuxTransport]) -> RaftGroup:
            # A node a move adds starts as a learner of its own; the group's log tells it the rest.
            learners = [] if self.node_id in meta.replicas else [self.node_id]
            return RaftGroup(gid, self.node_id, list(meta.replicas), journal, machine, factory, self.timers, outbox,
                             learners=learners)

        group = self.host.add_group(gid, build)
        if meta.replicas[0] == self.node_id:
            group.bring_election_forward(self._preferred_delay_s)
        self.partitions[gid] = PartitionReplica(meta, group, machine, plog, journal)
        log.info("hosting %s/%d (replicas %s)", meta.topic, meta.partition, list(meta.replicas))

    def _remove(self, gid: int) -> None:
        replica = self.partitions.pop(gid)
        self.host.remove_group(gid)
        replica.journal.destroy_data()
        replica.log.destroy()
        self._reported.pop(gid, None)
        log.info("dropped %s/%d", replica.meta.topic, replica.meta.partition)

    def _drive_moves(self, now: float) -> None:
        """Leader of a partition being moved: its next membership change, or report it finished."""
        for gid, replica in self.partitions.items():
            target = replica.meta.target
            group = replica.group
            if target is None or not group.leadership_ready():
                continue
            voters, learners = group.configuration()

            def caught_up(n: int, group: RaftGroup = group, learners: frozenset[int] = learners) -> bool:
                return group.caught_up_learner(n) is not None if n in learners else group.follower_caught_up(n)

            step = next_step(voters, learners, set(target), self.node_id, caught_up)
            name = f"{replica.meta.topic}/{replica.meta.partition}"
            if step.action is Action.DONE:
                if now - self._moves_reported.get(gid, -MOVE_REPORT_RETRY_S) >= MOVE_REPORT_RETRY_S:
                    self._moves_reported[gid] = now
                    log.info("%s: moved to %s", name, list(target))
                    self.meta_group.submit(encode_command("reassignment_done", topic_id=replica.meta.topic_id,
                                                          partition=replica.meta.partition, replicas=list(target)))
            elif step.action is Action.HAND_OVER and step.node is not None:
                if now - self._handed_over.get(gid, -MOVE_REPORT_RETRY_S) >= MOVE_REPORT_RETRY_S:
                    self._handed_over[gid] = now
                    log.info("%s: handing leadership to node %d (this node leaves the partition)", name, step.node)
                    group.hand_over_to(step.node)
            elif step.action in (Action.ADD_LEARNER, Action.PROMOTE, Action.REMOVE) and step.node is not None \
                    and group.propose_membership(step.action, step.node):
                log.info("%s: move to %s: %s node %d", name, list(target), step.action.value, step.node)

    def _register(self, now: float) -> None:
        if self._announce is None or self.meta_group.leader_id() is None:
            return
        known = self.metadata.view.nodes.get(self.node_id)
        wanted = {k: v for k, v in self._announce.items() if k != "id"}
        if known is not None and {k: getattr(known, k) for k in wanted} == wanted:
            return
        if now - self._announced_at < LEADER_REPORT_RETRY_S:
            return
        self._announced_at = now
        self.meta_group.submit(encode_command("register_node", **self._announce))

    def _found_cluster(self, now: float) -> None:
        """The metadata leader gives a cluster without an id its id (retried until applied; the first
        entry wins, so two leaders proposing one each is harmless)."""
        if self.metadata.view.cluster_id is not None or not self.meta_group.leadership_ready():
            return
        if now - self._cluster_id_proposed_at < LEADER_REPORT_RETRY_S:
            return
        self._cluster_id_proposed_at = now
        cluster_id = new_cluster_id()
        log.info("the cluster has no id yet: proposing %s", cluster_id)
        self.meta_group.submit(encode_command("set_cluster_id", cluster_id=cluster_id))

    def _return_leadership(self) -> None:
        """Hand each partition back to its preferred replica once that one is up and caught up.

        Without this, the survivors of a failure keep every leadership and the returning node serves
        none. pysyncobj's transfer only proceeds when the target's log matches the leader's.
        """
        for replica in self.partitions.values():
            preferred = replica.meta.replicas[0]
            group = replica.group
            if preferred != self.node_id and group.is_leader() and self.host.is_connected(preferred):
                group.hand_over_to(preferred)

    def _report_leaders(self, now: float) -> None:
        """Tell the metadata group about leaderships it does not know yet (retried until it does)."""
        if self.meta_group.leader_id() is None:
            return
        for gid, replica in self.partitions.items():
            group = replica.group
            if not group.is_leader():
                continue
            term = group.raftCurrentTerm
            meta = replica.meta
            if meta.leader == self.node_id and meta.leader_term == term:
                continue
            last = self._reported.get(gid)
            if last is not None and last[0] == term and now - last[1] < LEADER_REPORT_RETRY_S:
                continue
            self._reported[gid] = (term, now)
            payload = encode_command(
                "partition_leader",
                topic_id=meta.topic_id,
                partition=meta.partition,
                leader=self.node_id,
                term=term,
            )
            self.meta_group.submit(payload)
