"""What the simulated clients do: produce batches to partition leaders and allocate producer ids
through the metadata group, remembering every write that was acknowledged (an ``Applied`` outcome,
which the outbox releases only after the leader's store commit)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kraft.log.entry import OP_NATIVE
from kraft.protocol.batch import encode_batch
from kraft.raft.outbox import Applied, Outcome
from kraft.state.metadata import METADATA_GID, encode_command
from tests.sim.node import SimNode


@dataclass
class Acked:
    produce: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # batch value -> (gid, base offset)
    producer_ids: list[int] = field(default_factory=list)


class Workload:
    def __init__(self, rng: random.Random, partition_gids: list[int]) -> None:
        self.rng = rng
        self.partition_gids = partition_gids
        self.acked = Acked()
        self._n = 0

    def produce(self, nodes: list[SimNode]) -> None:
        """Send one batch to a node that believes it leads a random partition (a deposed leader too)."""
        gid = self.rng.choice(self.partition_gids)
        leaders = [n for n in nodes if n.groups[gid].is_leader()]
        if not leaders:
            return
        node = self.rng.choice(leaders)
        self._n += 1
        value = b"v%d" % self._n
        records = [(1_000 + self._n, None, value + b".%d" % i, []) for i in range(self.rng.randint(1, 3))]
        command = OP_NATIVE + encode_batch(records)

        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, base = outcome.result
                if code == 0:
                    self.acked.produce[value] = (gid, base)

        node.groups[gid].submit(command, done)

    def alloc_producer_id(self, nodes: list[SimNode]) -> None:
        """Ask any node: followers forward metadata proposals to the leader."""
        node = self.rng.choice(nodes)

        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, value = outcome.result
                if code == 0:
                    self.acked.producer_ids.append(value)

        node.groups[METADATA_GID].submit(encode_command("alloc_producer_id"), done)
