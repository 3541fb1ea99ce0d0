"""The deterministic simulator: whole kraft clusters on simulated time (``make sim``; README).

Modules: ``cluster`` (the run loop, faults applied, healing and liveness), ``node`` (a node: the real
groups, journals, state machines and GroupDriver over a ``disk``), ``network`` (messages in flight
and network faults), ``faults`` (the schedule a seed draws), ``workload`` (clients and what was
acknowledged), ``checker`` (the invariants), ``scenarios`` (scripted schedules and mutants),
``run`` (the command line, shrinking), ``regressions`` (seeds that found bugs).

Extending it, as the next issues must (anything that changes what replicas store or how they agree
is driven through here before it ships):
- a new replicated command (DeleteRecords, a retention decision, a snapshot marker): the workload
  proposes it like ``produce``; ``checker.state_digest`` covers the state it changes, so replicas
  that applied the same index must agree on it; ``check_acknowledged`` states what survives it;
- log prefix truncation and snapshot install: the journal's first index moves on every replica;
  ``Checker._check_committed`` compares the committed suffix that remains, and a follower that is
  sent a snapshot must end with the same ``state_digest`` as the leader at the snapshot's index;
- membership changes (learners, voter changes, a disk replaced): ``SimNode`` builds each group from
  a member list, so a fault kind (like ``wipe``) or a workload step can change it mid-run; election
  safety and "acknowledged writes survive" are already checked over any membership, and the
  ``empty-disk`` scenario is the first test such a change must turn from expected-to-fail to pass.
"""
