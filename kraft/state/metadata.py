"""The metadata state machine: topics, their partitions' replicas and current leaders.

Owns: the cluster's catalogue as a deterministic function of the metadata group's log. Every node
replays the same commands and so holds the same view; readers on other threads get an immutable
``MetadataView`` that is replaced, never mutated, after each change.
It declares what it needs from storage, ``StateStore`` (``kraft.log.rows.MetadataRows`` implements
it and owns the rows' bytes).
Must not: read clocks, sockets or randomness; decide placement (the proposer computes replicas and
puts them in the command, so every replica applies the same decision); know how rows are stored.

Commands are msgpack maps with an ``op`` (this module owns their encoding, ``encode_command``; the
journal frames them as ``kraft.log.entry`` says); results are ``(error_code, value)``.

The whole state is in the store's rows, so the group's Raft log is not needed once applied: the
machine keeps the last ``METADATA_LOG_KEEP`` to ``2 * METADATA_LOG_KEEP`` entries (``log_floor``, a
function of the applied index, the same on every replica), so a follower a little behind catches up
from entries, and one further behind gets a snapshot: the whole state (``state``/``install``).
Without this the log would grow with every offset commit for as long as the cluster runs.

An entry costs what it changed, not the size of the catalogue (10,000 partitions and more): it
writes only the rows it touched (a head row with the counters and the cluster id, a row per topic,
per partition, per node and per group; a leader report writes one partition's row), and the new
view shares every topic and partition the entry left alone with the view before it. A disk written
before rows per topic (the whole catalogue in the head row) is read as it is and rewritten in rows by
the first entry applied after start-up.

Each topic has Kafka's topic id too (``TopicMeta.topic_uuid``): a UUID the proposer draws and puts in the
``create_topic`` command, so every replica stores the same one; a command without one (the
simulator's, or an entry written before topic ids) gets one derived from the topic's number and name
(``derived_topic_uuid``), the same on every replica. A topic deleted and created again gets a new one.

Small keyed records live here too, one row each (``RECORD_KINDS``): dynamic broker configs and SCRAM
credentials, replaced per key by ``alter_broker_configs`` and ``alter_scram_credentials``; a disk or
snapshot from before them has none.

The cluster's id is catalogue state too: the first metadata leader that finds none proposes one
(``set_cluster_id``, a random id in the command); the first such entry wins, so a second proposal
(a later leader's, made before it applied the first) changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any, NotRequired, Protocol, TypedDict, cast

import msgpack

from kraft import errors
from kraft.state.acls import EMPTY_ACLS, AclBinding, AclFilter, AclSet, validate_binding

METADATA_LOG_KEEP = 10_000  # entries the metadata group's Raft log keeps at least
SNAPSHOT_END = (1 << 63) - 1
GID_TOPIC_SHIFT = 32  # gid = topic_id << 32 | partition; gid 0 is the metadata group itself
METADATA_GID = 0


def partition_gid(topic_id: int, partition: int) -> int:
    return (topic_id << GID_TOPIC_SHIFT) | partition


_TOPIC_UUID_NAMESPACE = uuid.UUID("6b726166-742d-746f-7069-632d69647300")  # kraft's own, for uuid5
NIL_UUID = uuid.UUID(int=0)  # Kafka's "no topic id"


def derived_topic_uuid(topic_id: int, name: str) -> uuid.UUID:
    """The topic id of a topic whose ``create_topic`` command carried none: a function of its
    number (never reused) and name, so every replica derives the same."""
    return uuid.uuid5(_TOPIC_UUID_NAMESPACE, f"{topic_id}/{name}")


def _command_uuid(value: object) -> str | None:
    """A command's topic UUID as stored (32 hex digits), or None if it carries no usable one (the
    nil UUID is Kafka's "no topic id", so a topic never has it)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(hex=value)
    except ValueError:
        return None
    return None if parsed.int == 0 else parsed.hex


@dataclass(frozen=True)
class PartitionMeta:
    topic: str
    topic_id: int
    partition: int
    replicas: tuple[int, ...]
    leader: int | None
    leader_term: int
    target: tuple[int, ...] | None = None  # a reassignment in progress: the replicas it moves to
    # Kafka's ISR as the leader of ``leader_term`` last reported it (None: not reported yet)
    isr: tuple[int, ...] | None = None

    @property
    def gid(self) -> int:
        return partition_gid(self.topic_id, self.partition)

    @property
    def hosts(self) -> tuple[int, ...]:
        """Every node that holds (or is getting) a replica: the replicas and a move's new nodes."""
        return self.replicas + tuple(n for n in self.target or () if n not in self.replicas)


@dataclass(frozen=True)
class TopicMeta:
    name: str
    topic_id: int  # kraft's number for the topic (its partitions' Raft group ids), never reused
    partitions: tuple[PartitionMeta, ...]
    configs: dict[str, Any] = field(default_factory=dict)
    topic_uuid: uuid.UUID = NIL_UUID  # Kafka's topic id (every applied topic has a non-nil one)


@dataclass(frozen=True)
class NodeMeta:
    id: int
    host: str
    client_port: int
    raft_port: int
    rack: str | None
    kafka_port: int | None = None
    decommissioned: bool = False  # replicas are moving off it; then it leaves the metadata group
    http_port: int | None = None  # metrics, health, console (None: none, or registered before it was announced)


@dataclass(frozen=True)
class MetadataView:
    """The catalogue as of one applied entry. A new view shares every ``TopicMeta`` (and
    ``PartitionMeta``) the entry did not change with the view before it, so a change costs what it
    changed (plus copying the topic dict), and ``changed_topics`` finds what changed by identity."""

    version: int = 0
    topics: dict[str, TopicMeta] = field(default_factory=dict)
    nodes: dict[int, NodeMeta] = field(default_factory=dict)
    cluster_id: str | None = None  # None until the first metadata leader's ``set_cluster_id`` is applied
    topic_uuids: dict[uuid.UUID, str] = field(default_factory=dict)  # Kafka topic id -> name
    replicas_per_node: dict[int, int] = field(default_factory=dict)  # node -> partition replicas it holds
    acls: AclSet = EMPTY_ACLS  # the cluster's ACL bindings (``create_acls`` / ``delete_acls``)

    def topic_by_uuid(self, topic_uuid: uuid.UUID) -> TopicMeta | None:
        """The topic whose Kafka topic id is ``topic_uuid`` (None: no such topic, or the nil id)."""
        name = self.topic_uuids.get(topic_uuid)
        return None if name is None else self.topics.get(name)

    def partitions_on(self, node_id: int) -> dict[int, PartitionMeta]:
        """Every partition ``node_id`` hosts (the whole catalogue: for rare questions; the replica
        manager follows changes with ``changed_topics``)."""
        return {p.gid: p for t in self.topics.values() for p in t.partitions if node_id in p.hosts}


def changed_topics(before: MetadataView, after: MetadataView) -> tuple[list[TopicMeta], list[TopicMeta]]:
    """The topics of ``after`` that are new or changed since ``before``, and the topics of ``before``
    that are gone or replaced. Found by identity (views share unchanged topics), so it costs a dict
    lookup per topic and nothing per partition."""
    new = [t for name, t in after.topics.items() if before.topics.get(name) is not t]
    old = [t for name, t in before.topics.items() if after.topics.get(name) is not t]
    return new, old


def hosted_changes(before: MetadataView, after: MetadataView,
                   node_id: int) -> tuple[dict[int, PartitionMeta], set[int]]:
    """What changed for ``node_id`` between two views: the partitions of new or changed topics it
    hosts (gid -> partition: to create, or to update), and the gids of partitions of changed or gone
    topics it does not host (any it has go). Only changed topics are walked (``changed_topics``), so
    a leader report in a catalogue of 10,000 partitions costs one topic's partitions, not all."""
    changed, gone = changed_topics(before, after)
    wanted = {p.gid: p for t in changed for p in t.partitions if node_id in p.hosts}
    dropped = {p.gid for t in gone for p in t.partitions if p.gid not in wanted}
    return wanted, dropped


def encode_command(op: str, **args: Any) -> bytes:
    return cast(bytes, msgpack.packb({"op": op, **args}, use_bin_type=True))


# --- the persisted state (msgpack maps; ``StateStore`` keeps them) ------------------------------

class PartitionRow(TypedDict):
    replicas: list[int]
    leader: int | None
    term: int
    target: NotRequired[list[int]]  # only while a reassignment moves the partition
    isr: NotRequired[list[int]]  # the ISR the leader of ``term`` reported (absent: none reported)


class TopicRow(TypedDict):
    id: int
    configs: dict[str, Any]
    partitions: list[PartitionRow]  # not in the topic's own row: each partition has a row of its own
    uuid: NotRequired[str]  # Kafka's topic id, 32 hex digits (absent in rows written before topic ids)
    name: NotRequired[str]  # in the topic's own row (keyed by its number), not in snapshots' maps


class NodeRow(TypedDict):
    host: str
    client_port: int
    raft_port: int
    rack: str | None
    kafka_port: NotRequired[int | None]  # absent in rows written before Kafka listeners
    decommissioned: NotRequired[bool]  # present (True) once ``decommission_node`` was applied
    http_port: NotRequired[int | None]  # absent in rows of registrations from before HTTP ports were announced


class GroupRow(TypedDict):
    """One consumer group's row."""

    generation: int
    # [topic, partition, offset] each; [..., metadata] with a metadata string; [..., metadata, leader
    # epoch] with the leader epoch the commit named (metadata "" then, if there was none)
    offsets: list[list[Any]]
    name: NotRequired[str]  # the group's id, added by the store (``MetadataRows``)
    # Set by the store on a row written before commits had rows of their own (it holds them all):
    # the machine writes the group again, in rows, at the next apply.
    legacy: NotRequired[bool]


class CatalogueState(TypedDict, total=False):
    """The catalogue as snapshots carry it (every field), and its head row in the store (the counters
    and the cluster id: topics, partitions and nodes have rows of their own there). A head row
    written by older versions is the whole catalogue (``topics``, ``nodes``), and may carry two fields
    that moved to rows of their own before: ``last_applied`` and ``groups``."""

    topics: dict[str, TopicRow]
    next_topic_id: int
    nodes: dict[int, NodeRow]
    next_producer_id: int
    last_applied: int
    groups: dict[str, GroupRow]
    cluster_id: str  # absent until the cluster has its id


class StateStore(Protocol):
    """Where the metadata state persists: a head row (counters, cluster id), one row per topic, per
    partition, per node, per consumer group and per committed offset, and the applied index; so an
    entry writes the rows it changed and no others."""

    def load_state(self) -> CatalogueState | None:
        """The head row (or, on a disk written before rows per topic, the whole catalogue)."""
        ...

    def save_state(self, state: CatalogueState) -> None: ...

    def load_topics(self) -> dict[str, TopicRow]:
        """Every topic with its partitions, from their rows."""
        ...

    def save_topic(self, topic_id: int, row: TopicRow | None) -> None:
        """A topic's own row (its ``partitions`` are not written: ``save_partition`` does); None: the
        topic and its partitions' rows go."""
        ...

    def save_partition(self, topic_id: int, partition: int, row: PartitionRow) -> None: ...

    def load_nodes(self) -> dict[int, NodeRow]: ...

    def save_node(self, node_id: int, row: NodeRow) -> None: ...

    def replace_catalogue(self, topics: dict[str, TopicRow], nodes: dict[int, NodeRow]) -> None:
        """Every topic, partition and node row at once (a snapshot): rows not in them go."""
        ...

    def load_groups(self) -> dict[str, GroupRow]:
        """Every group with its commits (from the group's row and one row per committed offset)."""
        ...

    def save_group(self, name: str, generation: int | None) -> None:
        """A group's own row; None: the group and all its commits go."""
        ...

    def save_group_offset(self, name: str, topic: str, partition: int, row: list[Any] | None) -> None:
        """One committed offset of a group, as ``commit_row`` makes it; None: forgotten."""
        ...

    def load_applied(self) -> int | None: ...

    def save_applied(self, raft_index: int) -> None: ...

    def replace_groups(self, groups: dict[str, GroupRow]) -> None:
        """Every group row at once (a snapshot): rows of groups not in ``groups`` go."""
        ...

    def load_records(self, kind: str) -> dict[str, Any]:
        """Every row of one kind of small keyed record (``RECORD_KINDS``): key -> row."""
        ...

    def save_record(self, kind: str, key: str, row: Any | None) -> None:
        """One keyed record's row; None: it goes."""
        ...

    def replace_records(self, kind: str, rows: dict[str, Any]) -> None:
        """Every row of one kind at once (a snapshot): rows not in ``rows`` go."""
        ...

    def load_acls(self) -> list[list[Any]]:
        """Every ACL binding, as ``AclBinding.row`` makes it (none on a disk from before ACLs)."""
        ...

    def save_acl(self, key: bytes, row: list[Any] | None) -> None:
        """One binding's row, keyed by ``AclBinding.key``; None: the binding goes."""
        ...

    def replace_acls(self, rows: list[list[Any]]) -> None:
        """Every binding at once (a snapshot): bindings not in ``rows`` go."""
        ...


# The lowest offset a group may commit: Kafka's logical offsets EARLIEST (-2) and LATEST (-1) are
# committed by clients (kafkajs' admin resetOffsets) and read back as they were, as Kafka stores any
# offset; kraft refuses anything lower (OFFSET_OUT_OF_RANGE). No entry before this rule carries one:
# the coordinator refused every negative offset before proposing.
COMMITTED_OFFSET_MIN = -2

# Small keyed records, one row each (``StateStore.load_records``), in snapshots under their kind:
# dynamic broker configs (broker id, or "" for the cluster-wide defaults -> {config name: value text})
# and SCRAM credentials (user -> {mechanism name: [iterations, salt, salted password]}). Both are
# checked by their proposer (``kraft.broker_config``, ``kraft.scram``); the machine stores them.
BROKER_CONFIGS = "broker_configs"
SCRAM_CREDENTIALS = "scram_credentials"
RECORD_KINDS = (BROKER_CONFIGS, SCRAM_CREDENTIALS)


@dataclass
class GroupOffsets:
    """A consumer group's replicated facts: the generation of its last rebalance and its commits."""

    generation: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # the metadata string committed with an offset (Kafka's commit metadata); only non-empty ones
    metadata: dict[tuple[str, int], str] = field(default_factory=dict)
    # the leader epoch a commit named (OffsetCommit v6+'s committed_leader_epoch, KIP-320: OffsetFetch
    # returns it so a consumer validates its position after a leader change); only known ones (>= 0)
    leader_epochs: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: GroupRow) -> GroupOffsets:
        """Rows are [topic, partition, offset], [..., metadata] or [..., metadata, leader epoch]."""
        out = cls(row["generation"])
        for t, p, o, *rest in row["offsets"]:
            out.set(t, p, o, *split_commit(rest))
        return out

    def set(self, topic: str, partition: int, offset: int, metadata: str, leader_epoch: int) -> None:
        """One commit: its metadata string and leader epoch replace the last ones (or clear them)."""
        key = (topic, partition)
        self.offsets[key] = offset
        if metadata:
            self.metadata[key] = metadata
        else:
            self.metadata.pop(key, None)
        if leader_epoch >= 0:
            self.leader_epochs[key] = leader_epoch
        else:
            self.leader_epochs.pop(key, None)

    def forget(self, key: tuple[str, int]) -> None:
        self.offsets.pop(key, None)
        self.metadata.pop(key, None)
        self.leader_epochs.pop(key, None)

    def rows(self) -> list[list[Any]]:
        """Every commit's row, by topic and partition: replicas that wrote them in another order (one
        restarted and read them back in key order) give the same snapshot."""
        return [commit_row(t, p, o, self.metadata.get((t, p), ""), self.leader_epochs.get((t, p), -1))
                for (t, p), o in sorted(self.offsets.items())]

    def row(self, topic: str, partition: int) -> list[Any] | None:
        """One commit's row, or None: no commit for that partition (forgotten)."""
        key = (topic, partition)
        offset = self.offsets.get(key)
        if offset is None:
            return None
        return commit_row(topic, partition, offset, self.metadata.get(key, ""), self.leader_epochs.get(key, -1))


def commit_row(topic: str, partition: int, offset: int, metadata: str, leader_epoch: int) -> list[Any]:
    """The shortest row that says it all: entries and rows written before metadata strings or leader
    epochs were kept have only the first three (or four) fields, and still decode."""
    if leader_epoch >= 0:
        return [topic, partition, offset, metadata, leader_epoch]
    if metadata:
        return [topic, partition, offset, metadata]
    return [topic, partition, offset]


def split_commit(rest: list[Any]) -> tuple[str, int]:
    """(metadata string, leader epoch) from what follows [topic, partition, offset] in a row."""
    metadata = str(rest[0]) if rest and rest[0] else ""
    leader_epoch = rest[1] if len(rest) > 1 and isinstance(rest[1], int) and rest[1] >= 0 else -1
    return metadata, leader_epoch


class MetadataMachine:
    """Applies metadata commands. With a ``store``, what an entry changed is saved with it (in the
    same store batch as the Raft index it reflects): the rows of the topics, partitions, nodes, groups
    and commits it touched and the head row if a counter moved, so a restart resumes instead of replaying
    the log, and an entry costs what it changed, not the size of the catalogue.

    ``groups`` is read by other threads with single dict operations (``get``, ``dict(...)``), which
    the GIL makes atomic; it is mutated only here, on the driver thread.
    """

    def __init__(self, store: StateStore | None = None) -> None:
        self._store = store
        state: CatalogueState = (store.load_state() if store is not None else None) or {}
        # A disk written before rows per topic keeps the whole catalogue in the head row: read it from
        # there once, and write everything in rows at the next apply (which rewrites the head without it).
        legacy_catalogue = "topics" in state or "nodes" in state
        if legacy_catalogue or store is None:
            topics: dict[str, TopicRow] = state.get("topics", {})
            nodes: dict[int, NodeRow] = {int(k): v for k, v in state.get("nodes", {}).items()}
        else:
            topics, nodes = store.load_topics(), store.load_nodes()
        self._set_catalogue(topics, nodes, state)
        applied = store.load_applied() if store is not None else None
        self._last_applied: int = applied if applied is not None else state.get("last_applied", 0)
        # State saved before groups had rows of their own carries them in the catalogue row: read
        # them from there once, and write everything in the new layout at the next apply.
        legacy_groups = "groups" in state
        rows = state["groups"] if legacy_groups else (store.load_groups() if store is not None else {})
        self.groups: dict[str, GroupOffsets] = {
            g: GroupOffsets.from_row(v) for g, v in rows.items()
        }
        # Rows to write at the next save: groups' own rows, and single commits (group, topic, partition),
        # so a commit costs the offsets it moved, not the size of its group.
        self._dirty_groups: set[str] = set(self.groups) if legacy_groups else {
            g for g, v in rows.items() if v.get("legacy")}
        self._dirty_offsets: set[tuple[str, str, int]] = {
            (g, t, p) for g in self._dirty_groups for t, p in self.groups[g].offsets}
        # Keyed records (broker configs, SCRAM credentials): each kind's dict is replaced, never
        # mutated, so a reader on another thread holds a consistent one.
        self.records: dict[str, dict[str, Any]] = {
            kind: (store.load_records(kind) if store is not None else {}) for kind in RECORD_KINDS}
        self._dirty_records: set[tuple[str, str]] = set()  # (kind, key)
        if legacy_catalogue or legacy_groups:
            self._head_dirty = True
            self._dirty_nodes.update(self._nodes)
            for topic in self._topics.values():
                self._dirty_topics.add(topic["id"])
                self._dirty_parts.update((topic["id"], p) for p in range(len(topic["partitions"])))
        self._acls: dict[bytes, AclBinding] = {}
        for acl_row in store.load_acls() if store is not None else ():
            binding = AclBinding.from_row(acl_row)
            self._acls[binding.key()] = binding
        self._dirty_acls: set[bytes] = set()  # bindings to write (or delete) at the next save
        self._view_acls = True  # the next view rebuilds its ``AclSet``
        self.view = MetadataView()
        self._publish(full=True)

    def _set_catalogue(self, topics: dict[str, TopicRow], nodes: dict[int, NodeRow], head: CatalogueState) -> None:
        """Take ``topics``, ``nodes`` and the head's counters as the catalogue, nothing yet to write."""
        self._topics = topics
        self._topic_names: dict[int, str] = {t["id"]: name for name, t in topics.items()}  # topic id -> name
        self._nodes = nodes
        self._next_topic_id: int = head.get("next_topic_id", 1)
        self._next_producer_id: int = head.get("next_producer_id", 1)
        self._cluster_id: str | None = head.get("cluster_id")
        # What the next save writes (store rows) ...
        self._head_dirty = False
        self._dirty_topics: set[int] = set()  # topic ids whose own row changed (a gone topic: deleted)
        self._dirty_parts: set[tuple[int, int]] = set()  # (topic id, partition)
        self._dirty_nodes: set[int] = set()
        # ... and what the next view rebuilds (its other topics and partitions are the last view's)
        self._view_topics: set[str] = set()  # topics rebuilt whole (created, deleted, configs, grown)
        self._view_parts: dict[str, set[int]] = {}  # topic -> partitions rebuilt
        self._view_head = False  # nodes or the cluster id

    @property
    def last_applied(self) -> int:
        return self._last_applied

    # --- the Raft log's head, and snapshots (``raft.group``'s ``LogMachine``) ----------------------
    @property
    def log_floor(self) -> int:
        """The first Raft index still needed: none below the last ``METADATA_LOG_KEEP`` entries
        (moved in steps of that size, so the journal discards a slice at a time)."""
        return max(0, (self._last_applied // METADATA_LOG_KEEP - 1) * METADATA_LOG_KEEP)

    @property
    def raft_floor(self) -> int:
        return self.log_floor

    @property
    def compaction_epoch(self) -> int:
        return 0  # nothing rewrites the metadata group's rows behind Raft's back

    def compaction_settled(self) -> bool:
        return True

    def reclaim(self, budget: int) -> int:
        return 0

    def snapshot_rows(self, after: int, max_rows: int) -> tuple[int, int, list[tuple[int, bytes]]]:
        return after + 1, SNAPSHOT_END, []  # everything travels in ``state``

    def install_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None:
        pass

    def producers(self) -> dict[int, Any]:
        return {}

    def state(self) -> dict[str, Any]:
        """The whole state, as of the last applied entry: a copy (it is encoded later)."""
        catalogue = self._catalogue()
        groups = {g: {"generation": o.generation, "offsets": o.rows()} for g, o in self.groups.items()}
        whole = {"catalogue": catalogue, "groups": groups, "last_applied": self._last_applied,
                 "acls": [b.row() for b in sorted(self._acls.values())]}
        # In key order (a replica that restarted loaded them in key order; one that did not has them in
        # the order written): equal replicas make equal snapshots. Absent: none (older snapshots too).
        whole.update({kind: dict(sorted(rows.items())) for kind, rows in self.records.items() if rows})
        copied: dict[str, Any] = msgpack.unpackb(msgpack.packb(whole, use_bin_type=True),
                                                 raw=False, strict_map_key=False)
        return copied

    def snapshot_state(self) -> dict[str, Any]:
        return self.state()

    def install(self, state: dict[str, Any], producers: dict[int, Any]) -> None:
        """Take over another replica's state at its last applied entry (a snapshot)."""
        catalogue: CatalogueState = state["catalogue"]
        self._set_catalogue(catalogue.get("topics", {}), {int(k): v for k, v in catalogue.get("nodes", {}).items()},
                            catalogue)
        self._last_applied = state["last_applied"]
        rows: dict[str, GroupRow] = state["groups"]
        self.groups = {g: GroupOffsets.from_row(v) for g, v in rows.items()}
        self.records = {kind: dict(state.get(kind) or {}) for kind in RECORD_KINDS}
        acls = [AclBinding.from_row(r) for r in state.get("acls", ())]  # none in snapshots from before ACLs
        self._acls = {b.key(): b for b in acls}
        if self._store is not None:
            self._store.save_state(self._head())
            self._store.replace_catalogue(self._topics, self._nodes)
            self._store.replace_groups(rows)
            for kind, records in self.records.items():
                self._store.replace_records(kind, records)
            self._store.replace_acls([b.row() for b in acls])
            self._store.save_applied(self._last_applied)
        self._dirty_groups.clear()
        self._dirty_offsets.clear()
        self._dirty_records.clear()
        self._dirty_acls.clear()
        self._view_acls = True
        self._publish(full=True)

    def apply(self, raft_index: int, payload: bytes, term: int = 0) -> tuple[int, Any] | None:
        """Apply the entry at ``raft_index`` (its ``term`` means nothing to the catalogue)."""
        if raft_index <= self._last_applied:
            return None  # replayed after a restart: already in the saved state
        self._last_applied = raft_index
        result: tuple[int, Any] | None = None
        if payload:
            try:
                cmd = msgpack.unpackb(payload, raw=False)
                handler = getattr(self, "_op_" + str(cmd.get("op")), None)
                if handler is None:
                    raise errors.InvalidRequest(f"unknown metadata op {cmd.get('op')!r}")
                result = (0, handler(cmd))
            except errors.KraftError as e:
                result = (e.code, e.message)
            except (ValueError, TypeError, KeyError) as e:
                # A malformed command fails alike on every replica: answer it, never stop the group
                # on it (an exception here would fail every tick, on every node, for good).
                result = (errors.InvalidRequest.code, f"malformed metadata command: {e!r}")
        if self._view_topics or self._view_parts or self._view_head or self._view_acls:
            self._publish()  # only entries that changed the catalogue (not commits) pay for a new view
        if self._store is not None:
            self._save(raft_index)
        return result

    def _save(self, raft_index: int) -> None:
        """Write what this entry changed (in the driver's transaction, with the index it reflects)."""
        store = self._store
        assert store is not None
        if self._head_dirty:
            store.save_state(self._head())
            self._head_dirty = False
        for topic_id in self._dirty_topics:
            name = self._topic_names.get(topic_id)
            store.save_topic(topic_id, None if name is None else {**self._topics[name], "name": name})
        for topic_id, partition in self._dirty_parts:
            name = self._topic_names.get(topic_id)
            if name is not None:  # a deleted topic's partition rows went with it
                store.save_partition(topic_id, partition, self._topics[name]["partitions"][partition])
        for node_id in self._dirty_nodes:
            store.save_node(node_id, self._nodes[node_id])
        self._dirty_topics.clear()
        self._dirty_parts.clear()
        self._dirty_nodes.clear()
        for name in self._dirty_groups:
            g = self.groups.get(name)
            store.save_group(name, None if g is None else g.generation)
        self._dirty_groups.clear()
        for name, topic, partition in self._dirty_offsets:
            g = self.groups.get(name)
            if g is not None:  # else its rows went with the group's
                store.save_group_offset(name, topic, partition, g.row(topic, partition))
        self._dirty_offsets.clear()
        for kind, record in self._dirty_records:
            store.save_record(kind, record, self.records[kind].get(record))
        self._dirty_records.clear()
        for key in self._dirty_acls:
            binding = self._acls.get(key)
            store.save_acl(key, None if binding is None else binding.row())
        self._dirty_acls.clear()
        store.save_applied(raft_index)

    def _head(self) -> CatalogueState:
        """The head row: what is not a topic, partition, node or group."""
        row: CatalogueState = {"next_topic_id": self._next_topic_id, "next_producer_id": self._next_producer_id}
        if self._cluster_id is not None:
            row["cluster_id"] = self._cluster_id
        return row

    def _catalogue(self) -> CatalogueState:
        """The whole catalogue, as snapshots carry it."""
        row = self._head()
        row["topics"] = self._topics
        row["nodes"] = self._nodes
        return row

    # --- what an entry changed (written by ``_save``, rebuilt in the view by ``_publish``) --------
    def _touch_topic(self, name: str, topic_id: int) -> None:
        """A topic was created or deleted, or its own row changed (configs, partition count)."""
        self._dirty_topics.add(topic_id)
        self._view_topics.add(name)

    def _touch_partitions(self, name: str, topic_id: int, partitions: range | list[int]) -> None:
        self._dirty_parts.update((topic_id, p) for p in partitions)
        self._view_parts.setdefault(name, set()).update(partitions)

    def _touch_node(self, node_id: int) -> None:
        self._dirty_nodes.add(node_id)
        self._view_head = True

    def _op_create_acls(self, cmd: dict[str, Any]) -> list[list[Any]]:
        """ACL bindings added (Kafka's CreateAcls); per binding [error code, message]: each is checked
        on its own (a binding that exists already is no change and no error, as in Kafka)."""
        results: list[list[Any]] = []
        for acl_row in cmd["acls"]:
            try:
                binding = AclBinding.from_row(acl_row)
                validate_binding(binding)
            except errors.KraftError as e:
                results.append([e.code, e.message])
                continue
            except (ValueError, TypeError) as e:
                results.append([errors.InvalidRequest.code, f"malformed ACL binding: {e!r}"])
                continue
            key = binding.key()
            if key not in self._acls:
                self._acls[key] = binding
                self._dirty_acls.add(key)
                self._view_acls = True
            results.append([0, None])
        return results

    def _op_delete_acls(self, cmd: dict[str, Any]) -> list[list[Any]]:
        """Every binding any of the filters matches goes, in this one entry (Kafka's DeleteAcls); per
        filter [error code, message, [binding rows it matched]], matched against the bindings as they
        were before the entry (a binding two filters match is reported by both)."""
        results: list[list[Any]] = []
        gone: set[bytes] = set()
        for filter_row in cmd["filters"]:
            try:
                f = AclFilter.from_row(filter_row)
                f.validate()
            except errors.KraftError as e:
                results.append([e.code, e.message, []])
                continue
            except (ValueError, TypeError) as e:
                results.append([errors.InvalidRequest.code, f"malformed ACL filter: {e!r}", []])
                continue
            matched = sorted(b for b in self._acls.values() if f.matches(b))
            gone.update(b.key() for b in matched)
            results.append([0, None, [b.row() for b in matched]])
        for key in sorted(gone):
            del self._acls[key]
            self._dirty_acls.add(key)
            self._view_acls = True
        return results

    def _op_set_cluster_id(self, cmd: dict[str, Any]) -> str:
        """Give the cluster its id, once: the first entry wins; answers the id in force."""
        if self._cluster_id is None:
            self._cluster_id = str(cmd["cluster_id"])
            self._head_dirty = self._view_head = True
        return self._cluster_id

    def _op_create_topic(self, cmd: dict[str, Any]) -> dict[str, Any]:
        name = cmd["name"]
        if name in self._topics:
            raise errors.TopicAlreadyExists(f"topic {name!r} already exists")
        topic_id = self._next_topic_id
        assignment = cmd["assignment"]
        topic_uuid = _command_uuid(cmd.get("uuid")) or derived_topic_uuid(topic_id, name).hex
        if uuid.UUID(hex=topic_uuid) in self.view.topic_uuids:
            # a UUID another topic has (a faulty proposer): never two topics with one id
            topic_uuid = derived_topic_uuid(topic_id, name).hex
        partitions: list[PartitionRow] = [{"replicas": list(r), "leader": None, "term": -1} for r in assignment]
        self._next_topic_id += 1
        self._head_dirty = True
        self._topics[name] = {"id": topic_id, "configs": dict(cmd.get("configs") or {}), "partitions": partitions,
                              "uuid": topic_uuid}
        self._topic_names[topic_id] = name
        self._touch_topic(name, topic_id)
        self._dirty_parts.update((topic_id, p) for p in range(len(partitions)))
        return {"topic_id": topic_id, "partitions": len(assignment), "uuid": topic_uuid}

    def _op_create_partitions(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """A topic grows by the partitions of ``assignment`` (their replica lists, placed by the
        proposer), appended after its ``count`` existing ones; existing partitions and configs stay.
        The proposer planned them from ``count`` partitions of topic ``topic_id``: if the topic has
        changed since (another change came first, or it was deleted and created again), the command
        is refused and nothing changes, so a topic's partition count only ever grows, each partition
        placed once. Answers the counts before and after."""
        name, new = cmd["name"], cmd["assignment"]
        topic = self._topics.get(name)
        if topic is None or topic["id"] != cmd["topic_id"]:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        parts = topic["partitions"]
        if len(parts) != cmd["count"]:
            raise errors.InvalidPartitions(f"topic {name!r} has {len(parts)} partitions now, not the {cmd['count']} "
                                           f"this change was planned from (another change came first)")
        if not new or not all(new):
            raise errors.InvalidReplicaAssignment("every new partition needs at least one replica")
        parts.extend({"replicas": list(r), "leader": None, "term": -1} for r in new)
        self._touch_topic(name, topic["id"])
        self._dirty_parts.update((topic["id"], p) for p in range(cmd["count"], len(parts)))
        return {"previous": cmd["count"], "partitions": len(parts)}

    def _op_delete_topic(self, cmd: dict[str, Any]) -> None:
        name = cmd["name"]
        topic = self._topics.pop(name, None)
        if topic is None:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        del self._topic_names[topic["id"]]
        self._touch_topic(name, topic["id"])
        for group_id, group in self.groups.items():  # a topic created again later starts with no commits
            gone = [k for k in group.offsets if k[0] == name]
            for key in gone:
                group.forget(key)
                self._dirty_offsets.add((group_id, *key))

    def _op_alter_configs(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """A topic's configs changed in one step: ``set`` over them, then ``delete``; with ``replace``,
        only ``set`` remains (Kafka's non-incremental AlterConfigs). The proposer validated the values
        against the topic config table; this only applies them. Answers the topic's new configs."""
        topic = self._topics.get(cmd["name"])
        if topic is None:
            raise errors.UnknownTopicOrPartition(f"topic {cmd['name']!r} does not exist")
        configs: dict[str, Any] = {} if cmd.get("replace") else dict(topic["configs"])
        configs.update(cmd.get("set") or {})
        for name in cmd.get("delete") or ():
            configs.pop(name, None)
        topic["configs"] = configs
        self._touch_topic(cmd["name"], topic["id"])
        return dict(configs)

    def _op_register_node(self, cmd: dict[str, Any]) -> None:
        """A node announces where it listens (at every start: addresses may change between runs)."""
        # kafka_port is absent in entries written before Kafka listeners
        node: NodeRow = {"host": cmd["host"], "client_port": cmd["client_port"], "raft_port": cmd["raft_port"],
                         "rack": cmd["rack"], "kafka_port": cmd.get("kafka_port")}
        old = self._nodes.get(int(cmd["id"]))
        if "http_port" in cmd:  # only then: a registration from before HTTP ports keeps its old row, byte for byte
            node["http_port"] = cmd["http_port"]
        if old is not None and old.get("decommissioned"):
            node["decommissioned"] = True  # a decommissioned node that restarts stays on its way out
        self._nodes[int(cmd["id"])] = node
        self._touch_node(int(cmd["id"]))

    def _op_decommission_node(self, cmd: dict[str, Any]) -> None:
        """Mark a node as leaving: no new replica is placed on it, and once every replica has moved off
        it, it leaves the metadata group. Irreversible (a node comes back as a new one: a fresh disk)."""
        node = self._nodes.get(int(cmd["node"]))
        if node is None:
            raise errors.InvalidRequest(f"node {cmd['node']} is not registered in the cluster")
        node["decommissioned"] = True
        self._touch_node(int(cmd["node"]))

    @property
    def producer_ids_issued(self) -> int:
        """How many producer ids the cluster has handed out (any thread: one int read)."""
        return self._next_producer_id - 1

    def _op_alloc_producer_id(self, cmd: dict[str, Any]) -> int:
        """A producer id, never handed out twice (idempotent producers number batches under it)."""
        producer_id = self._next_producer_id
        self._next_producer_id += 1
        self._head_dirty = True
        return producer_id

    def _op_group_generation(self, cmd: dict[str, Any]) -> int:
        group = self.groups.setdefault(cmd["group"], GroupOffsets())
        group.generation = max(group.generation, cmd["generation"])
        self._dirty_groups.add(cmd["group"])
        return group.generation

    def _op_delete_group(self, cmd: dict[str, Any]) -> None:
        """A group's commits and generation go (Kafka's DeleteGroups), if its generation is still the
        one the coordinator saw it empty at: a group that a member joined meanwhile (a generation was
        recorded after the check) is kept, NON_EMPTY_GROUP."""
        group = self.groups.get(cmd["group"])
        if group is None:
            raise errors.GroupIdNotFound(f"group {cmd['group']!r} does not exist")
        if group.generation != cmd["generation"]:
            raise errors.NonEmptyGroup(f"group {cmd['group']!r} moved to generation {group.generation}")
        del self.groups[cmd["group"]]
        self._dirty_groups.add(cmd["group"])

    def _op_delete_offsets(self, cmd: dict[str, Any]) -> None:
        """Some of a group's commits go (Kafka's OffsetDelete), if its generation is still the one the
        coordinator checked them at (it refused partitions of topics the group's members subscribe
        to): a rebalance meanwhile may have changed the subscriptions, REBALANCE_IN_PROGRESS."""
        group = self.groups.get(cmd["group"])
        if group is None:
            raise errors.GroupIdNotFound(f"group {cmd['group']!r} does not exist")
        if group.generation != cmd["generation"]:
            raise errors.RebalanceInProgress(f"group {cmd['group']!r} moved to generation {group.generation}")
        keys = [(str(topic), int(partition)) for topic, partition in cmd["partitions"]]  # all read before any goes
        for key in keys:
            if key in group.offsets:
                group.forget(key)
                self._dirty_offsets.add((cmd["group"], *key))

    def _op_commit_offsets(self, cmd: dict[str, Any]) -> list[list[int]]:
        """Many groups' commits in one entry; per commit, per offset: an error code (0 = stored).

        A commit carries the generation it was made in; only the group's current generation (or -1,
        an administrative commit the coordinator allowed) may move offsets, so a member fenced by a
        newer rebalance cannot move them, even across a coordinator failover.
        """
        results = []
        for commit in cmd["commits"]:
            group_id = commit["group"]
            group = self.groups.get(group_id)
            if group is None:
                group = self.groups[group_id] = GroupOffsets()
                self._dirty_groups.add(group_id)
            generation = commit["generation"]
            if generation not in (-1, group.generation):
                results.append([errors.IllegalGeneration.code] * len(commit["offsets"]))
                continue
            codes = []
            for topic, partition, offset, *rest in commit["offsets"]:
                t = self._topics.get(topic)
                if t is None or not 0 <= partition < len(t["partitions"]) or offset < COMMITTED_OFFSET_MIN:
                    codes.append(errors.UnknownTopicOrPartition.code if offset >= COMMITTED_OFFSET_MIN
                                 else errors.OffsetOutOfRange.code)
                    continue
                group.set(topic, partition, offset, *split_commit(rest))
                self._dirty_offsets.add((group_id, topic, partition))
                codes.append(0)
            results.append(codes)
        return results

    def _op_reassign_partitions(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Start (or change, or cancel: ``None``) moves of a topic's partitions to other replicas; all
        or nothing. The partitions' leaders carry each move out and report it done."""
        topic = self._topics.get(cmd["topic"])
        if topic is None:
            raise errors.UnknownTopicOrPartition(f"no topic {cmd['topic']!r}")
        moves: dict[int, list[int] | None] = {int(p): r for p, r in cmd["partitions"]}  # [[p, replicas | None]]
        parts = topic["partitions"]
        for p, replicas in moves.items():
            if not 0 <= p < len(parts):
                raise errors.UnknownTopicOrPartition(f"{cmd['topic']} has no partition {p}")
            if replicas is None:
                continue
            if not replicas or len(set(replicas)) != len(replicas):
                raise errors.InvalidReplicaAssignment(f"partition {p}: replicas {replicas} are empty or repeat a node")
            unknown = sorted(set(replicas) - set(self._nodes))
            if unknown:
                raise errors.InvalidReplicaAssignment(f"partition {p}: nodes {unknown} are not in the cluster")
        for p, replicas in moves.items():
            row = parts[p]
            if replicas is None or list(replicas) == row["replicas"]:
                if "target" in row:
                    row["target"] = list(row["replicas"])  # cancelled: move back, reported done as any move
            else:
                row["target"] = list(replicas)
        self._touch_partitions(cmd["topic"], topic["id"], sorted(moves))
        return {"partitions": sorted(moves)}

    def _partition_row(self, topic_id: int, partition: int) -> tuple[str, PartitionRow] | None:
        """Topic ``topic_id``'s name and the row of its ``partition`` (None: no such topic or partition)."""
        name = self._topic_names.get(topic_id)
        if name is None:
            return None
        parts = self._topics[name]["partitions"]
        return (name, parts[partition]) if 0 <= partition < len(parts) else None

    def _op_reassignment_done(self, cmd: dict[str, Any]) -> None:
        """A partition's leader reports its group's voters are the move's target: it is finished."""
        found = self._partition_row(cmd["topic_id"], cmd["partition"])
        if found is None:
            return
        name, row = found
        if row.get("target") == list(cmd["replicas"]):
            row["replicas"] = list(cmd["replicas"])
            del row["target"]
            self._touch_partitions(name, cmd["topic_id"], [cmd["partition"]])

    def _op_partition_leader(self, cmd: dict[str, Any]) -> None:
        found = self._partition_row(cmd["topic_id"], cmd["partition"])
        if found is None:
            return  # the topic was deleted meanwhile: nothing to record
        name, p = found
        if cmd["term"] < p["term"]:
            return
        isr = None if cmd.get("isr") is None else [int(n) for n in cmd["isr"]]  # none: reports from before ISRs
        if (p["leader"], p["term"], p.get("isr")) == (cmd["leader"], cmd["term"], isr):
            return  # a report repeated: nothing to write
        p["leader"], p["term"] = cmd["leader"], cmd["term"]
        if isr is not None:
            p["isr"] = isr
        else:
            p.pop("isr", None)
        self._touch_partitions(name, cmd["topic_id"], [cmd["partition"]])

    # --- keyed records: dynamic broker configs, SCRAM credentials ---------------------------------
    def _put_record(self, kind: str, key: str, row: Any | None) -> None:
        """Replace one record (None: it goes) in a new dict of its kind (readers keep the old one)."""
        rows = dict(self.records[kind])
        if row is None:
            rows.pop(key, None)
        else:
            rows[key] = row
        self.records[kind] = rows
        self._dirty_records.add((kind, key))

    def _op_alter_broker_configs(self, cmd: dict[str, Any]) -> dict[str, str]:
        """A broker's dynamic configs (``broker`` is its id, or "" for the cluster-wide defaults) in one
        step: ``set`` over them, then ``delete``; with ``replace``, only ``set`` remains (Kafka's
        non-incremental AlterConfigs). The proposer validated them (``kraft.broker_config``); this
        only stores their text. Answers the broker's dynamic configs after it."""
        broker = str(cmd["broker"])
        configs: dict[str, str] = {} if cmd.get("replace") else dict(self.records[BROKER_CONFIGS].get(broker) or {})
        configs.update({str(k): str(v) for k, v in (cmd.get("set") or {}).items()})
        for name in cmd.get("delete") or ():
            configs.pop(name, None)
        self._put_record(BROKER_CONFIGS, broker, configs or None)
        self._view_head = True  # a new view: nodes cache topics' effective configs by view
        return configs

    def _op_alter_scram_credentials(self, cmd: dict[str, Any]) -> list[list[Any]]:
        """SCRAM credentials change, user by user (KIP-554): ``deletions`` [[user, mechanism]] and
        ``upsertions`` [[user, mechanism, iterations, salt, salted password]], checked by the
        proposer (``kraft.scram``) but for what depends on the state: a user whose deletion names a
        credential it does not have gets RESOURCE_NOT_FOUND and none of its changes apply. Answers
        [[user, error code]] in the order users first appear."""
        users: dict[str, tuple[list[str], list[list[Any]]]] = {}
        for user, mechanism in cmd.get("deletions") or ():
            users.setdefault(str(user), ([], []))[0].append(str(mechanism))
        for user, mechanism, iterations, salt, salted in cmd.get("upsertions") or ():
            if not isinstance(salt, bytes) or not isinstance(salted, bytes):
                raise errors.InvalidRequest("a SCRAM salt and salted password are bytes")  # before any change
            users.setdefault(str(user), ([], []))[1].append([str(mechanism), int(iterations), salt, salted])
        results: list[list[Any]] = []
        for user, (deletions, upsertions) in users.items():
            creds = dict(self.records[SCRAM_CREDENTIALS].get(user) or {})
            if any(m not in creds for m in deletions):
                results.append([user, errors.ResourceNotFound.code])
                continue
            for mechanism in deletions:
                del creds[mechanism]
            for mechanism, iterations, salt, salted in upsertions:
                creds[mechanism] = [iterations, salt, salted]
            self._put_record(SCRAM_CREDENTIALS, user, creds or None)
            results.append([user, 0])
        return results

    # --- the view ---------------------------------------------------------------------------------
    def _partition_meta(self, name: str, topic_id: int, index: int, p: PartitionRow) -> PartitionMeta:
        return PartitionMeta(name, topic_id, index, tuple(p["replicas"]), p["leader"], p["term"],
                             tuple(p["target"]) if "target" in p else None,
                             tuple(p["isr"]) if "isr" in p else None)

    def _topic_meta(self, name: str, t: TopicRow) -> TopicMeta:
        parts = tuple(self._partition_meta(name, t["id"], i, p) for i, p in enumerate(t["partitions"]))
        topic_uuid = uuid.UUID(hex=t["uuid"]) if "uuid" in t else derived_topic_uuid(t["id"], name)
        return TopicMeta(name, t["id"], parts, dict(t["configs"]), topic_uuid)

    def _publish(self, full: bool = False) -> None:
        """A new view: the last one with what this entry touched rebuilt (``full``: everything)."""
        old = self.view
        if full:
            old = MetadataView(old.version)
            self._view_topics = set(self._topics)
            self._view_parts.clear()
            self._view_head = True
        topics = dict(old.topics)
        uuids = old.topic_uuids
        counts = old.replicas_per_node
        if self._view_topics:
            uuids, counts = dict(uuids), dict(counts)

        def count(replicas: tuple[int, ...], step: int) -> None:
            for n in replicas:
                counts[n] = counts.get(n, 0) + step
                if not counts[n]:
                    del counts[n]

        for name in self._view_topics:
            prev = topics.get(name)
            if prev is not None:
                uuids.pop(prev.topic_uuid, None)
                for part in prev.partitions:
                    count(part.replicas, -1)
            row = self._topics.get(name)
            if row is None:
                topics.pop(name, None)
                continue
            meta = topics[name] = self._topic_meta(name, row)
            uuids[meta.topic_uuid] = name
            for part in meta.partitions:
                count(part.replicas, 1)
        for name, changed in self._view_parts.items():
            prev, row = topics.get(name), self._topics.get(name)
            if name in self._view_topics or prev is None or row is None:
                continue  # rebuilt whole above, or gone
            parts = list(prev.partitions)
            for i in changed:
                parts[i] = self._partition_meta(name, row["id"], i, row["partitions"][i])
                if parts[i].replicas != prev.partitions[i].replicas:  # a move finished
                    if counts is old.replicas_per_node:
                        counts = dict(counts)
                    count(prev.partitions[i].replicas, -1)
                    count(parts[i].replicas, 1)
            topics[name] = replace(prev, partitions=tuple(parts))
        nodes = old.nodes
        if self._view_head:
            nodes = {i: NodeMeta(i, n["host"], n["client_port"], n["raft_port"], n["rack"], n.get("kafka_port"),
                                 bool(n.get("decommissioned")), n.get("http_port"))
                     for i, n in self._nodes.items()}
        acls = old.acls
        if self._view_acls:
            acls = AclSet.of(self._acls.values())
            self._view_acls = False
        self._view_topics = set()
        self._view_parts = {}
        self._view_head = False
        self.view = MetadataView(self.view.version + 1, topics, nodes, self._cluster_id, uuids, counts, acls=acls)
