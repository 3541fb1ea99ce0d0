"""What the simulated clients do: produce batches to partition leaders (native and Kafka, some
gzip-compressed; records keyed from a small key space, so compaction has work), move partitions'
log start up (DeleteRecords and retention both propose a trim), write tombstones and propose
compaction passes, allocate producer ids through the metadata group, and create topics and add
partitions to them there (placed as a broker does, from the proposing node's own view, which may be
behind), remembering every write that was acknowledged (an ``Applied`` outcome, which the outbox
releases only after the leader's store commit).

Keys: produced records use ``k0``..``k7``; tombstones (and values for the same keys) only ``t0``..``t3``,
so the checker knows that the latest record of a ``k`` key must survive every compaction."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from kraft.errors import InvalidPartitions, InvalidReplicationFactor
from kraft.log.entry import OP_KAFKA, OP_NATIVE, encode_compact, encode_trim
from kraft.placement import assign_replicas, new_partitions
from kraft.protocol.batch import encode_batch
from kraft.protocol.kafka.records import COMPRESSION_GZIP, encode_kafka_batch
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
    counts: dict[bytes, int] = field(default_factory=dict)  # batch value -> its records
    keys: dict[bytes, bytes | None] = field(default_factory=dict)  # batch value -> its records' key
    producer_ids: list[int] = field(default_factory=list)
    # (topic, partition) -> replicas, of every acknowledged create_topic and create_partitions
    catalogue: dict[tuple[str, int], list[int]] = field(default_factory=dict)


def acl_command(rng: random.Random) -> bytes:
    """A ``create_acls`` of a few bindings, or a ``delete_acls`` whose filters match some (a few of
    them invalid on purpose: every replica must refuse them alike)."""
    def name() -> str:
        return rng.choice(["t1", "t2", "t", "*"])

    if rng.random() < 0.6:
        acls = [[rng.choice([2, 3, 0]), name(), rng.choice([3, 4, 2]), rng.choice(["User:*", "User:a", "bad"]),
                 "*", rng.choice([2, 3, 4, 8]), rng.choice([2, 3])] for _ in range(rng.randint(1, 3))]
        return encode_command("create_acls", acls=acls)
    filters = [[rng.choice([1, 2, 3]), rng.choice([None, "t1", "t"]), rng.choice([1, 2, 3, 4]),
                rng.choice([None, "User:a"]), None, rng.choice([1, 3, 0]), 1] for _ in range(rng.randint(1, 2))]
    return encode_command("delete_acls", filters=filters)


def batch_command(n: int, records: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]],
                  producer_id: int = -1, sequence: int = -1) -> bytes:
    """Every third batch a Kafka v2 batch (every sixth gzip-compressed), the others native, in
    columns and in rows by turns (kraft.protocol.batch)."""
    if n % 3:
        return OP_NATIVE + encode_batch(records, producer_id, sequence, columns=n % 3 == 1)
    return OP_KAFKA + encode_kafka_batch(records, producer_id=producer_id, producer_epoch=0 if producer_id >= 0 else -1,
                                         base_sequence=sequence, compression=COMPRESSION_GZIP if n % 6 == 0 else 0)


def kafka_command(n: int, records: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]]) -> bytes:
    """A Kafka v2 batch without a producer id (every other one gzip-compressed)."""
    return OP_KAFKA + encode_kafka_batch(records, compression=COMPRESSION_GZIP if n % 2 else 0)


class Workload:
    def __init__(self, rng: random.Random, partition_gids: list[int]) -> None:
        self.rng = rng
        self.partition_gids = partition_gids
        self.acked = Acked()
        self._n = 0
        self.producers = [IdempotentProducer(9_000 + i, partition_gids[i % len(partition_gids)]) for i in range(4)]

    def produce(self, nodes: list[SimNode]) -> None:
        """Send one batch to a node that believes it leads a random partition (a deposed leader too).
        Every fourth time, two to four Kafka batches without a producer id back to back instead: they
        wait in the group's queue together, which joins them into one entry (``kraft.state.produce_sets``)
        when that node leads. (Derived from the count, not drawn: the workload's draws stay as
        they were, and so do the regression seeds' runs up to the first burst.)"""
        gid = self.rng.choice(self.partition_gids)
        leaders = [n for n in nodes if gid in n.groups and n.groups[gid].is_leader()]
        if not leaders:
            return
        node = self.rng.choice(leaders)
        count = self.rng.randint(1, 3)
        burst = 2 + self._n % 3 if self._n % 4 == 3 else 1
        for i in range(burst):
            self._n += 1
            value = b"v%d" % self._n
            key = b"k%d" % (self._n % 8)
            records: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
                (1_000 + self._n, key, value + b".%d" % j, []) for j in range(count if i == 0 else 1 + self._n % 3)]
            command = batch_command(self._n, records) if burst == 1 else kafka_command(self._n, records)
            node.groups[gid].submit(command, self._on_produced(value, gid, len(records), key))

    def _on_produced(self, value: bytes, gid: int, count: int, key: bytes) -> Callable[[Outcome], None]:
        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, base = outcome.result
                if code == 0:
                    self.note_acked(value, gid, base, count, key)

        return done

    def produce_idempotent(self, nodes: list[SimNode], rng: random.Random, now: float) -> None:
        """Send (or resend) one idempotent producer's batch to a node that believes it leads."""
        ready = [p for p in self.producers if p.sent_at is None or now - p.sent_at > IDEMPOTENT_RETRY_S]
        if not ready:
            return
        producer = rng.choice(ready)
        leaders = [n for n in nodes if producer.gid in n.groups and n.groups[producer.gid].is_leader()]
        if not leaders:
            return
        if producer.batch is None:
            self._n += 1
            value = b"i%d" % self._n
            producer.batch = (value, [(1_000 + self._n, b"k%d" % (self._n % 8), value + b".%d" % i, [])
                                      for i in range(rng.randint(1, 3))])
        value, records = producer.batch
        sequence = producer.sequence
        command = batch_command(int(value[1:]), list(records), producer.producer_id, sequence)
        producer.sent_at = now

        def done(outcome: Outcome) -> None:
            if producer.batch is None or producer.batch[0] != value:
                return  # an answer to an earlier send of a batch already acknowledged
            producer.sent_at = None
            if isinstance(outcome, Applied) and outcome.result is not None:
                code, base = outcome.result
                if code == 0:
                    self.note_acked(value, producer.gid, base, len(records), records[0][1])
                    producer.sequence = sequence + len(records)
                    producer.batch = None

        rng.choice(leaders).groups[producer.gid].submit(command, done)

    def note_acked(self, value: bytes, gid: int, base: int, count: int, key: bytes | None) -> None:
        self.acked.produce[value] = (gid, base)
        self.acked.counts[value] = count
        self.acked.keys[value] = key

    def tombstone_or_compact(self, nodes: list[SimNode], rng: random.Random) -> None:
        """Half the time a record for a ``t`` key (a tombstone, or a value), else a compaction pass
        on a partition's leader up to an offset it has, removing tombstones below a random offset."""
        gid = rng.choice(self.partition_gids)
        leaders = [n for n in nodes if gid in n.groups and n.groups[gid].is_leader()]
        if not leaders:
            return
        node = rng.choice(leaders)
        if rng.random() < 0.5:
            self._n += 1
            value = None if rng.random() < 0.6 else b"t%d.0" % self._n
            record = (1_000 + self._n, b"t%d" % rng.randint(0, 3), value, [])
            node.groups[gid].submit(batch_command(self._n, [record]))
            return
        machine = node.machines[gid]
        assert isinstance(machine, PartitionMachine)
        end = rng.randint(machine.log_start_offset, machine.next_offset)
        node.groups[gid].submit(encode_compact(end, rng.randint(0, end), 1_000 + self._n))

    def trim(self, nodes: list[SimNode], rng: random.Random) -> None:
        """Ask a partition's leader to drop records up to an offset it has (often the whole log, so
        followers that were away need a snapshot)."""
        gid = rng.choice(self.partition_gids)
        leaders = [n for n in nodes if gid in n.groups and n.groups[gid].is_leader()]
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

    def catalogue(self, nodes: list[SimNode], rng: random.Random) -> None:
        """A catalogue change through any node: nodes register, a topic is created, its partitions'
        moves are started, cancelled and reported done (right or stale), admin records change
        (``_admin_command``), so every replica of the metadata group must apply them alike (the
        checker compares their states)."""
        node = rng.choice(nodes)
        roll = rng.random()
        if roll < 0.2:
            n = rng.randint(1, 5)
            # Odd nodes announce an HTTP port, even ones register as nodes from before it was announced
            # (no key): both row shapes must be applied alike. Drawn from n: no extra random draw.
            http = {"http_port": 9000 + n} if n % 2 else {}
            command = encode_command("register_node", id=n, host=f"h{n}", client_port=n, raft_port=n, rack=None,
                                     **http)
        elif roll < 0.3:
            command = encode_command("create_topic", name=f"t{rng.randint(1, 2)}",
                                     assignment=[rng.sample(range(1, 6), 3) for _ in range(2)], configs={})
        elif roll < 0.55:
            target = None if rng.random() < 0.2 else rng.sample(range(1, 7), rng.randint(1, 3))
            command = encode_command("reassign_partitions", topic=f"t{rng.randint(1, 2)}",
                                     partitions=[[rng.randint(0, 2), target]])
        elif roll < 0.65:
            command = encode_command("reassignment_done", topic_id=rng.randint(1, 2), partition=rng.randint(0, 1),
                                     replicas=rng.sample(range(1, 6), rng.randint(1, 3)))
        else:
            command = self._admin_command(rng, rng.random())
        node.groups[METADATA_GID].submit(command)
        self.acls(node, command)

    @staticmethod
    def _admin_command(rng: random.Random, roll: float) -> bytes:
        """The admin APIs' commands: dynamic broker configs, SCRAM credentials, and commits with
        OffsetDelete's deletions of them (at the right generation, 0, or a stale one)."""
        if roll < 0.3:
            names = ["background.threads", "log.retention.ms", "num.io.threads"]
            return encode_command("alter_broker_configs", broker=rng.choice(["", "1", "2"]),
                                  set={n: str(rng.randint(1, 9)) for n in rng.sample(names, rng.randint(0, 2))},
                                  delete=rng.sample(names, rng.randint(0, 1)), replace=rng.random() < 0.2)
        if roll < 0.6:
            users = ["alice", "bob"]
            mechanisms = ["SCRAM-SHA-256", "SCRAM-SHA-512"]
            return encode_command(
                "alter_scram_credentials",
                deletions=[[rng.choice(users), rng.choice(mechanisms)] for _ in range(rng.randint(0, 1))],
                upsertions=[[rng.choice(users), rng.choice(mechanisms), rng.randint(4096, 16384), b"salt",
                             rng.randbytes(8)] for _ in range(rng.randint(0, 2))])
        group = f"g{rng.randint(1, 2)}"
        if roll < 0.8:
            return encode_command("commit_offsets", commits=[{"group": group, "generation": -1, "offsets": [
                [f"t{rng.randint(1, 2)}", rng.randint(0, 1), rng.randint(0, 99)]]}])
        return encode_command("delete_offsets", group=group, generation=rng.choice([0, 0, 1]),
                              partitions=[[f"t{rng.randint(1, 2)}", rng.randint(0, 1)]])

    def topic_change(self, nodes: list[SimNode], node_ids: list[int], rng: random.Random) -> None:
        """Create a topic (a name may exist already: refused) or add partitions to one, proposed at
        any node, planned from that node's metadata view as a broker plans it: concurrent changes
        and a lagging view make the metadata group refuse some (the count they were planned from is
        gone), and the replicas must agree on which."""
        node = rng.choice(nodes)
        view = node.machines[METADATA_GID].view  # type: ignore[union-attr]
        members: list[tuple[int, str | None]] = [(n, None) for n in node_ids]
        names = sorted(n for n in view.topics if n.startswith("s"))  # the catalogue workload moves "t" topics
        if not names or rng.random() < 0.25:
            name = f"s{rng.randint(0, 4)}"
            rf = rng.randint(1, len(members))
            added = assign_replicas(members, rng.randint(1, 3), rf, offset=zlib.crc32(name.encode()))
            command = encode_command("create_topic", name=name, assignment=added, configs={})
            first = 0
        else:
            topic = view.topics[rng.choice(names)]
            name, first = topic.name, len(topic.partitions)
            try:
                added = new_partitions(members, [p.replicas for p in topic.partitions], first + rng.randint(1, 3),
                                       offset=zlib.crc32(name.encode()))
            except (InvalidPartitions, InvalidReplicationFactor):
                return
            command = encode_command("create_partitions", name=name, topic_id=topic.topic_id, count=first,
                                     assignment=added)

        def done(outcome: Outcome) -> None:
            if isinstance(outcome, Applied) and outcome.result is not None and outcome.result[0] == 0:
                for i, replicas in enumerate(added, start=first):
                    self.acked.catalogue[(name, i)] = replicas

        node.groups[METADATA_GID].submit(command, done)
        self.acls(node, command)

    def acls(self, node: SimNode, after: bytes) -> None:
        """Now and then an ACL change (``create_acls`` / ``delete_acls``) after a catalogue command,
        drawn from that command's bytes, not from a workload's rng (whose draws stay as they were)."""
        rng = random.Random(zlib.crc32(after))
        if rng.random() < 0.4:
            node.groups[METADATA_GID].submit(acl_command(rng))
