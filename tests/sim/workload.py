"""What the simulated clients do: produce batches to partition leaders, move partitions' log start
up (DeleteRecords and retention both propose a trim), and allocate producer ids through the metadata
group, remembering every write that was acknowledged (an ``Applied`` outcome, which the outbox
releases only after the leader's store commit)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kraft.log.entry import OP_NATIVE, encode_trim
from kraft.protocol.batch import encode_batch
from kraft.raft.outbox import Applied, Outcome
from kraft.state.metadata import METADATA_GID, encode_command
from kraft.state.partition import PartitionMachine
from tests.sim.node import SimNode


@dataclass
class IdempotentProducer:
    """A client with a producer id: one batch at a time, retried with the same sequence until it is
    acknowledged (a retry of a batch that did commit must get its first offset back)."""

    producer_id: int
    gid: int
    sequence: int = 0
    batch: tuple[bytes, list[tuple[int, None, bytes, list[tuple[str, bytes]]]]] | None = None
    sent_at: float | None = None


IDEMPOTENT_RETRY_S = 3.0  # as a client's request timeout


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
        self.producers = [IdempotentProducer(9_000 + i, partition_gids[i % len(partition_gids)]) for i in range(4)]

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

    def produce_idempotent(self, nodes: list[SimNode], rng: random.Random, now: float) -> None:
        """Send (or resend) one idempotent producer's batch to a node that believes it leads."""
        ready = [p for p in self.producers if p.sent_at is None or now - p.sent_at > IDEMPOTENT_RETRY_S]
        if not ready:
            return
        producer = rng.choice(ready)
        leaders = [n for n in nodes if n.groups[producer.gid].is_leader()]
        if not leaders:
            return
        if producer.batch is None:
            self._n += 1
            value = b"i%d" % self._n
            producer.batch = (value, [(1_000 + self._n, None, value + b".%d" % i, [])
                                      for i in range(rng.randint(1, 3))])
        value, records = producer.batch
        sequence = producer.sequence
        command = OP_NATIVE + encode_batch(records, producer.producer_id, sequence)
        producer.sent_at = now

        def done(outcome: Outcome) -> None:
            if producer.batch is None or producer.batch[0] != value:
                return  # an answer to an earlier send of a batch already acknowledged
            producer.sent_at = None
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, base = outcome.result
                if code == 0:
                    self.acked.produce[value] = (producer.gid, base)
                    producer.sequence = sequence + len(records)
                    producer.batch = None

        rng.choice(leaders).groups[producer.gid].submit(command, done)

    def trim(self, nodes: list[SimNode], rng: random.Random) -> None:
        """Ask a partition's leader to drop records up to an offset it has (often the whole log, so
        followers that were away need a snapshot)."""
        gid = rng.choice(self.partition_gids)
        leaders = [n for n in nodes if n.groups[gid].is_leader()]
        if not leaders:
            return
        node = rng.choice(leaders)
        machine = node.machines[gid]
        assert isinstance(machine, PartitionMachine)
        low, high = machine.log_start_offset, machine.next_offset
        offset = high if rng.random() < 0.3 else rng.randint(low, high)
        node.groups[gid].submit(encode_trim(offset))

    def alloc_producer_id(self, nodes: list[SimNode]) -> None:
        """Ask any node: followers forward metadata proposals to the leader."""
        node = self.rng.choice(nodes)

        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, value = outcome.result
                if code == 0:
                    self.acked.producer_ids.append(value)

        node.groups[METADATA_GID].submit(encode_command("alloc_producer_id"), done)
