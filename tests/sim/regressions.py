"""Seeds that once found a bug, replayed in every CI run, each with the run's settings and the mutant
that brings the bug back (CI checks the seed still catches it).

297 (3 nodes): a follower whose conflicting term began before the leader's match index sent a
     conflict hint below that match; the leader took it for a stale reply and the follower never
     caught up (fixed in raft/progress.py's ``on_reset``).
5001 (5 nodes): a duplicated vote counted twice (pysyncobj counts messages), so a candidate with
     one real vote led a 5-node group while another won the same term (fixed: raft/election.py).
525 (3 nodes, trims): a follower got a snapshot's index rows, then caught up from entries instead;
     a trim there took its log floor from a row of a batch it had not applied yet, so replicas
     discarded different entries (fixed in state/partition.py's ``_trim``).
315 (3 nodes, trims, idempotent producers): the leader's snapshot message held its live producer
     states; messages are encoded when the driver iteration ends, after that iteration's later
     applies, so the follower took offsets from one moment and producer states from another
     (fixed: ``PartitionMachine.producers`` returns a copy).

Seeds from before trims and idempotent producers existed run with those clients off (0 per second),
so they replay the run that found their bug.
"""

SEEDS = [
    # seed, nodes, partitions, produce_per_s, trim_per_s, idempotent_per_s, mutant
    (297, 3, 2, 40.0, 0.0, 0.0, "stale-reset-ignored"),
    (5001, 5, 2, 40.0, 0.0, 0.0, "votes-counted-per-message"),
    (525, 3, 2, 15.0, 1.0, 0.0, "floor-from-unapplied-rows"),
    (315, 3, 2, 15.0, 1.0, 5.0, "snapshot-producers-by-reference"),
]
