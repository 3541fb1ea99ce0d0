"""The metadata leader's voter keeping in the simulator: ``kraft.node.metadata_members.next_change``
driven as ``ReplicaManager._keep_metadata_voters`` drives it, from whichever node leads the metadata
group, with what that node knows (its connections, for how long each peer has been unreachable,
its learners' progress).

Every node of the simulated cluster is registered; none is decommissioned. The checker's Raft
properties hold throughout, and after healing the group must settle on ``want`` voters.
"""

from __future__ import annotations

from collections.abc import Callable

from kraft.node.metadata_members import MetadataMembers, next_change
from kraft.raft.membership import Action, Step
from kraft.state.metadata import METADATA_GID
from tests.sim.node import SimNode

REPLACE_AFTER_S = 3.0  # cluster.ini's metadata_voter_replace_ms, simulated
HAND_OVER_EVERY_S = 2.0


class MetadataVoterKeeper:
    def __init__(self, ids: list[int], want: int, trace: Callable[[str], None]) -> None:
        self.ids = ids
        self.want = want
        self._trace = trace
        self._leader: tuple[int, int] | None = None  # (node, term) whose silence table this is
        self._silent_since: dict[int, float] = {}
        self._handed_over_at = float("-inf")
        self.changes = 0

    def advance(self, nodes: dict[int, SimNode | None], now: float) -> None:
        leader = next((n for n in nodes.values() if n is not None and n.groups[METADATA_GID].leadership_ready()),
                      None)
        if leader is None:
            return
        group = leader.groups[METADATA_GID]
        key = (leader.node_id, group.current_term())
        if key != self._leader:  # a new leadership counts silence afresh, as a node does
            self._leader, self._silent_since = key, {}
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

    def next_step(self, nodes: dict[int, SimNode | None], now: float) -> Step | None:
        """What the metadata leader would do next (None: no leader now)."""
        leader = next((n for n in nodes.values() if n is not None and n.groups[METADATA_GID].leadership_ready()),
                      None)
        return None if leader is None else next_change(self._members(leader, now))

    def settled(self, nodes: dict[int, SimNode | None], now: float) -> bool:
        step = self.next_step(nodes, now)
        if step is None or step.action is not Action.WAIT:
            return False
        leader = next(n for n in nodes.values() if n is not None and n.groups[METADATA_GID].leadership_ready())
        group = leader.groups[METADATA_GID]
        voters, _ = group.configuration()
        return group.configuration_committed() and len(voters) == min(self.want, len(self.ids))

    def _members(self, leader: SimNode, now: float) -> MetadataMembers:
        group = leader.groups[METADATA_GID]
        voters, learners = group.configuration()
        for n in self.ids:
            if n == leader.node_id or leader.is_connected(n):
                self._silent_since.pop(n, None)
            else:
                self._silent_since.setdefault(n, now)
        return MetadataMembers(
            voters=voters, learners=learners, leader=leader.node_id, registered=set(self.ids), leaving=set(),
            caught_up={n for n in learners if group.caught_up_learner(n) is not None},
            want_voters=self.want, replace_after_s=REPLACE_AFTER_S,
            silent_s={n: now - t for n, t in self._silent_since.items()}, not_voting=set(group.learners()))
