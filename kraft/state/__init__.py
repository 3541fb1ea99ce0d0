"""What replicated commands mean: the partition and metadata state machines (pure: no sockets, clocks
or randomness; storage only through the small row protocols they declare)."""
