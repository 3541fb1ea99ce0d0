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
The metadata group: a new cluster's starts with the first ``metadata_voters`` nodes of cluster.ini
as voters and the others as learners (``kraft.node.metadata_members``; persisted at once, so a later
cluster.ini never changes it; a journal from before ``metadata_voters`` keeps every node of
cluster.ini as a voter); its leader keeps the voter count with one membership change at a time
(``metadata_members.next_change``). Every node connects to the nodes the registry knows
(``NodeHost.add_peer``: a node added after the others started is in no cluster.ini of theirs) and
forgets decommissioned nodes that left the metadata group. A node no metadata leader talks to yet
(a new one) registers through its peers (``RaftGroup.propose_through_peers``).
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
from kraft.node.metadata_members import MetadataMembers, initial_members, next_change
from kraft.raft.group import GroupTimers, RaftGroup
from kraft.raft.journal import INITIAL_REPLICA, RaftJournal
from kraft.raft.membership import Action, next_step
from kraft.raft.proposals import Joiner
from kraft.raft.transport import MuxTransport
from kraft.state.metadata import (
    METADATA_GID,
    MetadataMachine,
    MetadataView,
    PartitionMeta,
    encode_command,
    hosted_changes,
)
from kraft.state.partition import PartitionMachine

log = logging.getLogger(__name__)

ISR_LAG_ENTRIES_MAX = 10_000  # a follower whose log lacks more of the leader's entries is out of the ISR
PREFERRED_ELECTION_DELAY_S = 0.2
LEADER_REPORT_INTERVAL_S = 0.25
LEADER_REPORT_RETRY_S = 2.0
PREFERRED_LEADER_CHECK_S = 5.0  # how often a non-preferred leader offers leadership back (the default)
MOVE_REPORT_RETRY_S = 2.0  # a finished move is reported again if the metadata has not taken it
METADATA_VOTER_REPLACE_S = 5.0  # a metadata voter silent this long is replaced (the default)


def metadata_synced(group: RaftGroup, node_id: int, leader: int, retired_at: int) -> bool:
    """Metadata leader: whether decommissioned ``node_id``'s own view of the metadata holds index
    ``retired_at`` (where this leader's view first showed it hosting nothing) by what its replica
    says it has applied. It leaves the group only then: out of the group nothing updates its view
    any more, which must show the moves off it finished (the chaos run: a node down while it was
    drained came back, out of the group, with a view listing moves in progress and replicas it no
    longer had). Its log holding the entries is not enough: a replica applies only what it knows
    is committed, and the commit index reaching it can trail its log (the simulator, seed 70 with
    decommissions: removed the moment its log held the leader's commit index, a learner never
    learnt that the last entry was committed). A voter silent past the replace delay is still
    replaced (the group's quorum comes first), but demoted to a learner, not removed: back, it
    catches up as a learner and leaves only then (``metadata_members`` rule 6, seed 902)."""
    if node_id == leader:
        return True  # the leader itself (it hands its leadership over before it leaves)
    return group.follower_applied(node_id, retired_at)


@dataclass
class PartitionReplica:
    meta: PartitionMeta
    group: RaftGroup
    machine: PartitionMachine
    log: PartitionLog
    journal: RaftJournal

    def in_sync_replicas(self) -> tuple[int, ...]:
        """On the leader, Kafka's ISR: the leader and the voters that answered within its quorum-check
        time and lack at most ``ISR_LAG_ENTRIES_MAX`` of its entries (learners never: a move's new
        replica or a lost disk still catching up), in the order of the replicas; () elsewhere."""
        states = self.group.follower_states()
        if not self.group.is_leader():
            return ()
        leader = self.group.self_id
        caught_up = {n for n, (state, lag) in states.items() if state == "voter" and lag <= ISR_LAG_ENTRIES_MAX}
        return tuple(n for n in self.meta.hosts if n == leader or n in caught_up)


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
        metadata_voters: int | None = None,
        metadata_voter_replace_s: float = METADATA_VOTER_REPLACE_S,
        produce_sets: Joiner | None = None,
    ) -> None:
        """``preferred_election_delay_s``: how soon a group's preferred replica stands for election
        (below the election timeout, so it usually wins; an in-process cluster makes it 0).
        ``disk_id``: this node's disk, which its groups' replies carry; ``rejoining``: the disk was
        lost, so groups new to it start as learners until ``on_rejoined`` is called.
        ``leader_balance_interval_s``: how often leaders hand partitions back to their preferred
        replicas (cluster.ini's ``leader_balance_interval_ms``; 0: never).
        ``controller_ids``: the nodes of cluster.ini; ``metadata_voters``: how many of them vote in a
        new cluster's metadata group, and how many voters its leader keeps (None: every node of
        cluster.ini votes and the leader changes nothing, as before ``metadata_voters``).
        ``metadata_voter_replace_s``: how long a metadata voter is silent before it is replaced.
        ``produce_sets``: the partition groups' joiner of queued produce proposals
        (``kraft.state.produce_sets``; None: one entry per proposal)."""
        self.node_id = node_id
        self.disk_id = disk_id
        self.rejoining = rejoining
        self._on_rejoined = on_rejoined
        self.host = host
        self.store = store
        self.timers = timers
        self._produce_sets = produce_sets
        self.metadata = MetadataMachine(MetadataRows(store, METADATA_GID))
        self.partitions: dict[int, PartitionReplica] = {}
        if on_appended is not None:
            host.outbox.on_appended(on_appended)
        self._seen_version = -1
        self._seen_view = MetadataView()  # the view this node's groups follow (reconciled from)
        self._next_report = 0.0
        self._reported: dict[int, tuple[int, tuple[int, ...], float]] = {}  # gid -> (term, isr, when)
        self._moves_reported: dict[int, float] = {}  # gid -> when its finished move was last reported
        self._handed_over: dict[int, float] = {}  # gid -> when leadership was last offered for a move
        self.leader_balance_interval_s = leader_balance_interval_s
        self._next_rebalance = host.clock.now() + leader_balance_interval_s
        self._cluster_id_proposed_at = float("-inf")
        self._announce = announce  # this node's entry in the metadata's node registry
        self._announced_at = float("-inf")
        self._announced_via_peers_at = float("-inf")
        self._preferred_delay_s = preferred_election_delay_s
        self.metadata_voters = metadata_voters
        self._configured = frozenset(controller_ids)  # the nodes of this node's cluster.ini
        self.metadata_voter_replace_s = metadata_voter_replace_s
        self._silent_since: dict[int, float] = {}  # metadata leader: node -> since when not connected
        # metadata leader: decommissioned node hosting nothing -> this leader's applied index when
        # its view first showed that (the index that node's own view must reach before it leaves)
        self._retired_at: dict[int, int] = {}
        self._meta_handed_over = float("-inf")
        self._peers_seen: tuple[int, frozenset[int], frozenset[int]] | None = None
        journal = self._journal(METADATA_GID, controller_ids, "the metadata group")
        voters: list[int]
        learners: list[int]
        if metadata_voters is None or (journal.existed and journal.config is None):
            voters, learners = list(controller_ids), []  # a group from before metadata_voters: all vote
        else:
            voters, learners = initial_members(controller_ids, metadata_voters)
            if journal.config is None:
                # Persisted at once: a node added to cluster.ini later must not change what this is.
                journal.save_config({v: INITIAL_REPLICA for v in voters}, learners)
        self.meta_group = host.add_group(
            METADATA_GID,
            lambda factory: RaftGroup(
                METADATA_GID, node_id, voters, journal, self.metadata, factory, timers, host.outbox,
                forward_to_leader=True,  # any node may propose; a duplicate create is refused anyway
                learners=learners,
            ),
        )
        current_voters, _ = self.meta_group.configuration()  # the journal's, when it has one
        if current_voters and min(current_voters) == node_id:
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
        """How many groups here are learners (catching up after a lost disk; the metadata group only
        until then: most nodes are learners of it by its configuration, for good)."""
        meta = self.meta_group.journal.learner is not None
        return int(meta) + sum(r.group.is_learner() for r in self.partitions.values())

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
            self._reconcile(*hosted_changes(self._seen_view, view, self.node_id))
            self._seen_view = view
        now = self.host.clock.now()
        self._found_cluster(now)
        if now >= self._next_report:
            self._next_report = now + LEADER_REPORT_INTERVAL_S
            self._report_leaders(now)
            self._register(now)
            self._drive_moves(now)
            self._sync_peers(view)
            self._keep_metadata_voters(now, view)
        if self.leader_balance_interval_s > 0 and now >= self._next_rebalance:
            self._next_rebalance = now + self.leader_balance_interval_s
            self._return_leadership()

    def _reconcile(self, wanted: dict[int, PartitionMeta], dropped: set[int]) -> None:
        for gid in [g for g in dropped if g in self.partitions]:
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
                             learners=learners, joiner=self._produce_sets)

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
            if target is None or not group.leadership_ready() or not group.configuration_committed():
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
        if self._announce is None:
            return
        known = self.metadata.view.nodes.get(self.node_id)
        wanted = {k: v for k, v in self._announce.items() if k != "id"}
        if known is not None and {k: getattr(known, k) for k in wanted} == wanted:
            return
        payload = encode_command("register_node", **self._announce)
        if self.meta_group.leader_id() is not None:
            if now - self._announced_at >= LEADER_REPORT_RETRY_S:
                self._announced_at = now
                self.meta_group.submit(payload)
        elif now - self._announced_via_peers_at >= LEADER_REPORT_RETRY_S:
            # No leader heard from: maybe none sends to this node yet (a node added to the cluster
            # joins the metadata group only once registered). Registering twice is harmless.
            self._announced_via_peers_at = now
            self.meta_group.propose_through_peers(payload)

    def _sync_peers(self, view: MetadataView) -> None:
        """Connect to every registered node cluster.ini does not list (a node added later); forget
        decommissioned ones that left the metadata group and host nothing."""
        voters, learners = self.meta_group.configuration()
        seen = (view.version, voters, learners)
        if seen == self._peers_seen:
            return
        self._peers_seen = seen
        for node_id, node in view.nodes.items():
            if node_id == self.node_id:
                continue
            if node.decommissioned and node_id not in voters | learners and not view.partitions_on(node_id):
                self.host.remove_peer(node_id)
            elif node_id not in self._configured:  # cluster.ini's address stands for the nodes it lists
                self.host.add_peer(node_id, (node.host, node.raft_port))

    def _keep_metadata_voters(self, now: float, view: MetadataView) -> None:
        """Metadata leader: the next change that keeps ``metadata_voters`` live voters
        (``kraft.node.metadata_members``), proposed when no other change is on its way."""
        group = self.meta_group
        if self.metadata_voters is None or not group.leadership_ready():
            self._silent_since.clear()  # a new leadership starts counting silence afresh
            self._retired_at.clear()
            return
        voters, learners = group.configuration()
        for node_id in (voters | learners | set(view.nodes)) - {self.node_id}:
            if self.host.is_connected(node_id):
                self._silent_since.pop(node_id, None)
            else:
                self._silent_since.setdefault(node_id, now)
        if not group.configuration_committed():
            return  # the change on its way may yet be truncated away: decide on what is committed
        retired = {n for n, meta in view.nodes.items() if meta.decommissioned and not view.partitions_on(n)}
        self._retired_at = {n: self._retired_at.get(n, group.last_applied()) for n in retired}
        step = next_change(MetadataMembers(
            voters=voters, learners=learners, leader=self.node_id, registered=set(view.nodes),
            leaving={n for n in retired if metadata_synced(group, n, self.node_id, self._retired_at[n])},
            retired=retired,
            caught_up={n for n in learners if group.caught_up_learner(n) is not None},
            want_voters=self.metadata_voters, replace_after_s=self.metadata_voter_replace_s,
            silent_s={n: now - t for n, t in self._silent_since.items()},
            not_voting=set(group.learners()),
        ))
        if step.node is None:
            return
        if step.action is Action.HAND_OVER:
            if now - self._meta_handed_over >= MOVE_REPORT_RETRY_S and group.hand_over_to(step.node):
                self._meta_handed_over = now
                log.info("metadata group: handing leadership to node %d (this node leaves the group)", step.node)
        elif group.propose_membership(step.action, step.node):
            log.info("metadata group (voters %s, learners %s): %s node %d", sorted(voters), sorted(learners),
                     step.action.value, step.node)

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
            isr = replica.in_sync_replicas()
            if meta.leader == self.node_id and meta.leader_term == term and meta.isr == isr:
                continue
            last = self._reported.get(gid)
            if last is not None and last[:2] == (term, isr) and now - last[2] < LEADER_REPORT_RETRY_S:
                continue
            self._reported[gid] = (term, isr, now)
            payload = encode_command(
                "partition_leader",
                topic_id=meta.topic_id,
                partition=meta.partition,
                leader=self.node_id,
                term=term,
                isr=list(isr),
            )
            self.meta_group.submit(payload)
