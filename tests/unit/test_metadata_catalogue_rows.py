"""The metadata catalogue in rows (issue 16, target 4): an entry writes the rows it changed and
nothing else, a disk with the whole catalogue in one row (written before rows per topic) is read and
migrated, snapshots replace every row, and the view built change by change is the view a restart
builds from the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.log.lmdb_store import LmdbStore
from kraft.log.memory_store import MemoryStore
from kraft.log.rows import MetadataRows
from kraft.log.store import DB_PSTATE, gid_key, prefix_stop
from kraft.node.partition_limits import replicas_per_node
from kraft.state.metadata import (
    METADATA_GID,
    MetadataMachine,
    MetadataView,
    derived_topic_uuid,
    encode_command,
    hosted_changes,
    partition_gid,
)


class RecordingStore(MemoryStore):
    """A memory store that records the keys written since ``clear``."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def put(self, table: bytes, key: bytes, value: bytes) -> None:
        self.written.append(key)
        super().put(table, key, value)

    def clear(self) -> None:
        self.written = []


def rows(store: MemoryStore | LmdbStore) -> dict[bytes, Any]:
    """Every row of the metadata group, decoded (the applied index as its 8 bytes)."""
    prefix = gid_key(METADATA_GID)
    out = {}
    for key, raw in store.scan(DB_PSTATE, prefix, prefix_stop(prefix)):
        suffix = key[len(prefix):]
        out[suffix] = raw if suffix == b"a" else msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return out


def register(n: int) -> bytes:
    return encode_command("register_node", id=n, host="h", client_port=n, raft_port=n, rack=None)


def catalogue(partitions: int, per_topic: int) -> tuple[MetadataMachine, RecordingStore, int]:
    store = RecordingStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    index = 0
    for n in (1, 2, 3):
        index += 1
        m.apply(index, register(n))
    for t in range(partitions // per_topic):
        index += 1
        m.apply(index, encode_command("create_topic", name=f"t{t}", configs={},
                                      assignment=[[1 + (p + k) % 3 for k in range(3)] for p in range(per_topic)]))
    store.commit()
    return m, store, index


def test_a_leader_report_writes_one_partition_row_whatever_the_catalogue() -> None:
    m, store, index = catalogue(2_000, 100)
    topic = m.view.topics["t7"]
    before = m.view
    store.clear()
    m.apply(index + 1, encode_command("partition_leader", topic_id=topic.topic_id, partition=42, leader=2, term=3,
                                      isr=[2, 3]))
    prefix = gid_key(METADATA_GID)
    assert store.written == [prefix + b"p" + topic.topic_id.to_bytes(8, "big") + (42).to_bytes(4, "big"),
                             prefix + b"a"], "the partition's row and the applied index, nothing else"
    after = m.view
    assert after.topics["t7"].partitions[42].leader == 2
    assert all(after.topics[n] is t for n, t in before.topics.items() if n != "t7"), "other topics are shared"
    assert all(a is b for i, (a, b) in enumerate(zip(before.topics["t7"].partitions, after.topics["t7"].partitions,
                                                     strict=True)) if i != 42), "so are the topic's other partitions"
    store.clear()
    m.apply(index + 2, encode_command("partition_leader", topic_id=topic.topic_id, partition=42, leader=2, term=3,
                                      isr=[2, 3]))
    assert store.written == [prefix + b"a"] and m.view is after, "a repeated report changes nothing"
    store.clear()
    m.apply(index + 3, encode_command("create_topic", name="new", configs={}, assignment=[[1, 2, 3]] * 4))
    assert len(store.written) == 1 + 1 + 4 + 1, "the head (next topic id), the topic, its 4 partitions, the index"
    store.clear()
    m.apply(index + 4, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1,
                                                                  "offsets": [["t1", 0, 5]]}]))
    assert len(store.written) == 3 and m.view is not before, "a new group's row, the commit's row and the index"
    store.clear()
    m.apply(index + 5, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1,
                                                                  "offsets": [["t1", 1, 5]]}]))
    assert len(store.written) == 2, "the commit's row and the index: not the group's other commits"


def test_a_disk_with_the_whole_catalogue_in_one_row_is_read_then_rewritten_in_rows(tmp_path: Path) -> None:
    """The layout the previous version wrote: one row with every topic (partitions inside), node and
    counter, plus the group and applied rows. It loads as it is; the first entry applied after the
    start rewrites it in rows (in the same transaction), and a restart then reads the rows."""
    legacy = {
        "topics": {
            "a": {"id": 1, "configs": {"retention.ms": 1000}, "uuid": derived_topic_uuid(1, "x").hex,
                  "partitions": [{"replicas": [1, 2], "leader": 2, "term": 4, "isr": [2, 1]},
                                 {"replicas": [2, 1], "leader": None, "term": -1, "target": [2, 3]}]},
            "b": {"id": 3, "configs": {}, "partitions": [{"replicas": [3], "leader": 3, "term": 1}]},  # no uuid
        },
        "next_topic_id": 4, "next_producer_id": 9, "cluster_id": "c-1",
        "nodes": {1: {"host": "h1", "client_port": 1, "raft_port": 2, "rack": None, "kafka_port": 9092},
                  3: {"host": "h3", "client_port": 3, "raft_port": 4, "rack": "r", "decommissioned": True}},
    }
    store = LmdbStore(tmp_path, fsync=False, map_size_mb=64)
    try:
        old = MetadataRows(store, METADATA_GID)
        old.save_state(legacy)  # type: ignore[arg-type]  # the old head row: the whole catalogue
        old.store.put(DB_PSTATE, old._group_key("g"),  # the group row of then: its commits inside
                      msgpack.packb({"generation": 2, "offsets": [["a", 1, 7]], "name": "g"}))
        old.save_applied(50)
        store.commit()
        loaded = MetadataMachine(MetadataRows(store, METADATA_GID))
        view = loaded.view
        assert loaded.last_applied == 50 and view.cluster_id == "c-1" and loaded.producer_ids_issued == 8
        assert loaded.state()["catalogue"]["topics"] == legacy["topics"]
        assert view.topics["a"].partitions[1].target == (2, 3) and view.topics["a"].configs == {"retention.ms": 1000}
        assert view.topics["b"].topic_uuid == derived_topic_uuid(3, "b")
        assert view.nodes[3].decommissioned and view.nodes[1].kafka_port == 9092
        assert view.replicas_per_node == {1: 2, 2: 2, 3: 1}
        assert loaded.apply(50, register(1)) is None and "topics" in rows(store)[b""], "a replay writes nothing"
        assert loaded.apply(51, encode_command("alloc_producer_id")) == (0, 9)
        store.commit()
        written = rows(store)
        assert written[b""] == {"next_topic_id": 4, "next_producer_id": 10, "cluster_id": "c-1"}
        assert sum(k.startswith(b"p") for k in written) == 3 and sum(k.startswith(b"t") for k in written) == 2
        assert sum(k.startswith(b"n") for k in written) == 2
        restarted = MetadataMachine(MetadataRows(store, METADATA_GID))
        assert restarted.state() == loaded.state() and restarted.view.topics == view.topics
        assert restarted.groups["g"].offsets == {("a", 1): 7} and restarted.last_applied == 51
        assert restarted.apply(52, encode_command("create_topic", name="c", assignment=[[1]], configs={}))[1][
            "topic_id"] == 4
    finally:
        store.close()


def test_a_snapshot_replaces_every_row() -> None:
    leader = MetadataMachine(MetadataRows(MemoryStore(), METADATA_GID))
    leader.apply(1, register(1))
    leader.apply(2, encode_command("create_topic", name="kept", assignment=[[1], [1]], configs={}))
    follower_store = MemoryStore()
    follower = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    follower.apply(1, register(2))
    follower.apply(2, encode_command("create_topic", name="stale", assignment=[[2]] * 3, configs={}))
    follower_store.commit()
    follower.install(leader.state(), {})
    follower_store.commit()
    restarted = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    assert restarted.state() == leader.state() and sorted(restarted.view.topics) == ["kept"]
    assert set(restarted.view.nodes) == {1} and restarted.view.replicas_per_node == {1: 2}


def test_hosted_changes_follow_creates_moves_and_deletes() -> None:
    m = MetadataMachine()
    m.apply(1, encode_command("create_topic", name="t", assignment=[[1, 2], [2, 3]], configs={}))
    empty = MetadataView()
    first = m.view
    assert hosted_changes(empty, first, 3) == ({partition_gid(1, 1): first.topics["t"].partitions[1]}, set())
    m.apply(2, encode_command("register_node", id=4, host="h", client_port=1, raft_port=1, rack=None))
    assert hosted_changes(first, m.view, 3) == ({}, set()), "no topic changed"
    for n in (1, 2, 3):
        m.apply(2 + n, register(n))
    m.apply(6, encode_command("reassign_partitions", topic="t", partitions=[[1, [1, 2]]]))
    wanted, dropped = hosted_changes(first, m.view, 3)
    assert set(wanted) == {partition_gid(1, 1)}, "still a host while the move runs"
    assert dropped == {partition_gid(1, 0)}, "the changed topic's partitions it does not host (it has none of)"
    moving = m.view
    m.apply(7, encode_command("reassignment_done", topic_id=1, partition=1, replicas=[1, 2]))
    assert hosted_changes(moving, m.view, 3) == ({}, {partition_gid(1, 0), partition_gid(1, 1)})
    moved = m.view
    m.apply(8, encode_command("delete_topic", name="t"))
    m.apply(9, encode_command("create_topic", name="t", assignment=[[1], [2]], configs={}))
    wanted, dropped = hosted_changes(moved, m.view, 1)
    assert set(wanted) == {partition_gid(2, 0)} and dropped == {partition_gid(1, 0), partition_gid(1, 1)}


OPS = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 5), st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3,
                                                                       unique=True), min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("grow"), st.integers(0, 5), st.lists(st.integers(1, 4), min_size=1, max_size=2, unique=True)),
    st.tuples(st.just("leader"), st.integers(1, 8), st.integers(0, 4), st.integers(1, 4), st.integers(0, 5)),
    st.tuples(st.just("move"), st.integers(0, 5), st.integers(0, 4), st.lists(st.integers(1, 4), min_size=1,
                                                                                max_size=3, unique=True)),
    st.tuples(st.just("done"), st.integers(1, 8), st.integers(0, 4)),
    st.tuples(st.just("configs"), st.integers(0, 5), st.integers(0, 10)),
    st.tuples(st.just("node"), st.integers(1, 4)),
)


def command(op: tuple[Any, ...], m: MetadataMachine) -> bytes:
    kind = op[0]
    if kind == "create":
        return encode_command("create_topic", name=f"t{op[1]}", assignment=op[2], configs={})
    if kind == "delete":
        return encode_command("delete_topic", name=f"t{op[1]}")
    if kind == "grow":
        topic = m.view.topics.get(f"t{op[1]}")
        count = len(topic.partitions) if topic is not None else 0
        return encode_command("create_partitions", name=f"t{op[1]}", topic_id=topic.topic_id if topic else 0,
                              count=count, assignment=[op[2]])
    if kind == "leader":
        return encode_command("partition_leader", topic_id=op[1], partition=op[2], leader=op[3], term=op[4],
                              isr=[op[3]])
    if kind == "move":
        return encode_command("reassign_partitions", topic=f"t{op[1]}", partitions=[[op[2], op[3]]])
    if kind == "done":
        part = next((p for t in m.view.topics.values() if t.topic_id == op[1] for p in t.partitions
                     if p.partition == op[2]), None)
        target = list(part.target) if part is not None and part.target is not None else [1]
        return encode_command("reassignment_done", topic_id=op[1], partition=op[2], replicas=target)
    if kind == "configs":
        return encode_command("alter_configs", name=f"t{op[1]}", set={"retention.ms": op[2]})
    return register(op[1])


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, max_size=40))
def test_the_view_built_change_by_change_is_the_view_of_the_rows(ops: list[tuple[Any, ...]]) -> None:
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    seen = MetadataView()
    hosted: dict[int, set[int]] = {n: set() for n in (1, 2, 3, 4)}  # what a replica manager per node holds
    for i, op in enumerate(ops, start=1):
        m.apply(i, command(op, m))
        for node, gids in hosted.items():
            wanted, dropped = hosted_changes(seen, m.view, node)
            gids -= dropped
            gids |= set(wanted)
        seen = m.view
    store.commit()
    restarted = MetadataMachine(MetadataRows(store, METADATA_GID))
    view = m.view
    assert restarted.view.topics == view.topics and restarted.view.nodes == view.nodes
    assert restarted.state() == m.state()
    assert view.replicas_per_node == {n: k for n, k in replicas_per_node(view.topics.values()).items() if k}
    assert view.topic_uuids == {t.topic_uuid: t.name for t in view.topics.values()}
    for node, gids in hosted.items():
        assert gids == set(view.partitions_on(node)), f"node {node} follows the changes to what it hosts"
