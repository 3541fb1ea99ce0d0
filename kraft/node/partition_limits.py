"""The partition limits of cluster.ini: ``max_partitions_per_topic`` and ``max_partitions_per_node``.

CreateTopics and CreatePartitions (both front ends, through the broker) ask here before anything is
proposed to the metadata group, so a request beyond a limit is refused at once, naming the limit,
and the node never starts creating groups the client has given up on.

Owns: the counting (replicas per node in a catalogue plus a planned assignment) and the refusals'
wording. Must not: place replicas, read the clock or propose anything (pure functions over the
metadata view's topics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from kraft.errors import InvalidPartitions, PolicyViolation


class _Partition(Protocol):
    @property
    def replicas(self) -> Sequence[int]: ...


class _Topic(Protocol):
    @property
    def partitions(self) -> Sequence[_Partition]: ...


def check_topic_partitions(topic: str, total: int, max_partitions_per_topic: int) -> None:
    """INVALID_PARTITIONS when ``topic`` would have more than the limit (or fewer than one)."""
    if total < 1:
        raise InvalidPartitions(f"topic {topic!r}: partitions must be at least 1, not {total}")
    if total > max_partitions_per_topic:
        raise InvalidPartitions(
            f"topic {topic!r}: {total} partitions is above max_partitions_per_topic = "
            f"{max_partitions_per_topic} (cluster.ini), so nothing was created: partitions must be "
            f"1..{max_partitions_per_topic}")


def replicas_per_node(topics: Iterable[_Topic]) -> Counter[int]:
    """How many partition replicas each node holds in the catalogue ``topics``."""
    held: Counter[int] = Counter()
    for meta in topics:
        for partition in meta.partitions:
            held.update(partition.replicas)
    return held


def check_node_replicas(held: Mapping[int, int], added: Sequence[Sequence[int]],
                        max_partitions_per_node: int) -> None:
    """POLICY_VIOLATION when the replicas ``added`` (one replica list per new partition) would put
    any node above the limit, given the replicas each node ``held`` (the metadata view keeps the
    count, ``MetadataView.replicas_per_node``, so a check does not walk the catalogue); the message
    names the fullest such node and the numbers."""
    adding: Counter[int] = Counter()
    for replicas in added:
        adding.update(replicas)
    if not adding:
        return
    over = [(held.get(n, 0) + k, n) for n, k in adding.items() if held.get(n, 0) + k > max_partitions_per_node]
    if not over:
        return
    total, node = max(over)
    raise PolicyViolation(
        f"node {node} would host {total} partition replicas ({held.get(node, 0)} now + {adding[node]} new), above "
        f"max_partitions_per_node = {max_partitions_per_node} (cluster.ini): nothing was created"
        + (f"; {len(over)} nodes would be over it" if len(over) > 1 else ""))
