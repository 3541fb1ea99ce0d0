"""Seeds that once found a bug, replayed in every CI run, each with the run's settings and the mutant
that brings the bug back (CI checks the seed still catches it).

297 (3 nodes): a follower whose conflicting term began before the leader's match index sent a
     conflict hint below that match; the leader took it for a stale reply and the follower never
     caught up (fixed in raft/progress.py's ``on_reset``).
5001 (5 nodes): a duplicated vote counted twice (pysyncobj counts messages), so a candidate with
     one real vote led a 5-node group while another won the same term (fixed: raft/election.py).
"""

SEEDS = [
    # seed, nodes, partitions, produce_per_s, mutant
    (297, 3, 2, 40.0, "stale-reset-ignored"),
    (5001, 5, 2, 40.0, "votes-counted-per-message"),
]
