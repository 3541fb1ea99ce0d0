"""The metadata state machine: topics, their partitions' replicas and current leaders.

Owns: the cluster's catalogue as a deterministic function of the metadata group's log. Every node
replays the same commands and so holds the same view; readers on other threads get an immutable
``MetadataView`` that is replaced, never mutated, after each change.
Must not: read clocks, sockets or randomness; decide placement (the proposer computes replicas and
puts them in the command, so every replica applies the same decision).

Commands are msgpack maps with an ``op``; results are ``(error_code, value)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from kraft import errors

GID_TOPIC_SHIFT = 32  # gid = topic_id << 32 | partition; gid 0 is the metadata group itself
METADATA_GID = 0


def partition_gid(topic_id: int, partition: int) -> int:
    return (topic_id << GID_TOPIC_SHIFT) | partition


@dataclass(frozen=True)
class PartitionMeta:
    topic: str
    topic_id: int
    partition: int
    replicas: tuple[int, ...]
    leader: int | None
    leader_term: int

    @property
    def gid(self) -> int:
        return partition_gid(self.topic_id, self.partition)


@dataclass(frozen=True)
class TopicMeta:
    name: str
    topic_id: int
    partitions: tuple[PartitionMeta, ...]
    configs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetadataView:
    version: int = 0
    topics: dict[str, TopicMeta] = field(default_factory=dict)

    def partitions_on(self, node_id: int) -> dict[int, PartitionMeta]:
        return {p.gid: p for t in self.topics.values() for p in t.partitions if node_id in p.replicas}


def encode_command(op: str, **args: Any) -> bytes:
    return msgpack.packb({"op": op, **args}, use_bin_type=True)


class StateStore(Protocol):
    def load_state(self) -> dict | None: ...

    def save_state(self, state: dict) -> None: ...


class MetadataMachine:
    """Applies metadata commands. With a ``store``, the state is saved with each apply (in the same
    transaction as the Raft index it reflects), so a restart resumes instead of replaying the log."""

    def __init__(self, store: StateStore | None = None) -> None:
        self._store = store
        state = (store.load_state() if store is not None else None) or {}
        self._topics: dict[str, dict[str, Any]] = state.get("topics", {})
        self._next_topic_id: int = state.get("next_topic_id", 1)
        self._last_applied: int = state.get("last_applied", 0)
        self.view = MetadataView()
        self._publish()

    @property
    def last_applied(self) -> int:
        return self._last_applied

    def apply(self, raft_index: int, payload: bytes) -> tuple[int, Any] | None:
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
                self._publish()
            except errors.KraftError as e:
                result = (e.code, e.message)
        if self._store is not None:
            self._store.save_state({"topics": self._topics, "next_topic_id": self._next_topic_id,
                                    "last_applied": raft_index})
        return result

    def _op_create_topic(self, cmd: dict[str, Any]) -> dict[str, Any]:
        name = cmd["name"]
        if name in self._topics:
            raise errors.TopicAlreadyExists(f"topic {name!r} already exists")
        topic_id = self._next_topic_id
        self._next_topic_id += 1
        self._topics[name] = {
            "id": topic_id,
            "configs": dict(cmd.get("configs") or {}),
            "partitions": [{"replicas": list(r), "leader": None, "term": -1} for r in cmd["assignment"]],
        }
        return {"topic_id": topic_id, "partitions": len(cmd["assignment"])}

    def _op_delete_topic(self, cmd: dict[str, Any]) -> None:
        if self._topics.pop(cmd["name"], None) is None:
            raise errors.UnknownTopicOrPartition(f"topic {cmd['name']!r} does not exist")

    def _op_partition_leader(self, cmd: dict[str, Any]) -> None:
        for topic in self._topics.values():
            if topic["id"] == cmd["topic_id"]:
                parts = topic["partitions"]
                if 0 <= cmd["partition"] < len(parts):
                    p = parts[cmd["partition"]]
                    if cmd["term"] >= p["term"]:
                        p["leader"], p["term"] = cmd["leader"], cmd["term"]
                return
        # the topic was deleted meanwhile: nothing to record

    def _publish(self) -> None:
        topics = {}
        for name, t in self._topics.items():
            parts = tuple(
                PartitionMeta(name, t["id"], i, tuple(p["replicas"]), p["leader"], p["term"])
                for i, p in enumerate(t["partitions"])
            )
            topics[name] = TopicMeta(name, t["id"], parts, dict(t["configs"]))
        self.view = MetadataView(self.view.version + 1, topics)
