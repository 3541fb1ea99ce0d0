"""Rebalance and decommission planning: which partitions to move where so that replicas and preferred
leaders are spread evenly over the nodes that stay, with the fewest replicas moved.

Owns: the plan, as a pure function of the assignment (every partition's replicas and any move in
progress) and of the nodes (id, rack, decommissioned). No randomness, clock or cluster state, so the
same inputs give the same plan on every node.
Must not: carry a plan out (the broker's reassignment path does, one partition move at a time), decide
who may ask for one, or place new topics (``kraft.placement`` does).

What a plan guarantees, in this order of priority:

1. no replica stays on a decommissioned node (or on a node that is not in the cluster at all);
2. a partition's replicas are on as many racks as possible, when every remaining node has a rack;
3. replicas per node are even: max - min <= 1 wherever a move can get there without breaking 2;
4. preferred leaders (each partition's first replica) per node are even, by reordering a partition's
   replicas, which moves no data;
5. the fewest replica moves that reach 1-4 under a greedy step (each step moves one replica from the
   fullest node that has a movable one to the emptiest node that can take it), so a balanced cluster
   gets an empty plan, and the replication factor of every partition stays.

A partition already being moved counts as being on its target (where it is going); a plan entry for
it changes that target.

Worked example: nodes 1..3 hold a topic of 4 partitions, RF 3 (3 leads none, 1 leads two); node 4
joins. Each of nodes 1..3 gives node 4 one follower replica (12 replicas, 3 a node), then node 4 becomes
the first replica, so the preferred leader, of a partition node 1 led::

    >>> nodes = [Node(1), Node(2), Node(3), Node(4)]
    >>> parts = [Partition("t", 0, (1, 2, 3)), Partition("t", 1, (2, 3, 1)),
    ...          Partition("t", 2, (3, 1, 2)), Partition("t", 3, (1, 3, 2))]
    >>> [(m.partition, m.replicas, m.planned) for m in plan(nodes, parts).moves]
    [(0, (1, 2, 3), (4, 1, 3)), (1, (2, 3, 1), (2, 3, 4)), (3, (1, 3, 2), (1, 4, 2))]
    >>> plan(nodes, [Partition("t", 0, (1, 2, 3)), Partition("t", 1, (4, 3, 2))]).moves
    ()
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kraft.errors import NotEnoughNodes


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    rack: str | None = None
    decommissioned: bool = False


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition as the metadata has it: its replicas and, while it is being moved, its target."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    target: tuple[int, ...] | None = None

    @property
    def placed(self) -> tuple[int, ...]:
        """Where the partition is going to be: its move's target, else its replicas."""
        return self.target if self.target is not None else self.replicas


@dataclass(frozen=True, slots=True)
class Move:
    """One reassignment of the plan: ``replicas`` now (and ``target`` of a move in progress) -> ``planned``."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    target: tuple[int, ...] | None
    planned: tuple[int, ...]

    @property
    def moved_replicas(self) -> int:
        """Replicas that change node (a reorder moves none)."""
        before = self.target if self.target is not None else self.replicas
        return len(set(self.planned) - set(before))


@dataclass(frozen=True, slots=True)
class Plan:
    moves: tuple[Move, ...]
    replicas_before: dict[int, int]  # node id -> replicas it holds (counting moves in progress as done)
    replicas_after: dict[int, int]
    leaders_before: dict[int, int]  # node id -> partitions it is the preferred leader of
    leaders_after: dict[int, int]
    decommissioned: tuple[int, ...] = ()  # the nodes replicas leave (decommissioned, or not in the cluster)

    @property
    def moved_replicas(self) -> int:
        return sum(m.moved_replicas for m in self.moves)


def plan(nodes: Sequence[Node], partitions: Sequence[Partition], *, balance: bool = True) -> Plan:
    """The moves that meet the module's guarantees. With ``balance`` False only replicas on
    decommissioned or unknown nodes move (a decommission: no other partition is touched), each to the
    least loaded node that keeps the partition's racks spread, and preferred leaders are evened out
    among the partitions that move only.

    Raises NotEnoughNodes when some partition has more replicas than there are nodes left to hold them.
    """
    if len({n.id for n in nodes}) != len(nodes):
        raise ValueError(f"node ids must be distinct: {sorted(n.id for n in nodes)}")
    live = sorted(n.id for n in nodes if not n.decommissioned)
    check_capacity(nodes, partitions)
    rack_of = _racks([n for n in nodes if not n.decommissioned])
    ordered = sorted(partitions, key=lambda p: (p.topic, p.partition))
    state = _State(live, rack_of, [list(p.placed) for p in ordered])
    before_replicas, before_leaders = state.replica_counts(), state.leader_counts()
    evacuated = state.evacuate()
    if balance:
        state.spread_racks()
        state.balance_replicas()
        state.balance_leaders()
    else:
        state.balance_leaders(among=evacuated)
    moves = tuple(Move(p.topic, p.partition, p.replicas, p.target, tuple(new))
                  for p, new in zip(ordered, state.assignment, strict=True) if tuple(new) != p.placed)
    all_ids = sorted({n.id for n in nodes} | set(before_replicas))
    return Plan(moves, _dense(before_replicas, all_ids), _dense(state.replica_counts(), all_ids),
                _dense(before_leaders, all_ids), _dense(state.leader_counts(), all_ids),
                tuple(i for i in all_ids if i not in state.live_set))


def check_capacity(nodes: Sequence[Node], partitions: Iterable[Partition]) -> None:
    """NotEnoughNodes unless the nodes that are not decommissioned can hold every partition's
    replication factor (the largest of any topic is named)."""
    live = [n.id for n in nodes if not n.decommissioned]
    worst: dict[str, int] = {}
    for p in partitions:
        worst[p.topic] = max(worst.get(p.topic, 0), len(p.placed))
    short = sorted((t, rf) for t, rf in worst.items() if rf > len(live))
    if short:
        named = ", ".join(f"{t} (replication factor {rf})" for t, rf in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise NotEnoughNodes(f"{len(live)} node(s) would remain ({', '.join(map(str, live)) or 'none'}), too few "
                             f"to hold {named}{more}; add nodes first")


def _dense(counts: Counter[int], ids: Sequence[int]) -> dict[int, int]:
    return {i: counts.get(i, 0) for i in ids}


def _racks(live: Sequence[Node]) -> dict[int, str]:
    """node id -> rack when every remaining node has one; empty (rack-unaware) otherwise, as
    ``kraft.placement`` does."""
    if not live or any(n.rack is None for n in live):
        return {}
    return {n.id: n.rack for n in live if n.rack is not None}


class _State:
    """The assignment being planned (one replica list per partition, in (topic, partition) order)
    and the moves' rules over it. Every choice breaks ties by node id and partition order."""

    def __init__(self, live: list[int], rack_of: dict[int, str], assignment: list[list[int]]) -> None:
        self.live = live
        self.live_set = set(live)
        self.rack_of = rack_of
        self.assignment = assignment
        self.count = Counter({n: 0 for n in live})
        for replicas in assignment:
            self.count.update(n for n in replicas if n in self.live_set)

    def replica_counts(self) -> Counter[int]:
        return Counter(n for replicas in self.assignment for n in replicas)

    def leader_counts(self) -> Counter[int]:
        return Counter(replicas[0] for replicas in self.assignment if replicas)

    def _racks_of(self, replicas: Iterable[int]) -> set[str]:
        return {self.rack_of[n] for n in replicas if n in self.rack_of}

    def _wanted_racks(self, replicas: Sequence[int]) -> int:
        return min(len(replicas), len(set(self.rack_of.values())))

    def _replace(self, p: int, old: int, new: int) -> None:
        replicas = self.assignment[p]
        replicas[replicas.index(old)] = new
        if old in self.live_set:
            self.count[old] -= 1
        self.count[new] += 1

    def _emptiest(self, p: int, without: int | None = None) -> int | None:
        """The node to take a replica of partition ``p``: not one of its replicas, on a rack it lacks
        when there is one, then the fewest replicas, then the lowest id. ``without`` is the replica
        that leaves (its rack is free again)."""
        others = [n for n in self.assignment[p] if n != without]
        used = self._racks_of(others)
        candidates = [n for n in self.live if n not in self.assignment[p]]
        if not candidates:
            return None
        return min(candidates, key=lambda n: (self.rack_of.get(n) in used if self.rack_of else False,
                                              self.count[n], n))

    def evacuate(self) -> set[int]:
        """Replace every replica on a node that is not live; the partitions changed."""
        changed = set()
        for p, replicas in enumerate(self.assignment):
            for old in [n for n in replicas if n not in self.live_set]:
                new = self._emptiest(p, without=old)
                if new is None:  # check_capacity rules this out
                    raise NotEnoughNodes(f"no node left to take a replica from node {old}")
                self._replace(p, old, new)
                changed.add(p)
        return changed

    def spread_racks(self) -> None:
        """Partitions on fewer racks than they could be: a replica of a rack that holds two moves to
        the emptiest node of a rack that holds none (a follower first, then the fullest node)."""
        if not self.rack_of:
            return
        for p, replicas in enumerate(self.assignment):
            while len(self._racks_of(replicas)) < self._wanted_racks(replicas):
                per_rack = Counter(self.rack_of[n] for n in replicas)
                doubled = [n for n in replicas if per_rack[self.rack_of[n]] > 1]
                old = min(doubled, key=lambda n: (replicas.index(n) == 0, -self.count[n], n))
                new = self._emptiest(p, without=old)
                if new is None or self.rack_of[new] in self._racks_of(replicas):
                    break
                self._replace(p, old, new)

    def _can_move(self, p: int, old: int, new: int) -> bool:
        replicas = self.assignment[p]
        if new in replicas:
            return False
        if not self.rack_of:
            return True
        after = [new if n == old else n for n in replicas]
        return len(self._racks_of(after)) >= len(self._racks_of(replicas))

    def balance_replicas(self) -> None:
        """Move one replica at a time from the fullest node to the emptiest one that can take it until
        max - min <= 1 or no move helps. Each move lowers the sum of squared counts, so this ends."""
        # Per node, the partitions it follows and leads, each sorted: followers are offered first,
        # since moving a partition's first replica moves its preferred leader too.
        follows: dict[int, list[int]] = {n: [] for n in self.live}
        leads: dict[int, list[int]] = {n: [] for n in self.live}
        for p, replicas in enumerate(self.assignment):
            for i, n in enumerate(replicas):
                (leads if i == 0 else follows)[n].append(p)
        # Pairs (from, to) no partition can move between. A move changes one partition only, so a
        # pair comes back only if that partition, now on its ``from`` node, can move.
        dead: set[tuple[int, int]] = set()
        while True:
            step = self._next_replica_move(follows, leads, dead)
            if step is None:
                return
            p, old, new = step
            side = leads if self.assignment[p][0] == old else follows
            side[old].pop(bisect.bisect_left(side[old], p))
            bisect.insort(side[new], p)
            self._replace(p, old, new)
            dead = {(a, b) for a, b in dead if a not in self.assignment[p] or not self._can_move(p, a, b)}

    def _next_replica_move(self, follows: dict[int, list[int]], leads: dict[int, list[int]],
                           dead: set[tuple[int, int]]) -> tuple[int, int, int] | None:
        sources = sorted(self.live, key=lambda n: (-self.count[n], n))
        targets = sorted(self.live, key=lambda n: (self.count[n], n))
        for old in sources:
            for new in targets:
                if self.count[old] - self.count[new] < 2:
                    break
                if (old, new) in dead:
                    continue
                for p in itertools.chain(follows[old], leads[old]):
                    if self._can_move(p, old, new):
                        return p, old, new
                dead.add((old, new))
        return None

    def balance_leaders(self, among: set[int] | None = None) -> None:
        """Hand preferred leadership along a chain of partitions (``a`` gives a partition it leads to
        one of its replicas ``b``, ``b`` gives one of its own to ``c`` ...) from a node leading at least
        two more partitions than the chain's last node, until no such chain exists: then max - min
        <= 1 unless the replicas' placement rules it out. Each chain lowers the sum of squared counts,
        so this ends; only replica order changes. ``among``: only these partitions are reordered."""
        leads = Counter({n: 0 for n in self.live})
        led: dict[int, list[int]] = {n: [] for n in self.live}  # the partitions that may be reordered
        for p, replicas in enumerate(self.assignment):
            if replicas:
                leads[replicas[0]] += 1
                if replicas[0] in led and (among is None or p in among):
                    led[replicas[0]].append(p)
        while True:
            chain = self._next_leader_chain(leads, led)
            if chain is None:
                return
            for p, new in chain:
                replicas = self.assignment[p]
                old = replicas[0]
                led[old].remove(p)
                bisect.insort(led[new], p)
                self.assignment[p] = [new, *(n for n in replicas if n != new)]
            leads[self.assignment[chain[0][0]][1]] -= 1  # the chain's first node gave one, its last took one
            leads[chain[-1][1]] += 1

    def _next_leader_chain(self, leads: Counter[int], led: dict[int, list[int]]) -> list[tuple[int, int]] | None:
        """The first chain found (partition, its new first replica), breadth first from the node leading
        the most that has one, in node id and partition order."""
        for source in sorted(self.live, key=lambda n: (-leads[n], n)):
            came_from: dict[int, tuple[int, int]] = {}  # node -> (partition, node it came from)
            frontier = [source]
            seen = {source}
            end = None
            while frontier and end is None:
                following = []
                for node in frontier:
                    for p in led[node]:
                        for other in sorted(self.assignment[p][1:]):
                            if other in seen or other not in self.live_set:
                                continue
                            seen.add(other)
                            came_from[other] = (p, node)
                            following.append(other)
                            if end is None and leads[source] - leads[other] >= 2:
                                end = other
                frontier = following
            if end is None:
                continue
            chain = []
            node = end
            while node != source:
                p, previous = came_from[node]
                chain.append((p, node))
                node = previous
            return chain[::-1]
        return None
