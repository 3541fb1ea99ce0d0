"""Elections: vote counting a candidate can trust (each voter counts once per term), and the
pre-vote (Raft thesis §9.6) a replica must win before it stands.

pysyncobj counts ``response_vote`` messages, not voters: a vote delivered twice (a duplicating
network, or a fault hook that duplicates frames) counts twice, and in a 5-node group a candidate
with its own vote and one voter's duplicated reply believes it has 3 of 5 and leads without a
majority, while another candidate legitimately wins the same term: two leaders in one term (found
by the simulator, 5 nodes, seed 5001). The adapter passes each vote through ``VoteLedger`` first
and drops repeats.

Pre-vote: a replica whose election timer fires first asks the others whether they would vote for it
at the next term, without anyone's term changing; it stands only once a majority of its voters said
yes. A replica that cannot win (an empty log behind a configuration it has not heard of, or cut off
from a working leader) then no longer raises its term at every timeout, which kept a candidate that
could win from ever being first at a term (the simulator, seed 30044 with moves and lost disks:
the one voter with the group's log and a voter with an empty, stale replica stood in turn for 30 s
at the same terms, neither ever getting the other's vote).
Must not: decide who to vote for in a real election (pysyncobj's rules stand) or read clocks and
sockets.
"""

from __future__ import annotations


class VoteLedger:
    def __init__(self) -> None:
        self._term = -1
        self._voters: set[int] = set()

    def first_vote(self, term: int, voter: int) -> bool:
        """Whether this is ``voter``'s first vote for us in ``term`` (a repeat must not count)."""
        if term != self._term:
            self._term = term
            self._voters = set()
        if voter in self._voters:
            return False
        self._voters.add(voter)
        return True

    def voters_in(self, term: int) -> set[int]:
        """The voters whose vote for us in ``term`` was counted."""
        return set(self._voters) if term == self._term else set()


def grants_pre_vote(*, asked_term: int, last_log: tuple[int, int], own_term: int, own_last_log: tuple[int, int],
                    leader_heard_recently: bool, may_vote: bool) -> bool:
    """Whether to tell a would-be candidate it would get this replica's vote at ``asked_term``: the
    term is above ours (a real vote there would be free), its log (last term, last index) is at least
    as up to date as ours, no leader was heard from within the minimum election timeout (a working
    leader is not disrupted), and this replica may vote at all (not a replica that lost its disk)."""
    return may_vote and not leader_heard_recently and asked_term > own_term and last_log >= own_last_log
