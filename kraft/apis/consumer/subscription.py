"""Pure bookkeeping of a group consumer: what it subscribes to, and what it has committed.

No I/O, no clock, no threads: the group client (``group.py``) feeds these with metadata snapshots,
positions and commit answers, and acts on what they return.

* :class:`Subscription` — the subscribed topics and the partition count of each as of the last
  join. A topic that does not exist yet is subscribed all the same (the consumer *waits* for it, as
  Kafka does): when the metadata later shows a different partition count for any subscribed topic
  (the topic appeared, grew, or was deleted), :meth:`Subscription.changed` says so and the consumer
  rejoins, so the coordinator assigns the new partitions.
* :class:`CommitTracker` — the last offset known committed for each assigned partition (read with
  ``offset_fetch`` after a join, or acknowledged by ``offset_commit``). A commit sends only the
  positions that moved since, so an idle consumer's auto-commit sends nothing.

A committed offset is the offset of the *next* record to read (Kafka semantics): a consumer that
returned records up to offset 41 commits 42.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..types import TopicPartition

PartitionCounts = Mapping[str, int | None]  # topic -> partition count, None while the topic is absent


@dataclass(frozen=True, slots=True)
class Subscription:
    """Subscribed topics (sorted, unique) and their partition counts when the member last joined.

    >>> s = Subscription.of(["refunds", "orders"]).joined({"orders": 6})
    >>> s.topics, s.missing()
    (('orders', 'refunds'), ('refunds',))
    >>> s.changed({"orders": 6, "refunds": None}), s.changed({"orders": 6, "refunds": 2})
    (False, True)
    """

    topics: tuple[str, ...]
    counts: tuple[tuple[str, int | None], ...] = ()  # as of the last join; () before the first

    @classmethod
    def of(cls, topics: Iterable[str]) -> Subscription:
        names = tuple(sorted(set(topics)))
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"topic names must be non-empty strings, got {name!r}")
        return cls(names)

    def counts_in(self, counts: PartitionCounts) -> tuple[tuple[str, int | None], ...]:
        return tuple((t, counts.get(t)) for t in self.topics)

    def joined(self, counts: PartitionCounts) -> Subscription:
        """This subscription as of a join made while the metadata showed ``counts``."""
        return Subscription(self.topics, self.counts_in(counts))

    def changed(self, counts: PartitionCounts) -> bool:
        """Whether ``counts`` differ from those of the last join (a reason to rejoin)."""
        return bool(self.counts) and self.counts_in(counts) != self.counts

    def missing(self) -> tuple[str, ...]:
        """Subscribed topics that did not exist at the last join."""
        return tuple(t for t, n in self.counts if n is None)


@dataclass(slots=True)
class CommitTracker:
    """Last committed offset per partition, and which positions a commit still has to send.

    >>> tp = TopicPartition("orders", 0)
    >>> t = CommitTracker()
    >>> t.known({tp: None})
    >>> t.pending({tp: 10})
    {TopicPartition(topic='orders', partition=0): 10}
    >>> t.committed({tp: 10}); t.pending({tp: 10})
    {}
    """

    _offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def known(self, offsets: Mapping[TopicPartition, int | None]) -> None:
        """Record what ``offset_fetch`` answered (None: nothing committed)."""
        for tp, offset in offsets.items():
            if offset is None:
                self._offsets.pop(tp, None)
            else:
                self._offsets[tp] = offset

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record offsets the coordinator acknowledged."""
        self._offsets.update(offsets)

    def get(self, tp: TopicPartition) -> int | None:
        return self._offsets.get(tp)

    def pending(self, positions: Mapping[TopicPartition, int | None]) -> dict[TopicPartition, int]:
        """The positions that differ from what is committed (unknown positions are skipped)."""
        return {tp: pos for tp, pos in positions.items() if pos is not None and self._offsets.get(tp) != pos}

    def retain(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget partitions no longer assigned (another member may commit them meanwhile)."""
        keep = set(partitions)
        for tp in [tp for tp in self._offsets if tp not in keep]:
            del self._offsets[tp]


__all__ = ["CommitTracker", "PartitionCounts", "Subscription"]
