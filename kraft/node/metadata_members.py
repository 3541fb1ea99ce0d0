"""Who belongs to the metadata group, and the next single change that keeps its voter count: pure.

Owns: the metadata group's initial configuration (``initial_members``: every node computes the
same one from cluster.ini) and the policy its leader follows (``next_change``):
1. a registered node missing from the group joins it as a learner (decommissioned nodes do not:
   by rule 6 one out of the group left it with a current view);
2. a decommissioned node that hosts no replica (*retired*), and whose own view has applied the
   index at which the leader's first showed it retired (so that its view, never updated once it
   is out, shows that too: ``replicas.metadata_synced``), leaves (a learner at once; a voter once
   replaced); one not caught up (down, say) stays until it is (a voter among them is replaced and
   demoted all the same, rule 4, and leaves as a learner once caught up);
3. while fewer than ``want`` voters are *kept* (neither silent past the replace delay nor retired),
   a live, caught-up learner is promoted (a group that lost no one grows only when two can be, so
   it never settles at an even count: 1 -> 3, not 1 -> 2);
4. a lost or retired voter leaves the voters once the kept voters number ``want`` again (so with 3
   voters and one dead, the 4th is added first: 3 of 4 live keep a majority, where removing first
   would leave 2 of 2); a leaving voter also when no learner could ever replace it; the leader,
   when it must go, hands its leadership to a kept voter first;
5. more kept voters than ``want`` (a returning voter, a cluster from before ``metadata_voters``):
   the highest-id voter other than the leader is demoted to a learner;
6. only a leaving node (rule 2) is ever removed from the group: every other voter that must stop
   voting (rules 4 and 5) is *demoted* to a learner, in one change, and so keeps receiving the log.
   A decommissioned voter lost while its replicas moved off (the chaos run, seed 902: killed
   while being drained) then catches up once back and leaves under rule 2 with a view that shows
   the moves finished; removed instead, it would be out of the group for good with a view that
   never moves on (rule 1 does not add a decommissioned node back), still hosting its groups.
   Hence the invariant rule 1 relies on, with no replicated state of its own (the group's
   configuration is the record): a decommissioned node out of the group left it with a current
   view (one removed while behind by a version before this rule stays out, stale: stop it).
No change is proposed that would leave the voters without a majority of live ones (a live voter
is one the leader is connected to now). A lost disk's learner is promoted by ``kraft.raft.group``
itself; this policy never counts a replica that is not ``caught_up``.
Must not: read clocks, sockets or storage, or propose anything (``kraft.node.replicas`` and the
simulator drive it).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from kraft.raft.membership import Action, Step


def initial_members(node_ids: list[int], want_voters: int) -> tuple[list[int], list[int]]:
    """(voters, learners) of a new cluster's metadata group: the first ``want_voters`` node ids
    (sorted) vote, the other nodes learn."""
    ordered = sorted(node_ids)
    return ordered[:want_voters], ordered[want_voters:]


@dataclass(frozen=True)
class MetadataMembers:
    """What the metadata leader knows when it decides (``silent_s``: for how long the leader has not
    been connected to each node it is not connected to now; ``not_voting``: voters whose replica
    lost its disk and is catching up, which count as live for no majority)."""

    voters: Set[int]
    learners: Set[int]
    leader: int
    registered: Set[int]
    leaving: Set[int]  # retired, and its own view applied up to where the leader's showed that
    caught_up: Set[int]  # learners whose log holds the leader's commit index
    want_voters: int
    replace_after_s: float
    silent_s: Mapping[int, float] = field(default_factory=dict)
    not_voting: Set[int] = frozenset()
    retired: Set[int] = frozenset()  # decommissioned and hosting no replica (``leaving`` or not yet caught up)

    def live(self, node: int) -> bool:
        return node == self.leader or (node not in self.silent_s and node not in self.not_voting)

    def lost(self, node: int) -> bool:
        return node != self.leader and self.silent_s.get(node, 0.0) > self.replace_after_s

    def keeps_majority(self, voters: Set[int]) -> bool:
        """Whether a majority of ``voters`` is live (the change to them loses nothing)."""
        return 2 * sum(1 for n in voters if self.live(n)) > len(voters)


def next_change(m: MetadataMembers) -> Step:
    """The metadata leader's next membership change (``Action.WAIT``: nothing to do now)."""
    members = set(m.voters) | set(m.learners)
    for node in sorted(set(m.registered) - members - set(m.leaving) - set(m.retired)):
        return Step(Action.ADD_LEARNER, node)
    for node in sorted(set(m.learners) & set(m.leaving)):
        return Step(Action.REMOVE, node)
    # A retired voter is never kept, caught up or not: counted while behind, it would be replaced
    # the moment it catches up and kept again when the next entry puts it behind (a promote/demote
    # churn).
    kept = {n for n in m.voters if not m.lost(n) and n not in m.leaving and n not in m.retired}
    candidates = sorted(n for n in set(m.learners) - set(m.leaving) if m.live(n) and n in m.caught_up)
    # Growing a group that lost no one (a small cluster with nodes added): never to an even count
    # that stays even, since 2 voters tolerate no more failures than 1.
    growing = kept == set(m.voters) and len(kept) % 2 == 1 and len(candidates) < 2
    if len(kept) < m.want_voters and candidates and not growing \
            and m.keeps_majority(set(m.voters) | {candidates[0]}):
        return Step(Action.PROMOTE, candidates[0])
    replaceable = any(n not in m.leaving for n in m.learners)
    for node in sorted(set(m.voters) - kept):
        may_go = len(kept) >= m.want_voters or (node in m.leaving and not replaceable)
        if not may_go or not kept:
            continue
        if node == m.leader:
            successor = next((n for n in sorted(kept) if m.live(n)), None)
            if successor is not None:
                return Step(Action.HAND_OVER, successor)
        elif m.keeps_majority(set(m.voters) - {node}):
            return Step(Action.REMOVE if node in m.leaving else Action.DEMOTE, node)
    if len(kept) > m.want_voters and kept == set(m.voters):
        extra = max(kept - {m.leader})
        if m.keeps_majority(kept - {extra}):
            return Step(Action.DEMOTE, extra)
    return Step(Action.WAIT)
