"""The values the broker service takes and returns: what a front end converts its wire shapes to and
from (``kraft.node.broker``).

Owns: their fields and what each means. Values are frozen (slots, no per-record work: a fetched
partition holds its batches as the log returned them). A per-partition failure is the
``kraft.errors`` instance in ``error``; each front end maps it to its own wire code.
Must not: know any wire shape, or hold anything but plain values (no broker, Raft or store objects).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kraft import errors
from kraft.raft.throttle import ThrottleStats
from kraft.state.metadata import NIL_UUID


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where one of a node's listeners is."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    http_port: int | None = None  # the node's HTTP listener (metrics, health, console), when it announced one


@dataclass(frozen=True, slots=True)
class ProducerId:
    producer_id: int
    producer_epoch: int


@dataclass(frozen=True, slots=True)
class Appended:
    """Where a produced batch landed: its base offset (-1 with acks=0) and, in a LogAppendTime topic,
    the time the leader stamped into it (-1 otherwise: the producer's own timestamps stand)."""

    base_offset: int
    log_append_time_ms: int = -1


@dataclass(frozen=True, slots=True)
class PartitionFetch:
    """One partition of a fetch: from ``offset``, up to ``max_bytes`` (None: the request's limit)."""

    topic: str
    partition: int
    offset: int
    max_bytes: int | None = None
    # the leader epoch the client knows (Kafka's current_leader_epoch; -1: no check): an older one is
    # FencedLeaderEpoch, a newer one UnknownLeaderEpoch
    current_leader_epoch: int = -1


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """``strict_max_bytes`` (Kafka's Fetch, KIP-74): once ``max_bytes`` is reached the later partitions
    get no batches, and only the first non-empty partition may exceed it; without it each partition
    gets at least one batch, as kraft's native fetch always did."""

    partitions: tuple[PartitionFetch, ...]
    max_wait_ms: int
    min_bytes: int
    max_bytes: int
    strict_max_bytes: bool = False
    # Kafka's Fetch v11+ rack_id ("" without client.rack); None for older versions and the native
    # front end. With it, a follower serves the fetch (fetch from follower, KIP-392).
    client_rack: str | None = None
    # The answer's batches in columns become rows before they leave (a native consumer from before
    # columns, kraft.node.handlers.fetch), up to 5/4 of their size: the read leaves room for that.
    in_rows: bool = False


@dataclass(frozen=True, slots=True)
class FetchedPartition:
    """A partition's answer: committed batches as stored, ``(base offset, bytes)``, or ``error``.
    The offsets are -1 where the partition could not be read (an error before its state was)."""

    topic: str
    partition: int
    high_watermark: int
    log_start_offset: int
    batches: Sequence[tuple[int, bytes]]
    error: errors.KraftError | None = None
    # (epoch, start offset) rows of the partition's leader epochs as of the read
    # (``kraft.state.leader_epochs``): the epoch each batch was written in
    leader_epochs: tuple[tuple[int, int], ...] = ()
    # the replica the client should fetch from instead (``kraft.replica_selector``; -1: none): the
    # answer then carries no batches, as Kafka's
    preferred_read_replica: int = -1


@dataclass(frozen=True, slots=True)
class ListedOffset:
    """ListOffsets' answer for a partition: the offset found, the timestamp of its record (-1 for
    earliest and latest), and the leader epoch it was written in (for latest: the current one)."""

    offset: int
    timestamp: int = -1
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True)
class EpochEndOffset:
    """OffsetForLeaderEpoch's answer: the largest epoch at or below the one asked and where it ends
    (-1, -1 for an epoch the partition does not know)."""

    leader_epoch: int
    end_offset: int


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    """A partition as this node knows it: ``leader_epoch`` is the Raft term its leader was elected in
    (-1: unknown), ``isr`` the replicas caught up with that leader (the leader's own view where this
    node leads it, else what the leader last reported to the metadata group; the replicas when no
    report is known)."""

    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Reassignment:
    """A partition being moved: from its replicas to ``target`` (Kafka's adding and removing)."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    target: tuple[int, ...]

    @property
    def adding(self) -> tuple[int, ...]:
        return tuple(n for n in self.target if n not in self.replicas)

    @property
    def removing(self) -> tuple[int, ...]:
        return tuple(n for n in self.replicas if n not in self.target)


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    partitions: tuple[PartitionMetadata, ...]
    error: errors.KraftError | None = None  # UnknownTopicOrPartition for a topic that does not exist
    topic_uuid: uuid.UUID = NIL_UUID  # Kafka's topic id (nil for a topic that does not exist)


@dataclass(frozen=True, slots=True)
class MetadataAnswer:
    nodes: tuple[NodeAddress, ...]  # every node's client (native) listener, by node id
    controller: int | None  # the metadata group's leader, None while it elects one
    topics: tuple[TopicMetadata, ...]
    cluster_id: str | None = None  # None only in a new cluster's first moments, before its id is applied
    metadata_voters: tuple[int, ...] = ()  # the metadata group's configuration as this node applied it
    metadata_learners: tuple[int, ...] = ()
    batch_format: str = "rows"  # the record batch layout producers are to write (kraft.node.batch_format)


@dataclass(frozen=True, slots=True)
class LeaderElection:
    """One partition's preferred-leader election: its preferred replica (the first of its replicas;
    None when the partition is unknown), its leader as last seen, and ``error``: None when the
    election moved leadership to the preferred replica, ``ElectionNotNeeded`` when that one led
    already, else why it does not lead (``PreferredLeaderNotAvailable``, ``NotLeader`` ...)."""

    topic: str
    partition: int
    preferred: int | None
    leader: int | None
    error: errors.KraftError | None = None


@dataclass(frozen=True, slots=True)
class TopicCreated:
    name: str
    partitions: int
    replication_factor: int
    topic_uuid: uuid.UUID = NIL_UUID  # Kafka's topic id (nil: not created, e.g. validate only)


@dataclass(frozen=True, slots=True)
class PartitionsCreated:
    """A topic grew (or, validating only, would grow) from ``previous`` partitions to ``partitions``;
    ``assignment`` is the new partitions' replicas, the first of each its preferred leader."""

    topic: str
    previous: int
    partitions: int
    assignment: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    topic: str
    partition: int
    leader: int | None
    term: int
    commit_index: int
    high_watermark: int
    log_start_offset: int
    size_bytes: int  # the batches from the log start on, as stored
    learner: bool = False  # this replica lost its disk and is catching up (no vote)
    last_index: int = 0  # of this replica's Raft log
    # On the leader: each other replica's state, "voter" or "learner", and how many entries it lacks.
    followers: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    applied_index: int = 0  # the last entry its machine applied
    # No compaction pass of this replica is still rewriting (a pass's decision is applied at once,
    # its rewriting runs in the driver's background slices afterwards).
    compaction_settled: bool = True
    # Leader, and its own term's first entry is applied and stored: it serves reads (until then a
    # fetch or ListOffsets is answered LEADER_NOT_AVAILABLE, as its high watermark may be behind).
    serving: bool = False


@dataclass(frozen=True, slots=True)
class LogDir:
    """Where a node keeps its partitions' data (its one LMDB environment: Kafka's single log dir),
    and its volume's size and free space in bytes (-1 when unknown)."""

    path: str
    total_bytes: int
    usable_bytes: int


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: int
    peers: Mapping[int, bool]  # peer node id -> connected
    replicas: tuple[ReplicaStatus, ...]
    metadata_learner: bool = False  # this node is a learner of the metadata group (a replaced disk)
    rejoining: bool = False  # groups created here start as learners until every one is promoted
    # What this node's partition leaders sent to learners through reassignment_throttle_bytes_per_s.
    learner_throttle: ThrottleStats = field(default_factory=lambda: ThrottleStats(0, 0, 0))
