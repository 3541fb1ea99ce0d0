"""State rows: how the state machines' persisted state is laid out in the ``pstate`` and ``producers`` tables.

Owns the keys and encodings (and nothing else) of:

    pstate     gid                   msgpack map: a group's own state (a partition's offsets; the
                                     metadata group's head: id counters, the cluster id, and on a
                                     disk written before rows per topic the whole catalogue)
    pstate     gid + b"t" + u64 id   msgpack map: one topic of the metadata catalogue (name, configs,
                                     Kafka topic id), keyed by its number
    pstate     gid + b"p" + u64 id + u32 partition
                                     msgpack map: one partition of that topic (replicas, leader, term,
                                     ISR, a move's target)
    pstate     gid + b"n" + u64 id   msgpack map: one node of the metadata group's registry
    pstate     gid + b"g" + id       msgpack map: one consumer group of the metadata group (its
                                     generation), its id kept in the value under "name" (an id too
                                     long for a key is stored as b"#" + its SHA-256); written before
                                     commits had rows of their own, it also holds every commit
    pstate     gid + b"o" + u16 len(id) + id + topic + b"\0" + u32 partition
                                     msgpack list: one committed offset of that group, as a commit
                                     row ([topic, partition, offset, metadata?, leader epoch?])
    pstate     gid + b"a"            u64: the metadata group's last applied Raft index
    pstate     gid + b"r" + kind + b"\0" + key
                                     msgpack [key, row]: one keyed record of the metadata group (a
                                     broker's dynamic configs, a user's SCRAM credentials; a key
                                     too long for a key is stored as b"#" + its SHA-256)
    pstate     gid + b"l" + sha256   msgpack list: one ACL binding of the metadata group, keyed by the
                                     SHA-256 of its row (``kraft.state.acls.AclBinding.key``)
    pstate     gid + b"h"            msgpack [[end offset, proposed ms], ...]: a partition's last
                                     compaction passes (replicated)
    pstate     gid + b"e"            msgpack [[epoch, start offset], ...]: a partition's leader epochs
                                     (replicated; ``kraft.state.leader_epochs``)
    pstate     gid + b"c"            u64: the last compaction pass this replica finished (local, not
                                     replicated: replicas finish passes at their own pace)
    producers  gid + producer id     msgpack list: one producer's idempotence state on a partition

Writes go into the driver's batch, so they commit together with the Raft entries they reflect.
Must not: say what the state means. ``kraft.state`` does: its machines declare the store protocols
(``PartitionStore``, ``StateStore``) these rows implement and the fields of the rows
(``PartitionState``, ``ProducerState``, ``CatalogueState``, ``GroupRow``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

import msgpack

from kraft.log.store import DB_PRODUCERS, DB_PSTATE, LogStore, ReadView, gid_key, gid_u64_key, prefix_stop, u64_of
from kraft.state.acls import AclBinding
from kraft.state.metadata import CatalogueState, GroupRow, NodeRow, PartitionRow, TopicRow
from kraft.state.partition import ProducerState

# The map a state row holds: its machine declares the fields (``PartitionState``, ``CatalogueState``).
S = TypeVar("S", bound=Mapping[str, object])


def _unpack_map(raw: bytes) -> Any:
    """A msgpack map as stored (msgpack is untyped: the caller names the row's type)."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class StateRow(Generic[S]):
    """One group's state: a msgpack map in ``pstate``, keyed by gid."""

    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.key = gid_key(gid)

    def load_state(self) -> S | None:
        raw = self.store.get(DB_PSTATE, self.key)
        return None if raw is None else cast(S, _unpack_map(raw))

    def save_state(self, state: S) -> None:
        self.store.put(DB_PSTATE, self.key, msgpack.packb(state, use_bin_type=True))

    def read(self, view: ReadView) -> S | None:
        raw = view.get(DB_PSTATE, self.key)
        return None if raw is None else cast(S, _unpack_map(raw))

    def delete(self) -> None:
        self.store.delete(DB_PSTATE, self.key)


class MetadataRows(StateRow[CatalogueState]):
    """The metadata group's rows: the head (StateRow's key), one row per topic, per partition, per
    node, per consumer group and per committed offset, and a small row with the last applied Raft
    index. An entry rewrites only the rows it touched and the index row: a leader report one
    partition's row, a commit the offsets it moved, whatever the size of the catalogue or the group."""

    _GROUP_KEY_MAX = 400  # with the gid and b"g" in front, well within KEY_BYTES_MAX
    # In a commit's key the topic (up to 249 bytes) and partition follow: 8 + 1 + 2 + 200 + 249 + 1 + 4.
    _OFFSET_GROUP_MAX = 200

    def __init__(self, store: LogStore, gid: int) -> None:
        super().__init__(store, gid)
        self._group_prefix = self.key + b"g"
        self._offset_prefix = self.key + b"o"
        self._applied_key = self.key + b"a"
        self._topic_prefix = self.key + b"t"
        self._partition_prefix = self.key + b"p"
        self._node_prefix = self.key + b"n"
        self._record_prefix = self.key + b"r"
        self._acl_prefix = self.key + b"l"

    def load_topics(self) -> dict[str, TopicRow]:
        topics: dict[int, TopicRow] = {}
        names: dict[int, str] = {}
        for key, raw in self.store.scan(DB_PSTATE, self._topic_prefix, prefix_stop(self._topic_prefix)):
            row = cast(TopicRow, _unpack_map(raw))
            topic_id = int.from_bytes(key[len(self._topic_prefix):], "big")
            names[topic_id] = row.pop("name")
            row["partitions"] = []
            topics[topic_id] = row
        # in key order: topic by topic, each topic's partitions by number
        for key, raw in self.store.scan(DB_PSTATE, self._partition_prefix, prefix_stop(self._partition_prefix)):
            at = len(self._partition_prefix)
            topic = topics.get(int.from_bytes(key[at:at + 8], "big"))
            if topic is not None:
                topic["partitions"].append(cast(PartitionRow, _unpack_map(raw)))
        return {names[topic_id]: row for topic_id, row in sorted(topics.items())}

    def save_topic(self, topic_id: int, row: TopicRow | None) -> None:
        key = self._topic_prefix + topic_id.to_bytes(8, "big")
        if row is None:
            self.store.delete(DB_PSTATE, key)
            self.store.delete_prefix(DB_PSTATE, self._partition_prefix + topic_id.to_bytes(8, "big"))
            return
        own = {k: v for k, v in row.items() if k != "partitions"}
        self.store.put(DB_PSTATE, key, msgpack.packb(own, use_bin_type=True))

    def save_partition(self, topic_id: int, partition: int, row: PartitionRow) -> None:
        key = self._partition_prefix + topic_id.to_bytes(8, "big") + partition.to_bytes(4, "big")
        self.store.put(DB_PSTATE, key, msgpack.packb(row, use_bin_type=True))

    def load_nodes(self) -> dict[int, NodeRow]:
        return {int.from_bytes(key[len(self._node_prefix):], "big"): cast(NodeRow, _unpack_map(raw))
                for key, raw in self.store.scan(DB_PSTATE, self._node_prefix, prefix_stop(self._node_prefix))}

    def save_node(self, node_id: int, row: NodeRow) -> None:
        self.store.put(DB_PSTATE, self._node_prefix + node_id.to_bytes(8, "big"), msgpack.packb(row, use_bin_type=True))

    def replace_catalogue(self, topics: dict[str, TopicRow], nodes: dict[int, NodeRow]) -> None:
        for prefix in (self._topic_prefix, self._partition_prefix, self._node_prefix):
            self.store.delete_prefix(DB_PSTATE, prefix)
        for name, topic in topics.items():
            self.save_topic(topic["id"], {**topic, "name": name})
            for i, partition in enumerate(topic["partitions"]):
                self.save_partition(topic["id"], i, partition)
        for node_id, node in nodes.items():
            self.save_node(node_id, node)

    def load_groups(self) -> dict[str, GroupRow]:
        """Every group with its commits, from its row and its commits' rows. A group row written before
        commits had rows of their own still holds them: it comes marked ``legacy`` (the machine writes
        it again in rows)."""
        out: dict[bytes, GroupRow] = {}  # by the id in its commits' keys
        for _key, raw in self.store.scan(DB_PSTATE, self._group_prefix, prefix_stop(self._group_prefix)):
            row = cast(GroupRow, _unpack_map(raw))
            if row.get("offsets"):
                row["legacy"] = True
            row["offsets"] = list(row.get("offsets", ()))
            out[_key_id(row["name"], self._OFFSET_GROUP_MAX)] = row
        for key, raw in self.store.scan(DB_PSTATE, self._offset_prefix, prefix_stop(self._offset_prefix)):
            at = len(self._offset_prefix)
            size = int.from_bytes(key[at:at + 2], "big")
            group = out.get(key[at + 2:at + 2 + size])
            if group is not None:  # after any commits a legacy row holds, so these win
                group["offsets"].append(list(msgpack.unpackb(raw, raw=False)))
        return {row["name"]: row for row in out.values()}

    def save_group(self, name: str, generation: int | None) -> None:
        """A group's own row; None: the group and every commit of it go."""
        key = self._group_key(name)
        if generation is None:
            self.store.delete(DB_PSTATE, key)
            self.store.delete_prefix(DB_PSTATE, self._offsets_of(name))
        else:
            self.store.put(DB_PSTATE, key, msgpack.packb({"generation": generation, "name": name}, use_bin_type=True))

    def save_group_offset(self, name: str, topic: str, partition: int, row: list[Any] | None) -> None:
        """One committed offset of a group (a commit row), or None: forgotten."""
        key = self._offsets_of(name) + topic.encode() + b"\0" + partition.to_bytes(4, "big")
        if row is None:
            self.store.delete(DB_PSTATE, key)
        else:
            self.store.put(DB_PSTATE, key, msgpack.packb(row, use_bin_type=True))

    def replace_groups(self, groups: dict[str, GroupRow]) -> None:
        for prefix in (self._group_prefix, self._offset_prefix):
            self.store.delete_prefix(DB_PSTATE, prefix)
        for name, row in groups.items():
            self.save_group(name, row["generation"])
            for commit in row["offsets"]:
                self.save_group_offset(name, commit[0], commit[1], commit)

    def load_records(self, kind: str) -> dict[str, Any]:
        prefix = self._records_of(kind)
        out: dict[str, Any] = {}
        for _key, raw in self.store.scan(DB_PSTATE, prefix, prefix_stop(prefix)):
            key, row = msgpack.unpackb(raw, raw=False, strict_map_key=False)
            out[key] = row
        return out

    def save_record(self, kind: str, key: str, row: Any | None) -> None:
        at = self._records_of(kind) + _key_id(key, self._GROUP_KEY_MAX)
        if row is None:
            self.store.delete(DB_PSTATE, at)
        else:
            self.store.put(DB_PSTATE, at, msgpack.packb([key, row], use_bin_type=True))

    def replace_records(self, kind: str, rows: dict[str, Any]) -> None:
        self.store.delete_prefix(DB_PSTATE, self._records_of(kind))
        for key, row in rows.items():
            self.save_record(kind, key, row)

    def _records_of(self, kind: str) -> bytes:
        return self._record_prefix + kind.encode() + b"\0"

    def load_acls(self) -> list[list[Any]]:
        return [list(msgpack.unpackb(raw, raw=False))
                for _key, raw in self.store.scan(DB_PSTATE, self._acl_prefix, prefix_stop(self._acl_prefix))]

    def save_acl(self, key: bytes, row: list[Any] | None) -> None:
        if row is None:
            self.store.delete(DB_PSTATE, self._acl_prefix + key)
        else:
            self.store.put(DB_PSTATE, self._acl_prefix + key, msgpack.packb(row, use_bin_type=True))

    def replace_acls(self, rows: list[list[Any]]) -> None:
        self.store.delete_prefix(DB_PSTATE, self._acl_prefix)
        for row in rows:
            self.save_acl(AclBinding.from_row(row).key(), row)

    def load_applied(self) -> int | None:
        raw = self.store.get(DB_PSTATE, self._applied_key)
        return None if raw is None else int.from_bytes(raw, "big")

    def save_applied(self, raft_index: int) -> None:
        self.store.put(DB_PSTATE, self._applied_key, raft_index.to_bytes(8, "big"))

    def _group_key(self, name: str) -> bytes:
        return self._group_prefix + _key_id(name, self._GROUP_KEY_MAX)

    def _offsets_of(self, name: str) -> bytes:
        """The prefix of a group's commits' rows (the id's length first: no group's is another's)."""
        raw = _key_id(name, self._OFFSET_GROUP_MAX)
        return self._offset_prefix + len(raw).to_bytes(2, "big") + raw


def _key_id(name: str, limit: int) -> bytes:
    """A group id as a key part: itself, or b"#" + its SHA-256 when longer than ``limit`` bytes."""
    raw = name.encode()
    return b"#" + hashlib.sha256(raw).digest() if len(raw) > limit else raw


class CompactionHistoryRow:
    """A partition's compaction passes (end offset, proposal ms): replicated state, written only by a
    pass, so it is not in the state row every apply rewrites."""

    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.key = gid_key(gid) + b"h"

    def load(self) -> list[list[int]]:
        raw = self.store.get(DB_PSTATE, self.key)
        return [] if raw is None else cast(list[list[int]], msgpack.unpackb(raw))

    def save(self, history: list[list[int]]) -> None:
        self.store.put(DB_PSTATE, self.key, msgpack.packb(history))

    def delete(self) -> None:
        self.store.delete(DB_PSTATE, self.key)


class LeaderEpochsRow:
    """A partition's leader epochs: replicated state, written only when an epoch starts or the log
    start moves, so it is not in the state row every apply rewrites. Readers on other threads read
    it from a view, consistent with the state row of the same view."""

    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.key = gid_key(gid) + b"e"

    def load(self) -> list[list[int]]:
        raw = self.store.get(DB_PSTATE, self.key)
        return [] if raw is None else cast(list[list[int]], msgpack.unpackb(raw))

    def read(self, view: ReadView) -> list[list[int]]:
        raw = view.get(DB_PSTATE, self.key)
        return [] if raw is None else cast(list[list[int]], msgpack.unpackb(raw))

    def save(self, epochs: list[list[int]]) -> None:
        self.store.put(DB_PSTATE, self.key, msgpack.packb(epochs))

    def delete(self) -> None:
        self.store.delete(DB_PSTATE, self.key)


class CompactionDoneRow:
    """The epoch of the last compaction pass this replica's store finished."""

    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.key = gid_key(gid) + b"c"

    def load(self) -> int:
        raw = self.store.get(DB_PSTATE, self.key)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def save(self, epoch: int) -> None:
        self.store.put(DB_PSTATE, self.key, epoch.to_bytes(8, "big"))

    def delete(self) -> None:
        self.store.delete(DB_PSTATE, self.key)


class ProducerRows:
    """A partition's producer states in ``producers``: one row per producer id, so an apply rewrites
    only the producer it touched."""

    def __init__(self, store: LogStore, gid: int) -> None:
        self.store = store
        self.gid = gid
        self._prefix = gid_key(gid)
        self._stop = prefix_stop(self._prefix)

    def load(self) -> dict[int, ProducerState]:
        return {u64_of(key): msgpack.unpackb(value)
                for key, value in self.store.scan(DB_PRODUCERS, self._prefix, self._stop)}

    def save(self, producer_id: int, state: ProducerState | None) -> None:
        key = gid_u64_key(self.gid, producer_id)
        if state is None:
            self.store.delete(DB_PRODUCERS, key)
        else:
            self.store.put(DB_PRODUCERS, key, msgpack.packb(state))

    def destroy(self) -> None:
        self.store.delete_prefix(DB_PRODUCERS, self._prefix)
