"""Value types of the public client API.

``TopicPartition``, ``RecordMetadata`` and ``ConsumerRecord`` are NamedTuples: immutable, hashable,
ordered, and cheap to create (one is made per record on the producer's and consumer's hot paths,
where a frozen dataclass costs several times more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from kraft.errors import ElectionNotNeeded, KraftError


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class RecordMetadata(NamedTuple):
    """Where a produced record landed. ``offset`` is -1 with ``acks=0``."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class ConsumerRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    # Immutable, as the record: a tuple per record, not a list (building a list per record cost a
    # seventh of the consumer's rate: BENCHMARKS.md, 2026-12-04 night).
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition: int
    leader: int | None
    replicas: list[int]
    high_watermark: int
    # As the leader reports them; None when unknown (no leader, or it did not answer in time).
    log_start_offset: int | None = None  # the first offset kept (records below it were deleted)
    size_bytes: int | None = None  # the leader's stored batches from the log start on
    # Each replica's state as the leader sees it: "leader", "in sync", "behind N" (entries),
    # "catching up, N behind" (a learner: its disk was replaced), "unreachable"; empty when unknown.
    replica_states: dict[int, str] = field(default_factory=dict)

    @property
    def under_replicated(self) -> bool:
        """Some replica is not a voter the leader hears from (Kafka's ISR: a voter a few entries
        behind under load is in sync), or its state is unknown, or there is no leader."""
        return self.leader is None or any(
            not self.replica_states.get(r, "unknown").startswith(("leader", "in sync", "behind"))
            for r in self.replicas)


@dataclass(frozen=True, slots=True)
class Reassignment:
    """A partition being moved from ``replicas`` to ``target``."""

    topic: str
    partition: int
    replicas: list[int]
    target: list[int]

    @property
    def adding(self) -> list[int]:
        return [n for n in self.target if n not in self.replicas]

    @property
    def removing(self) -> list[int]:
        return [n for n in self.replicas if n not in self.target]


@dataclass(frozen=True, slots=True)
class NodeDescription:
    """A node as the cluster's metadata has it: its id, client (native) listener, rack and HTTP port
    (metrics, health, console; None when it has none or did not announce one)."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    http_port: int | None = None

    @property
    def http_address(self) -> str | None:
        return None if self.http_port is None else f"{self.host}:{self.http_port}"


@dataclass(frozen=True, slots=True)
class ClusterDescription:
    """``Admin.describe_cluster``: the cluster's id (given when it was founded; None only in its first
    moments), the controller (the metadata group's leader; None while it elects one) and the nodes."""

    cluster_id: str | None
    controller: int | None
    nodes: list[NodeDescription] = field(default_factory=list)
    metadata_voters: tuple[int, ...] = ()  # the metadata group's voters, as the answering node knows them
    metadata_learners: tuple[int, ...] = ()  # the nodes that follow it without voting


@dataclass(frozen=True, slots=True)
class LeaderElection:
    """One partition's answer to ``Admin.elect_leaders``: its preferred replica (the first of its
    replicas), its leader as last seen, and ``error``: None when the election moved leadership to the
    preferred replica, ``ElectionNotNeeded`` when that one led already, else why it does not lead
    (``PreferredLeaderNotAvailable``: down, cut off or catching up until the deadline; ...)."""

    topic: str
    partition: int
    preferred: int | None
    leader: int | None
    error: KraftError | None = None

    @property
    def preferred_leads(self) -> bool:
        """The preferred replica leads the partition (elected now, or already)."""
        return self.error is None or isinstance(self.error, ElectionNotNeeded)


@dataclass(frozen=True, slots=True)
class TopicDescription:
    name: str
    partitions: list[PartitionInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One member of a consumer group and the partitions of its current assignment."""

    member_id: str
    client_id: str
    host: str
    assignment: list[TopicPartition] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A group's position in one partition. ``committed`` is None when the group never committed
    it; ``lag`` = ``end_offset - committed``, None without a commit (or an end offset)."""

    topic: str
    partition: int
    committed: int | None
    end_offset: int | None
    lag: int | None


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """``Admin.describe_group``: state, generation and members as the coordinator sees them, and
    per partition (committed or assigned) the committed offset, end offset and lag."""

    group_id: str
    state: str
    generation: int
    members: list[MemberInfo] = field(default_factory=list)
    offsets: list[PartitionOffsets] = field(default_factory=list)
    strategy: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config of a topic (``Admin.describe_configs``). ``value`` is typed (int, float or str, as
    ``kraft.topic_config`` parses it); ``source`` is ``"topic"`` (set on the topic), ``"cluster"``
    (cluster.ini's default) or ``"default"`` (Kafka's built-in default); ``default`` is the value the
    topic would have without its own setting (cluster.ini's, else Kafka's)."""

    value: int | float | str
    source: str
    default: int | float | str


@dataclass(frozen=True, slots=True)
class PlannedMove:
    """One partition of a ``RebalancePlan``: its replicas now (``target``: where a move in progress
    takes it, else None) and the replicas planned (the first is the preferred leader)."""

    topic: str
    partition: int
    replicas: list[int]
    target: list[int] | None
    planned: list[int]

    @property
    def moved_replicas(self) -> int:
        """Replicas that change node (0 when only the order, so the preferred leader, changes)."""
        return len(set(self.planned) - set(self.target if self.target is not None else self.replicas))


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """``Admin.plan_rebalance`` and ``Admin.decommission_node``: the partition moves, and per node
    the replicas it holds and the partitions it is the preferred leader of, before and after them
    (a move in progress counts as done in both)."""

    moves: list[PlannedMove]
    replicas_before: dict[int, int]
    replicas_after: dict[int, int]
    leaders_before: dict[int, int]
    leaders_after: dict[int, int]
    decommissioned: list[int] = field(default_factory=list)  # nodes replicas leave (decommissioned or unknown)

    @property
    def moved_replicas(self) -> int:
        return sum(m.moved_replicas for m in self.moves)
