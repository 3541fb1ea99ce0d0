"""The metadata leader's voter keeping in the simulator: ``kraft.node.metadata_members.next_change``
driven as ``ReplicaManager._keep_metadata_voters`` drives it, from whichever node leads the metadata
group, with what that node knows (its connections, for how long each peer has been unreachable,
its learners' progress).

Every node of the simulated cluster is registered. Decommissions (``decommission_at``: node ->
simulated time it is asked to leave) stand for a node drained of its replicas: ``DRAIN_S`` later its
replicas have moved off, which the metadata group records at the commit index the leader then has
(``retired_at``: the leader's applied index then); from then the node is *retired*
(decommissioned, hosting nothing) for the policy, which lets it leave once its own view holds the
index where the leadership deciding first saw it retired (``replicas.metadata_synced``).
It may stop for good (``drained``: as the chaos run's operator stops it) only once it is out of the
metadata group by the leader's committed configuration *and* its own view holds that commit index;
a node that left the group with an older view never catches up (the chaos run's seed 902: a voter
killed while it was drained, removed as lost), so the group never settles. Partition groups are
not moved off (the simulator's partition replicas of a stopped node count as down for good).
The checker's Raft properties hold throughout, and after healing the group must settle on
``want`` voters among the nodes that stay, with every decommissioned node stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from kraft.node.metadata_members import MetadataMembers, next_change
from kraft.node.replicas import metadata_synced
from kraft.raft.membership import Action, Step
from kraft.state.metadata import METADATA_GID
from tests.sim.node import SimNode

REPLACE_AFTER_S = 3.0  # cluster.ini's metadata_voter_replace_ms, simulated
HAND_OVER_EVERY_S = 2.0
DRAIN_S = 2.0  # a decommissioned node's replicas moved off this long after it was asked to leave


class MetadataVoterKeeper:
    def __init__(self, ids: list[int], want: int, trace: Callable[[str], None],
                 decommission_at: dict[int, float] | None = None) -> None:
        self.ids = ids
        self.want = want
        self._trace = trace
        self._leader: tuple[int, int] | None = None  # (node, term) whose silence table this is
        self._silent_since: dict[int, float] = {}
        self._handed_over_at = float("-inf")
        self.changes = 0
        self.decommission_at = dict(decommission_at or {})
        self.retired_at: dict[int, int] = {}  # node -> the metadata index its view must reach
        self._seen_retired: dict[int, int] = {}  # as ReplicaManager._retired_at: per leadership
        self.stopped: set[int] = set()

    def advance(self, nodes: dict[int, SimNode | None], now: float) -> None:
        leader = self._leader_node(nodes)
        if leader is None:
            return
        group = leader.groups[METADATA_GID]
        key = (leader.node_id, group.current_term())
        if key != self._leader:  # a new leadership counts silence afresh, as a node does
            self._leader, self._silent_since, self._seen_retired = key, {}, {}
        for n, at in sorted(self.decommission_at.items()):
            if n not in self.retired_at and now >= at + DRAIN_S:
                self.retired_at[n] = group.last_applied()
                self._trace(f"t={now:.3f}s node {n} decommissioned and drained (metadata index "
                            f"{group.last_applied()})")
        members = self._members(leader, now)
        if not group.configuration_committed():
            return  # as the node does: no step on a change that may yet be truncated away
        step = next_change(members)
        if step.node is None:
            return
        if step.action is Action.HAND_OVER:
            if now - self._handed_over_at >= HAND_OVER_EVERY_S:
                self._handed_over_at = now
                group.hand_over_to(step.node)
        elif group.propose_membership(step.action, step.node):
            self.changes += 1
            voters, learners = group.configuration()
            self._trace(f"t={now:.3f}s metadata group (voters {sorted(voters)}, learners {sorted(learners)}): "
                        f"leader {leader.node_id} proposes {step.action.value} {step.node}")

    def drained(self, nodes: dict[int, SimNode | None]) -> list[int]:
        """Retired nodes that may stop for good now: out of the metadata group by the leader's
        committed configuration, and their own view holding the index at which they retired, or
        empty (the disk lost after it left: a view that shows no topic hosts nothing, as a new
        node's; seed 1047 with lost disks)."""
        leader = self._leader_node(nodes)
        if leader is None:
            return []
        voters, learners = leader.groups[METADATA_GID].committed_configuration()
        out = []
        for n, index in sorted(self.retired_at.items()):
            node = nodes.get(n)
            applied = None if node is None else node.metadata.last_applied
            if applied is not None and n not in voters | learners and (applied >= index or applied == 0):
                out.append(n)
        return out

    def stop(self, node: int, now: float) -> None:
        self.stopped.add(node)
        self._trace(f"t={now:.3f}s node {node} left the metadata group with a current view: stopped for good")

    def next_step(self, nodes: dict[int, SimNode | None], now: float) -> Step | None:
        """What the metadata leader would do next (None: no leader now)."""
        leader = self._leader_node(nodes)
        return None if leader is None else next_change(self._members(leader, now))

    def settled(self, nodes: dict[int, SimNode | None], now: float) -> bool:
        step = self.next_step(nodes, now)
        if step is None or step.action is not Action.WAIT:
            return False
        if set(self.decommission_at) - self.stopped:
            return False  # a decommissioned node not stopped yet (still draining, or its view stale)
        leader = self._leader_node(nodes)
        assert leader is not None
        group = leader.groups[METADATA_GID]
        voters, _ = group.configuration()
        return group.configuration_committed() and len(voters) == min(self.want, len(self.ids) - len(self.stopped))

    def unsettled(self, nodes: dict[int, SimNode | None]) -> str:
        """Why not settled, for the violation's message: the decommissioned nodes still running."""
        waiting = sorted(set(self.decommission_at) - self.stopped)
        parts = []
        for n in waiting:
            node = nodes.get(n)
            applied = None if node is None else node.metadata.last_applied
            parts.append(f"node {n} (retired at index {self.retired_at.get(n)}, its view applied {applied})")
        return "; decommissioned nodes not stopped: " + ", ".join(parts) if parts else ""

    def _leader_node(self, nodes: dict[int, SimNode | None]) -> SimNode | None:
        return next((n for n in nodes.values() if n is not None and n.groups[METADATA_GID].leadership_ready()),
                    None)

    def _members(self, leader: SimNode, now: float) -> MetadataMembers:
        group = leader.groups[METADATA_GID]
        voters, learners = group.configuration()
        for n in self.ids:
            if n == leader.node_id or leader.is_connected(n):
                self._silent_since.pop(n, None)
            else:
                self._silent_since.setdefault(n, now)
        retired = set(self.retired_at)
        for n in retired:
            self._seen_retired.setdefault(n, group.last_applied())
        return MetadataMembers(
            voters=voters, learners=learners, leader=leader.node_id, registered=set(self.ids),
            leaving={n for n in retired if metadata_synced(group, n, leader.node_id, self._seen_retired[n])},
            retired=retired,
            caught_up={n for n in learners if group.caught_up_learner(n) is not None},
            want_voters=self.want, replace_after_s=REPLACE_AFTER_S,
            silent_s={n: now - t for n, t in self._silent_since.items()}, not_voting=set(group.learners()))
