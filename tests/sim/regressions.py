"""Seeds that once found a bug, replayed in every CI run: (seed, nodes, partitions).

297 (3 nodes): a follower whose conflicting term began before the leader's match index sent a
     conflict hint below that match; the leader took it for a stale reply and the follower never
     caught up (fixed in raft/progress.py's ``on_reset``).
5001 (5 nodes): a duplicated vote counted twice (pysyncobj counts messages), so a candidate with
     one real vote led a 5-node group while another won the same term (fixed: raft/election.py).
"""

SEEDS = [(297, 3, 2), (5001, 5, 2)]
