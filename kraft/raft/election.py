"""Vote counting a candidate can trust: each voter counts once per term.

pysyncobj counts ``response_vote`` messages, not voters: a vote delivered twice (a duplicating
network, or a fault hook that duplicates frames) counts twice, and in a 5-node group a candidate
with its own vote and one voter's duplicated reply believes it has 3 of 5 and leads without a
majority, while another candidate legitimately wins the same term: two leaders in one term (found
by the simulator, 5 nodes, seed 5001). The adapter passes each vote through ``VoteLedger`` first
and drops repeats.
Must not: decide who to vote for (pysyncobj's rules stand) or read clocks and sockets.
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
