"""Partition moves in the simulator, as an operator's reassignments: a group is moved from its
replicas to another set (some replicas swapped for nodes that do not hold it: one on 4 nodes, up to
all three on 6) while faults happen.

Each step is ``kraft.raft.membership.next_step`` of the group's configuration as its current
leader sees it, proposed by that leader (``RaftGroup.propose_membership``), so a crash or a new
leader mid-move simply continues from the configuration the group has. The simulator plays the
metadata group's part: it creates a new replica on its node before the learner is added, and
destroys the replicas of the nodes a finished move left (a node that is down then destroys them
when it restarts).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kraft.raft.membership import Action, next_step
from tests.sim.node import Membership, SimNode

HAND_OVER_EVERY_S = 0.5


class Mover:
    def __init__(self, rng: random.Random, ids: list[int], placement: dict[int, list[int]],
                 trace: Callable[[str], None]) -> None:
        self.rng = rng
        self.ids = ids
        self.replicas = {gid: set(nodes) for gid, nodes in placement.items()}  # as of the last finished move
        self.hosting: dict[int, set[int]] = {n: set() for n in ids}  # node -> the groups it hosts
        for gid, nodes in placement.items():
            for n in nodes:
                self.hosting[n].add(gid)
        self.dropped: dict[int, set[int]] = {n: set() for n in ids}  # replicas a down node must destroy
        self.targets: dict[int, set[int]] = {}
        self._handed_over_at: dict[int, float] = {}
        self._trace = trace
        self.done = 0

    def membership(self, gid: int, node_id: int) -> Membership:
        """What the metadata says of a group now, as a (re)started replica is created with: the
        replicas of its last finished move as voters, and a node a move adds as a learner of its
        own (the group's configuration, once it has applied one, overrides this; another node's
        learner status comes from the group's log, never from here)."""
        replicas = self.replicas[gid]
        return sorted(replicas), ([] if node_id in replicas else [node_id])

    def hosted_by(self, node_id: int) -> dict[int, Membership]:
        return {gid: self.membership(gid, node_id) for gid in sorted(self.hosting[node_id])}

    def idle(self) -> bool:
        return not self.targets

    def start_one(self, now: float) -> None:
        candidates = [gid for gid in sorted(self.replicas) if gid not in self.targets]
        if not candidates:
            return
        gid = self.rng.choice(candidates)
        spare = [n for n in self.ids if n not in self.replicas[gid]]
        if not spare:
            return
        swapped = self.rng.randint(1, min(len(spare), len(self.replicas[gid])))  # 1 of 3, or more on 5+ nodes
        leaving = set(self.rng.sample(sorted(self.replicas[gid]), swapped))
        joining = set(self.rng.sample(spare, swapped))
        self.targets[gid] = (self.replicas[gid] - leaving) | joining
        self._trace(f"t={now:.3f}s move group {gid}: {sorted(self.replicas[gid])} -> {sorted(self.targets[gid])}")

    def advance(self, nodes: dict[int, SimNode | None], now: float, forget: Callable[[int, int], None]) -> None:
        for gid, target in list(self.targets.items()):
            leader = next((n for n in nodes.values() if n is not None and gid in n.groups
                           and n.groups[gid].leadership_ready()), None)
            if leader is not None and leader.groups[gid].configuration_committed():
                self._step(gid, target, leader, nodes, now, forget)

    def _step(self, gid: int, target: set[int], leader: SimNode, nodes: dict[int, SimNode | None], now: float,
              forget: Callable[[int, int], None]) -> None:
        group = leader.groups[gid]
        voters, learners = group.configuration()

        def caught_up(n: int) -> bool:
            return group.caught_up_learner(n) is not None if n in learners else group.follower_caught_up(n)

        step = next_step(voters, learners, target, leader.node_id, caught_up)
        if step.action is Action.DONE:
            self._finish(gid, target, nodes, now, forget)
            return
        node = step.node
        if step.action is Action.WAIT or node is None:
            return
        if step.action is Action.HAND_OVER:
            if now - self._handed_over_at.get(gid, -1.0) >= HAND_OVER_EVERY_S:
                self._handed_over_at[gid] = now
                group.hand_over_to(node)
            return
        if step.action is Action.ADD_LEARNER:
            self._host(gid, node, nodes)
        if group.propose_membership(step.action, node):
            self._trace(f"t={now:.3f}s group {gid}: leader {leader.node_id} proposes {step.action.value} {node}")

    def _host(self, gid: int, node_id: int, nodes: dict[int, SimNode | None]) -> None:
        if gid in self.hosting[node_id]:
            return
        self.hosting[node_id].add(gid)
        self.dropped[node_id].discard(gid)
        node = nodes.get(node_id)
        if node is not None and gid not in node.groups:
            node.host(gid, self.membership(gid, node_id))

    def _finish(self, gid: int, target: set[int], nodes: dict[int, SimNode | None], now: float,
                forget: Callable[[int, int], None]) -> None:
        del self.targets[gid]
        self.replicas[gid] = set(target)
        self.done += 1
        self._trace(f"t={now:.3f}s move of group {gid} done: {sorted(target)}")
        for node_id in self.ids:
            if node_id in target or gid not in self.hosting[node_id]:
                continue
            self.hosting[node_id].discard(gid)
            forget(node_id, gid)
            node = nodes.get(node_id)
            if node is not None and gid in node.groups:
                node.drop(gid)
            else:
                self.dropped[node_id].add(gid)
