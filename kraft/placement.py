"""Replica assignment for new topics and for partitions added to a topic: which nodes hold each
partition, and who leads it.

Pure functions of their arguments (no randomness, no clock, no cluster state), so every node computes
the same answer; the proposer of a metadata command calls them and puts the result in the command.
``assign_replicas`` follows Apache Kafka's ``AdminUtils.assignReplicasToBrokers`` with the random
start replaced by ``offset``; ``new_partitions`` places (or checks) the partitions a topic grows by;
``manual_assignment`` checks the replicas a CreateTopics request names itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from kraft.errors import InvalidPartitions, InvalidReplicaAssignment, InvalidReplicationFactor
from kraft.invariants import invariant

ManualAssignment = Sequence[tuple[int, Sequence[int]]]
"""A new topic's replicas as a client names them: (partition index, node ids) pairs (Kafka's
CreateTopics ``assignments``)."""


def assign_replicas(
    nodes: Sequence[tuple[int, str | None]],
    partitions: int,
    replication_factor: int,
    offset: int = 0,
    first_partition: int = 0,
) -> list[list[int]]:
    """Each partition's replica node ids; the first is the preferred leader.

    ``nodes`` are ``(node_id, rack)`` pairs in any order. Guarantees:

    * a partition's replicas are distinct nodes;
    * preferred leaders go round the nodes, so each node leads ``partitions / len(nodes)`` ± 1;
    * when every node has a rack, a partition's replicas are on as many racks as possible
      (if only some nodes have a rack, racks are ignored);
    * ``offset`` (e.g. a topic id) rotates where the first partition starts and how followers are
      shifted, so that many small topics do not all lead on the lowest node id;
    * ``first_partition`` numbers the partitions placed from there (partitions added to a topic):
      they get exactly what they would have got had the topic been created with them, so leaders
      and followers go on round the nodes where the topic's existing partitions stopped.

    Worked example, nodes 1..3 with no racks, 4 partitions, RF 2, offset 0. Partition ``p`` is led
    by ``nodes[p % 3]``; its follower is the node ``1 + shift`` places further round, where
    ``shift`` grows by one each time the leaders have gone once round the nodes::

        >>> assign_replicas([(1, None), (2, None), (3, None)], 4, 2)
        [[1, 2], [2, 3], [3, 1], [1, 3]]
        >>> assign_replicas([(1, None), (2, None), (3, None)], 4, 2, offset=1)
        [[2, 1], [3, 2], [1, 3], [2, 3]]

    With racks the nodes are first interleaved rack by rack (``a``: 1, 2; ``b``: 3, 4 becomes
    1, 3, 2, 4) and a follower is skipped while its rack already holds a replica and some rack
    holds none::

        >>> assign_replicas([(1, "a"), (2, "a"), (3, "b"), (4, "b")], 4, 2)
        [[1, 3], [3, 2], [2, 4], [4, 1]]
    """
    _check_arguments(nodes, partitions, replication_factor)
    racks = _racks(nodes)
    ring = _rack_alternated(racks) if racks else sorted(node_id for node_id, _ in nodes)
    rack_of: dict[int, str | None] = dict(racks) if racks else dict.fromkeys(ring)
    start = offset % len(ring)
    # Kafka multiplies the follower shift by the rack count so that followers move to a new rack
    # rather than to the next node of the same rack when the shift grows.
    shift_step = len(set(racks.values())) if racks else 1
    if first_partition < 0:
        raise ValueError(f"first_partition must be >= 0, not {first_partition}")
    # The shift as it stood before ``first_partition``: once more for each lap of the ring behind it.
    shift = start + max(0, first_partition - 1) // len(ring)
    assignment = []
    for p in range(first_partition, first_partition + partitions):
        if p > 0 and p % len(ring) == 0:
            shift += 1
        first = (p + start) % len(ring)
        assignment.append(_replicas_of(ring, rack_of, first, shift * shift_step, replication_factor))
    return assignment


def new_partitions(
    nodes: Sequence[tuple[int, str | None]],
    existing: Sequence[Sequence[int]],
    total: int,
    offset: int = 0,
    assignment: Sequence[Sequence[int]] | None = None,
) -> list[list[int]]:
    """The replicas of the partitions a topic with ``existing`` partitions (their replica lists)
    gets when it grows to ``total``: placed by ``assign_replicas`` from partition ``len(existing)``
    on, with the topic's replication factor (that of its partition 0, as Kafka), or ``assignment``
    (one replica list per new partition, as Kafka's CreatePartitions may carry) once checked.

    Raises InvalidPartitions when ``total`` is not above the current count, and
    InvalidReplicaAssignment when ``assignment`` has the wrong number of lists, or a list with
    another replication factor, a node twice, or a node that is not in ``nodes``::

        >>> new_partitions([(1, None), (2, None), (3, None)], [[1, 2], [2, 3]], 4)
        [[3, 1], [1, 3]]
        >>> assign_replicas([(1, None), (2, None), (3, None)], 4, 2)[2:]
        [[3, 1], [1, 3]]
    """
    current = len(existing)
    if total <= current:
        raise InvalidPartitions(f"the topic has {current} partitions already: a topic's partitions can only grow, "
                                f"so ask for more than {current}, not {total}")
    if current == 0:
        raise InvalidPartitions("the topic has no partitions to take a replication factor from")
    replication_factor = len(existing[0])
    if assignment is None:
        return assign_replicas(nodes, total - current, replication_factor, offset, first_partition=current)
    _check_assignment(nodes, assignment, current, total, replication_factor)
    return [list(replicas) for replicas in assignment]


def manual_assignment(nodes: Sequence[tuple[int, str | None]], assignment: ManualAssignment) -> list[list[int]]:
    """A new topic's replica lists as given in Kafka's CreateTopics ``assignments`` ((partition
    index, node ids) pairs), checked as Kafka's controller does: the partitions are 0, 1, 2, ... in
    order, and every partition has the same number (at least one) of distinct nodes of the cluster
    (``nodes``). InvalidReplicaAssignment otherwise::

        >>> manual_assignment([(1, None), (2, None), (3, None)], [(0, [3, 1]), (1, [1, 2])])
        [[3, 1], [1, 2]]
    """
    if not assignment:
        raise InvalidReplicaAssignment("the manual assignment has no partitions")
    out = []
    for expected, (partition, replicas) in enumerate(assignment):
        if partition != expected:
            raise InvalidReplicaAssignment(f"partition {partition} is assigned where {expected} was expected: "
                                           "assignments go in order of partition index, from 0")
        if not replicas:
            raise InvalidReplicaAssignment(f"partition {partition} has an empty replica list")
        out.append(list(replicas))
    _check_assignment(nodes, out, 0, len(out), len(out[0]))
    return out


def _check_assignment(nodes: Sequence[tuple[int, str | None]], assignment: Sequence[Sequence[int]],
                      current: int, total: int, replication_factor: int) -> None:
    if len(assignment) != total - current:
        raise InvalidReplicaAssignment(f"{total - current} partitions are added but {len(assignment)} replica "
                                       f"assignments were given")
    known = {node_id for node_id, _ in nodes}
    for partition, replicas in enumerate(assignment, start=current):
        if len(replicas) != replication_factor:
            raise InvalidReplicaAssignment(f"{'new ' if current else ''}partition {partition} has {len(replicas)} "
                                           f"replicas; the topic's replication factor is {replication_factor}")
        if len(set(replicas)) != len(replicas):
            raise InvalidReplicaAssignment(f"{'new ' if current else ''}partition {partition} names a node twice: "
                                           f"{list(replicas)}")
        unknown = sorted(set(replicas) - known)
        if unknown:
            raise InvalidReplicaAssignment(f"{'new ' if current else ''}partition {partition} names nodes the "
                                           f"cluster does not have: {unknown}")


def _check_arguments(nodes: Sequence[tuple[int, str | None]], partitions: int, replication_factor: int) -> None:
    if len({node_id for node_id, _ in nodes}) != len(nodes):
        raise ValueError(f"node ids must be distinct: {sorted(n for n, _ in nodes)}")
    if partitions < 1:
        raise InvalidPartitions(f"partitions must be at least 1, not {partitions}")
    if replication_factor < 1:
        raise InvalidReplicationFactor(f"replication factor must be at least 1, not {replication_factor}")
    if replication_factor > len(nodes):
        raise InvalidReplicationFactor(
            f"replication factor {replication_factor} is more than the {len(nodes)} nodes of the cluster"
        )


def _racks(nodes: Sequence[tuple[int, str | None]]) -> dict[int, str]:
    """node id → rack when every node has one; empty (rack-unaware) otherwise."""
    if any(rack is None for _, rack in nodes):
        return {}
    return {node_id: rack for node_id, rack in nodes if rack is not None}


def _rack_alternated(racks: dict[int, str]) -> list[int]:
    """Nodes taken one per rack in turn (racks and nodes in sorted order): consecutive nodes of the
    result are on different racks for as long as the racks last."""
    by_rack: dict[str, list[int]] = {}
    for node_id in sorted(racks):
        by_rack.setdefault(racks[node_id], []).append(node_id)
    columns = [by_rack[rack] for rack in sorted(by_rack)]
    depth = max(len(column) for column in columns)
    return [column[i] for i in range(depth) for column in columns if i < len(column)]


def _replicas_of(
    ring: list[int], rack_of: dict[int, str | None], first: int, shift: int, replication_factor: int
) -> list[int]:
    leader = ring[first]
    replicas = [leader]
    racks_used = {rack_of[leader]}
    all_racks = set(rack_of.values())
    k = 0
    while len(replicas) < replication_factor:
        # Two laps of the other nodes always find one: the first lap may skip nodes for their rack,
        # the second accepts any node not yet chosen.
        invariant(k < 2 * len(ring), "replica search did not terminate")
        node = ring[_follower_index(first, shift, k, len(ring))]
        k += 1
        rack_ok = rack_of[node] not in racks_used or racks_used == all_racks
        if rack_ok and node not in replicas:
            replicas.append(node)
            racks_used.add(rack_of[node])
    return replicas


def _follower_index(first: int, shift: int, k: int, n: int) -> int:
    """Kafka's ``replicaIndex``: never ``first`` itself, and k = 0 .. n-2 visits every other node."""
    return (first + 1 + (shift + k) % (n - 1)) % n
