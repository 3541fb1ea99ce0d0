"""Storage: the node's ordered key/value tables and the bytes kept in them.

- ``store``         the LogStore protocol (one writer's batch per driver loop, committed read views),
                    the table names and the gid key layout
- ``lmdb_store``    LmdbStore, the real node's implementation (the only module that imports lmdb
                    for the node store)
- ``memory_store``  MemoryStore, the in-memory implementation with crash/wipe for simulations
- ``entry``         a journal row and the command in it: term, command framing, op bytes, stored batches
- ``rows``          the state machines' rows (partition state, producers, metadata catalogue and groups)
- ``partition_log`` a partition's batch index beside its journal, and reads of committed batches

Both implementations pass one contract suite (tests/unit/test_log_store_contract.py). What the rows
and commands mean is ``kraft.state``'s; the Raft journal over these tables is ``kraft.raft.journal``.
"""
