"""Which queued produce proposals of a partition become one Raft entry: the joiner a partition
group's ``ProposalQueue`` takes (``kraft.raft.proposals``).

Owns: the rule and each proposer's share of the result. Kafka batches without a producer id
(librdkafka's and most clients' default), queued one behind another, join into one OP_KAFKA_SET
entry of at most ``max_bytes`` (the largest batch a node accepts: a set is never bigger than a
single batch could be), while ``enabled`` says every node reads such entries (an upgrade from code
that does not: ``kraft.node.batch_format``). The partition state machine applies a set as one batch
of all its records (``kraft.state.partition``); a proposer's share is ``(code, base offset + its
batch's first offset in the set)``.
Must not: know byte layouts (``kraft.log.entry`` owns them) or what decides ``enabled``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kraft.log.entry import join_kafka_set, joinable


class ProduceSets:
    """A ``kraft.raft.proposals.Joiner`` for partition groups."""

    def __init__(self, max_bytes: int, enabled: Callable[[], bool],
                 on_joined: Callable[[int], None] | None = None) -> None:
        """``on_joined``: told how many proposals each set applied here joined (the node's metrics)."""
        self.max_bytes = max_bytes
        self._enabled = enabled
        self._on_joined = on_joined

    def enabled(self) -> bool:
        return self._enabled()

    def joinable(self, command: bytes) -> bool:
        return joinable(command)

    def join(self, commands: Sequence[bytes]) -> tuple[bytes, Callable[[Any], list[Any]]]:
        command, firsts = join_kafka_set(commands)

        def split(result: Any) -> list[Any]:  # only for an entry applied here (a refused one has no result)
            if self._on_joined is not None:
                self._on_joined(len(firsts))
            code, base = result
            return [result if code else (code, base + first) for first in firsts]

        return command, split
