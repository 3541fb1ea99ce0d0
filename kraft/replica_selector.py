"""Which replica a consumer should read a partition from (fetch from follower, KIP-392): Kafka's
``RackAwareReplicaSelector``, as a pure function the partition's leader calls when it answers a
Fetch that names the consumer's rack (``client.rack``).

Owns the choice only. Must not: read cluster state or clocks (the caller passes the replicas caught
up with the leader and the nodes' racks), or decide whether follower fetching is on
(cluster.ini's ``fetch_from_follower``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def preferred_read_replica(leader: int, in_sync: Sequence[int], racks: Mapping[int, str | None],
                           client_rack: str | None) -> int | None:
    """The node the consumer should fetch from instead of ``leader``, or None (the leader serves):
    the first of ``in_sync`` (the leader's in-sync replicas, in replica order) in ``client_rack``,
    unless the leader is in that rack itself or the client names none. Only caught-up replicas are
    chosen, so the consumer's position is (almost always) within what the follower has; one that is
    behind answers OFFSET_OUT_OF_RANGE and the client goes back to the leader::

        >>> racks = {1: "a", 2: "b", 3: "c"}
        >>> preferred_read_replica(1, [1, 2, 3], racks, "c")
        3
        >>> preferred_read_replica(1, [1, 2], racks, "c") is None  # node 3 is not in sync
        True
        >>> preferred_read_replica(1, [1, 2, 3], racks, "a") is None  # the leader's own rack
        True
    """
    if not client_rack or racks.get(leader) == client_rack:
        return None
    return next((n for n in in_sync if n != leader and racks.get(n) == client_rack), None)
