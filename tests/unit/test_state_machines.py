"""The partition and metadata state machines: pure apply functions over an injected state store."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft import errors
from kraft.log.entry import OP_NATIVE
from kraft.log.memory_store import MemoryStore as LogMemoryStore
from kraft.log.rows import MetadataRows
from kraft.protocol.batch import encode_batch
from kraft.state import metadata
from kraft.state.metadata import METADATA_GID, MetadataMachine, derived_topic_uuid, encode_command, partition_gid
from kraft.state.partition import PartitionMachine


class MemoryStore:
    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.index: list[tuple[int, int, int, int]] = []
        self.producers: dict[int, list] = {}
        self.group_rows: dict[str, dict] = {}
        self.offset_rows: dict[tuple[str, str, int], list] = {}
        self.topic_rows: dict[int, dict] = {}
        self.partition_rows: dict[tuple[int, int], dict] = {}
        self.node_rows: dict[int, dict] = {}
        self.acl_rows: dict[bytes, list[Any]] = {}
        self.applied: int | None = None
        self.writes: list[str] = []
        self.epochs: list[list[int]] = []
        self.record_rows: dict[tuple[str, str], Any] = {}

    def load_state(self) -> dict | None:
        return self.state

    def save_state(self, state: dict) -> None:
        self.state = dict(state)
        self.writes.append("catalogue")

    def load_topics(self) -> dict[str, dict]:
        out = {}
        for topic_id, row in sorted(self.topic_rows.items()):
            parts = [dict(v) for (t, _), v in sorted(self.partition_rows.items()) if t == topic_id]
            out[row["name"]] = {**{k: v for k, v in row.items() if k != "name"}, "partitions": parts}
        return out

    def save_topic(self, topic_id: int, row: dict | None) -> None:
        self.writes.append(f"topic {topic_id}")
        if row is None:
            self.topic_rows.pop(topic_id, None)
            self.partition_rows = {k: v for k, v in self.partition_rows.items() if k[0] != topic_id}
        else:
            self.topic_rows[topic_id] = {k: v for k, v in row.items() if k != "partitions"}

    def save_partition(self, topic_id: int, partition: int, row: dict) -> None:
        self.writes.append(f"partition {topic_id}/{partition}")
        self.partition_rows[(topic_id, partition)] = dict(row)

    def load_nodes(self) -> dict[int, dict]:
        return {k: dict(v) for k, v in self.node_rows.items()}

    def save_node(self, node_id: int, row: dict) -> None:
        self.writes.append(f"node {node_id}")
        self.node_rows[node_id] = dict(row)

    def replace_catalogue(self, topics: dict[str, dict], nodes: dict[int, dict]) -> None:
        self.topic_rows, self.partition_rows, self.node_rows = {}, {}, {}
        for name, topic in topics.items():
            self.save_topic(topic["id"], {**topic, "name": name})
            for i, p in enumerate(topic["partitions"]):
                self.save_partition(topic["id"], i, p)
        for node_id, node in nodes.items():
            self.save_node(node_id, node)

    def load_groups(self) -> dict[str, dict]:
        out = {k: {**v, "offsets": list(v.get("offsets", ()))} for k, v in self.group_rows.items()}
        for (g, _t, _p), row in sorted(self.offset_rows.items()):
            if g in out:
                out[g]["offsets"].append(list(row))
        return out

    def save_group(self, name: str, generation: int | None) -> None:
        self.writes.append(name)
        if generation is None:
            self.group_rows.pop(name, None)
            self.offset_rows = {k: v for k, v in self.offset_rows.items() if k[0] != name}
        else:
            self.group_rows[name] = {"generation": generation}

    def save_group_offset(self, name: str, topic: str, partition: int, row: list | None) -> None:
        self.writes.append(f"{name} {topic}/{partition}")
        if row is None:
            self.offset_rows.pop((name, topic, partition), None)
        else:
            self.offset_rows[(name, topic, partition)] = list(row)

    def load_records(self, kind: str) -> dict[str, Any]:
        return {k: v for (c, k), v in self.record_rows.items() if c == kind}

    def save_record(self, kind: str, key: str, row: Any | None) -> None:
        self.writes.append(f"record {kind} {key}")
        if row is None:
            self.record_rows.pop((kind, key), None)
        else:
            self.record_rows[(kind, key)] = row

    def replace_records(self, kind: str, rows: dict[str, Any]) -> None:
        self.record_rows = {k: v for k, v in self.record_rows.items() if k[0] != kind}
        self.record_rows.update({(kind, k): v for k, v in rows.items()})

    def load_acls(self) -> list[list[Any]]:
        return [list(r) for _, r in sorted(self.acl_rows.items())]

    def save_acl(self, key: bytes, row: list[Any] | None) -> None:
        self.writes.append(f"acl {key.hex()[:8]}")
        if row is None:
            self.acl_rows.pop(key, None)
        else:
            self.acl_rows[key] = list(row)

    def replace_acls(self, rows: list[list[Any]]) -> None:
        from kraft.state.acls import AclBinding

        self.acl_rows = {AclBinding.from_row(r).key(): list(r) for r in rows}

    def load_applied(self) -> int | None:
        return self.applied

    def save_applied(self, raft_index: int) -> None:
        self.applied = raft_index

    def index_batch(self, raft_index: int, base_offset: int, count: int, max_timestamp: int, position: int) -> None:
        self.index.append((raft_index, base_offset, count, max_timestamp))

    def load_producers(self) -> dict[int, list]:
        return {k: list(v) for k, v in self.producers.items()}

    def load_compaction_history(self) -> list[list[int]]:
        return []

    def load_leader_epochs(self) -> list[list[int]]:
        return [list(e) for e in self.epochs]

    def save_leader_epochs(self, epochs: list[list[int]]) -> None:
        self.epochs = [list(e) for e in epochs]

    def save_producer(self, producer_id: int, state: list | None) -> None:
        if state is None:
            self.producers.pop(producer_id, None)
        else:
            self.producers[producer_id] = list(state)


def produce(n: int, ts: int = 1000, producer_id: int = -1, sequence: int = -1) -> bytes:
    return OP_NATIVE + encode_batch([(ts + i, None, b"v", []) for i in range(n)], producer_id, sequence)


@given(st.lists(st.one_of(st.none(), st.integers(1, 50)), max_size=30))
def test_offsets_are_dense_and_results_are_base_offsets(ops: list[int | None]) -> None:
    store = MemoryStore()
    machine = PartitionMachine(store)
    expected_next = 0
    for raft_index, count in enumerate(ops, start=2):
        result = machine.apply(raft_index, b"" if count is None else produce(count))
        if count is None:
            assert result is None
        else:
            assert result == (0, expected_next)
            expected_next += count
        assert machine.last_applied == raft_index
    assert machine.next_offset == expected_next
    bases = [b for _, b, _, _ in store.index]
    counts = [c for _, _, c, _ in store.index]
    assert bases == [sum(counts[:i]) for i in range(len(counts))]


def test_partition_state_survives_restart_and_replays_are_skipped() -> None:
    store = MemoryStore()
    m1 = PartitionMachine(store)
    assert m1.apply(2, produce(3, ts=5000)) == (0, 0)
    assert m1.apply(3, produce(2)) == (0, 3)
    assert store.index[0] == (2, 0, 3, 5002)  # max timestamp of the batch
    m2 = PartitionMachine(store)  # a restart: state comes back from the store
    assert (m2.next_offset, m2.last_applied) == (5, 3)
    assert m2.apply(3, produce(2)) is None, "an entry applied before the restart must not apply again"
    assert m2.apply(4, produce(1)) == (0, 5)
    assert len(store.index) == 3


def test_idempotent_producer_retries_are_not_appended_twice_and_gaps_are_refused() -> None:
    store = MemoryStore()
    m = PartitionMachine(store)
    assert m.apply(2, produce(3, producer_id=7, sequence=0)) == (0, 0)
    assert m.apply(3, produce(2, producer_id=7, sequence=3)) == (0, 3)
    assert m.apply(4, produce(2, producer_id=7, sequence=3)) == (0, 3), "a retry gets its first offset"
    assert m.apply(5, produce(3, producer_id=7, sequence=0)) == (0, 0)
    assert m.next_offset == 5 and len(store.index) == 2
    assert m.apply(6, produce(1, producer_id=7, sequence=9))[0] == errors.OutOfOrderSequence.code
    assert m.apply(7, produce(1, producer_id=8, sequence=4))[0] == errors.UnknownProducerId.code
    assert m.apply(8, produce(1, producer_id=-1)) == (0, 5), "non-idempotent batches are not checked"
    again = PartitionMachine(store)  # producer states are part of the persisted (replicated) state
    assert again.apply(9, produce(2, producer_id=7, sequence=3)) == (0, 3)
    assert again.apply(10, produce(1, producer_id=7, sequence=5)) == (0, 6)


def test_producer_ids_are_unique() -> None:
    m = MetadataMachine()
    ids = [m.apply(i, encode_command("alloc_producer_id"))[1] for i in range(2, 12)]
    assert len(set(ids)) == 10


def create(name: str, parts: int = 2) -> bytes:
    return encode_command("create_topic", name=name, assignment=[[1, 2, 3]] * parts, configs={})


def test_metadata_create_delete_and_errors() -> None:
    m = MetadataMachine()
    assert m.apply(2, create("a")) == (0, {"topic_id": 1, "partitions": 2, "uuid": derived_topic_uuid(1, "a").hex})
    assert m.apply(3, create("a"))[0] == errors.TopicAlreadyExists.code
    assert m.apply(4, create("b", 3)) == (0, {"topic_id": 2, "partitions": 3, "uuid": derived_topic_uuid(2, "b").hex})
    view = m.view
    assert sorted(view.topics) == ["a", "b"]
    assert [p.gid for p in view.topics["b"].partitions] == [partition_gid(2, i) for i in range(3)]
    assert m.apply(5, encode_command("delete_topic", name="zzz"))[0] == errors.UnknownTopicOrPartition.code
    assert m.apply(6, encode_command("delete_topic", name="a")) == (0, None)
    assert list(m.view.topics) == ["b"]
    assert m.apply(7, encode_command("bogus"))[0] == errors.InvalidRequest.code
    assert m.view.version > view.version


def test_metadata_leader_records_only_move_forward_in_term() -> None:
    m = MetadataMachine()
    m.apply(2, create("a", 1))
    m.apply(3, encode_command("partition_leader", topic_id=1, partition=0, leader=2, term=5))
    m.apply(4, encode_command("partition_leader", topic_id=1, partition=0, leader=3, term=4))  # stale
    p = m.view.topics["a"].partitions[0]
    assert (p.leader, p.leader_term) == (2, 5)
    m.apply(5, encode_command("partition_leader", topic_id=9, partition=0, leader=3, term=9))  # deleted topic
    assert m.view.topics["a"].partitions[0].leader == 2


def test_metadata_state_survives_restart_without_replay() -> None:
    store = MemoryStore()
    m1 = MetadataMachine(store)
    m1.apply(2, create("a"))
    m1.apply(3, create("b"))
    m2 = MetadataMachine(store)
    assert m2.last_applied == 3
    assert sorted(m2.view.topics) == ["a", "b"]
    assert m2.apply(3, create("c")) is None, "replayed entries are skipped"
    assert m2.apply(4, create("c")) == (0, {"topic_id": 3, "partitions": 2, "uuid": derived_topic_uuid(3, "c").hex})


def test_node_registry_is_replicated_and_updated_on_reannounce() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, encode_command("register_node", id=1, host="a", client_port=1, raft_port=2, rack=None))
    m.apply(3, encode_command("register_node", id=1, host="b", client_port=3, raft_port=4, rack="r1"))
    node = MetadataMachine(store).view.nodes[1]
    assert (node.host, node.client_port, node.raft_port, node.rack) == ("b", 3, 4, "r1")


def test_a_decommissioned_node_stays_decommissioned_when_it_announces_itself_again() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, encode_command("register_node", id=1, host="a", client_port=1, raft_port=2, rack=None))
    refused = m.apply(3, encode_command("decommission_node", node=2))  # not registered
    assert refused is not None and refused[0] == errors.InvalidRequest.code
    assert not m.view.nodes[1].decommissioned
    m.apply(4, encode_command("decommission_node", node=1))
    m.apply(5, encode_command("register_node", id=1, host="b", client_port=1, raft_port=2, rack=None))
    node = MetadataMachine(store).view.nodes[1]
    assert node.decommissioned and node.host == "b"


def test_idle_producers_expire_by_batch_timestamps() -> None:
    from kraft.state.partition import EXPIRY_SWEEP_EVERY, PRODUCER_EXPIRATION_MS

    store = MemoryStore()
    m = PartitionMachine(store)
    m.apply(2, produce(1, ts=1_000, producer_id=1, sequence=0))
    m.apply(3, produce(1, ts=1_000 + PRODUCER_EXPIRATION_MS + 10, producer_id=2, sequence=0))
    m.apply(EXPIRY_SWEEP_EVERY, produce(1, ts=1_000 + PRODUCER_EXPIRATION_MS + 20, producer_id=2, sequence=1))
    assert set(store.producers) == {2}, "producer 1 has been silent longer than the expiration"
    assert m.apply(EXPIRY_SWEEP_EVERY + 1, produce(1, producer_id=1, sequence=1))[0] == errors.UnknownProducerId.code


def kafka_produce(n: int, producer_id: int, epoch: int, sequence: int) -> bytes:
    from kraft.log.entry import OP_KAFKA
    from kraft.protocol.kafka.records import encode_kafka_batch

    records = [(1000 + i, None, b"v%d" % i, []) for i in range(n)]
    return OP_KAFKA + encode_kafka_batch(records, producer_id=producer_id, producer_epoch=epoch,
                                         base_sequence=sequence)


def test_kafka_producer_epochs_restart_sequences_and_fence_older_epochs() -> None:
    m = PartitionMachine(MemoryStore())
    assert m.apply(1, kafka_produce(2, producer_id=7, epoch=0, sequence=0)) == (0, 0)
    assert m.apply(2, kafka_produce(2, producer_id=7, epoch=0, sequence=2)) == (0, 2)
    # A bumped epoch restarts at 0: a new batch, not a duplicate of epoch 0's (0, 2) batch.
    assert m.apply(3, kafka_produce(2, producer_id=7, epoch=1, sequence=0)) == (0, 4)
    assert m.apply(4, kafka_produce(2, producer_id=7, epoch=1, sequence=0)) == (0, 4), "a retry is a duplicate"
    assert m.apply(5, kafka_produce(1, producer_id=7, epoch=0, sequence=4)) == (errors.InvalidProducerEpoch.code, -1)
    assert m.apply(6, kafka_produce(1, producer_id=7, epoch=2, sequence=5)) == (errors.OutOfOrderSequence.code, -1)
    assert m.next_offset == 6


def test_sequences_wrap_at_2_to_the_31() -> None:
    m = PartitionMachine(MemoryStore())
    top = (1 << 31) - 2
    m._producers[9] = [top, [], 1000, 0]
    assert m.apply(1, kafka_produce(3, producer_id=9, epoch=0, sequence=top)) == (0, 0)
    assert m.apply(2, kafka_produce(1, producer_id=9, epoch=0, sequence=1)) == (0, 3)


def test_a_commit_rewrites_only_the_offsets_it_moves_and_state_survives_restart() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, create("t", 2))
    for i, g in enumerate(("g1", "g2", "g3"), start=3):
        m.apply(i, encode_command("commit_offsets", commits=[{"group": g, "generation": -1,
                                                               "offsets": [["t", 0, i]]}]))
    store.writes.clear()
    m.apply(9, encode_command("commit_offsets", commits=[{"group": "g2", "generation": -1,
                                                          "offsets": [["t", 1, 42]]}]))
    assert store.writes == ["g2 t/1"], "neither the catalogue, nor other groups, nor g2's other commits"
    m.apply(10, encode_command("group_generation", group="g3", generation=4))
    again = MetadataMachine(store)
    assert again.last_applied == 10
    assert {g: (v.generation, v.offsets) for g, v in again.groups.items()} == {
        "g1": (0, {("t", 0): 3}), "g2": (0, {("t", 0): 4, ("t", 1): 42}), "g3": (4, {("t", 0): 5})}
    store.writes.clear()
    again.apply(11, encode_command("delete_topic", name="t"))
    assert sorted(store.writes) == ["g1 t/0", "g2 t/0", "g2 t/1", "g3 t/0", "topic 1"], \
        "the topic's row (and its partitions') go, and every commit on it"
    assert not store.partition_rows
    assert all(not v.offsets for v in MetadataMachine(store).groups.values())


def test_state_saved_with_groups_inside_the_catalogue_row_is_read_and_rewritten() -> None:
    store = MemoryStore()
    store.state = {"topics": {}, "next_topic_id": 1, "nodes": {}, "next_producer_id": 5, "last_applied": 7,
                   "groups": {"old": {"generation": 2, "offsets": [["t", 0, 9]]}}}
    m = MetadataMachine(store)
    assert m.last_applied == 7 and m.groups["old"].offsets == {("t", 0): 9}
    m.apply(8, b"")
    assert "groups" not in store.state and store.group_rows["old"] == {"generation": 2}
    assert store.offset_rows == {("old", "t", 0): ["t", 0, 9]}
    again = MetadataMachine(store)
    assert again.last_applied == 8 and again.groups["old"].offsets == {("t", 0): 9}
    assert again.apply(9, encode_command("alloc_producer_id")) == (0, 5)


def test_a_group_row_holding_its_commits_is_read_then_rewritten_in_rows() -> None:
    """The layout before commits had rows of their own: the group's row held every commit. It loads as
    it is, and the first entry applied after the start writes the group again, one row per commit."""
    store = MemoryStore()
    store.state = {"next_topic_id": 2, "next_producer_id": 1}
    store.topic_rows[1] = {"id": 1, "configs": {}, "name": "t"}
    store.partition_rows[(1, 0)] = {"replicas": [1], "leader": None, "term": -1}
    store.group_rows["g"] = {"generation": 3, "offsets": [["t", 0, 9, "meta", 2]], "legacy": True}
    store.applied = 7
    m = MetadataMachine(store)
    assert m.groups["g"].row("t", 0) == ["t", 0, 9, "meta", 2]
    m.apply(8, b"")
    assert store.group_rows["g"] == {"generation": 3} and store.offset_rows == {("g", "t", 0): ["t", 0, 9, "meta", 2]}
    m.apply(9, encode_command("commit_offsets", commits=[{"group": "g", "generation": 3, "offsets": [["t", 0, 11]]}]))
    again = MetadataMachine(store)
    assert again.groups["g"].generation == 3 and again.groups["g"].row("t", 0) == ["t", 0, 11]


def test_metadata_snapshot_carries_the_whole_state() -> None:
    """A follower far behind takes the leader's whole metadata state (topics, nodes, producer ids,
    groups' offsets) and then applies the entries after it as the leader did."""
    leader_store, follower_store = LogMemoryStore(), LogMemoryStore()
    leader = MetadataMachine(MetadataRows(leader_store, METADATA_GID))
    leader.apply(2, create("t", 2))
    leader.apply(3, encode_command("alloc_producer_id"))
    leader.apply(4, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1,
                                                                "offsets": [["t", 0, 42]]}]))
    follower = MetadataMachine(MetadataRows(follower_store, METADATA_GID))
    follower.install(leader.state(), leader.producers())
    assert follower.state() == leader.state()
    assert follower.view.topics["t"].partitions[1].partition == 1
    assert follower.groups["g"].offsets == {("t", 0): 42}
    follower_store.commit()
    restarted = MetadataMachine(MetadataRows(follower_store, METADATA_GID))  # what it installed is in its store
    assert restarted.state() == leader.state() and restarted.last_applied == 4
    for m in (leader, restarted):
        assert m.apply(5, encode_command("alloc_producer_id")) == (0, 2)


def test_metadata_log_floor_keeps_at_least_the_last_entries() -> None:
    m = MetadataMachine()
    keep = metadata.METADATA_LOG_KEEP
    for applied, floor in [(0, 0), (keep - 1, 0), (keep, 0), (2 * keep - 1, 0), (2 * keep, keep),
                           (5 * keep + 3, 4 * keep)]:
        m._last_applied = applied
        assert m.log_floor == floor and applied - m.log_floor >= min(applied, keep)


@pytest.mark.parametrize(("proposals", "answers"), [
    (["c-1"], ["c-1"]),
    (["c-1", "c-2"], ["c-1", "c-1"]),  # a second leader proposed before it applied the first: no change
    (["c-1", "c-1"], ["c-1", "c-1"]),  # the same proposal retried
])
def test_the_first_cluster_id_wins(proposals: list[str], answers: list[str]) -> None:
    m = MetadataMachine()
    assert m.view.cluster_id is None
    got = [m.apply(i, encode_command("set_cluster_id", cluster_id=c)) for i, c in enumerate(proposals, start=2)]
    assert got == [(0, a) for a in answers]
    assert m.view.cluster_id == answers[0]


def test_the_cluster_id_survives_restart_and_travels_in_snapshots() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, create("a"))
    before = m.view.version
    m.apply(3, encode_command("set_cluster_id", cluster_id="c-1"))
    assert m.view.version > before, "the view is published again with the id"
    assert MetadataMachine(store).view.cluster_id == "c-1"
    follower = MetadataMachine()
    follower.install(m.state(), m.producers())
    assert follower.view.cluster_id == "c-1" and follower.state() == m.state()
    assert "cluster_id" not in MetadataMachine().state()["catalogue"], "a cluster without an id stores none"


def test_commit_metadata_strings_are_kept_replaced_and_cleared() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(1, encode_command("create_topic", name="t", assignment=[[1]], configs={}))
    m.apply(2, encode_command("commit_offsets", commits=[
        {"group": "g", "generation": -1, "offsets": [["t", 0, 5, "checkpoint-a"]]}]))
    assert (m.groups["g"].offsets, m.groups["g"].metadata) == ({("t", 0): 5}, {("t", 0): "checkpoint-a"})
    restarted = MetadataMachine(store)  # the group row keeps it
    assert restarted.groups["g"].metadata == {("t", 0): "checkpoint-a"}
    follower = MetadataMachine(None)
    follower.install(m.state(), {})  # a snapshot carries it
    assert follower.groups["g"].metadata == {("t", 0): "checkpoint-a"}
    m.apply(3, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1, "offsets": [["t", 0, 6]]}]))
    assert (m.groups["g"].offsets, m.groups["g"].metadata) == ({("t", 0): 6}, {})  # a commit without one clears it


def test_committed_leader_epochs_are_kept_beside_old_rows_and_cleared_by_commits_without_one() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(1, encode_command("create_topic", name="t", assignment=[[1], [1]], configs={}))
    # entries written before epochs were kept ([t, p, o] and [t, p, o, metadata]) beside new ones
    m.apply(2, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1, "offsets": [
        ["t", 0, 5, "", 3], ["t", 1, 7, "meta"]]}]))
    g = m.groups["g"]
    assert (g.offsets, g.metadata, g.leader_epochs) == ({("t", 0): 5, ("t", 1): 7}, {("t", 1): "meta"}, {("t", 0): 3})
    assert sorted(g.rows()) == [["t", 0, 5, "", 3], ["t", 1, 7, "meta"]]
    follower = MetadataMachine(None)
    follower.install(m.state(), {})
    for other in (MetadataMachine(store), follower):  # its row, and a snapshot, carry them
        assert other.groups["g"].leader_epochs == {("t", 0): 3}
    m.apply(3, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1, "offsets": [["t", 0, 6]]}]))
    assert m.groups["g"].leader_epochs == {}, "a commit naming no epoch (OffsetCommit v5 or older) clears it"
    m.apply(4, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1, "offsets": [
        ["t", 0, 8, "", 9]]}]))
    m.apply(5, encode_command("delete_topic", name="t"))
    assert m.groups["g"].leader_epochs == {} and m.groups["g"].offsets == {}


def test_delete_group_drops_commits_and_generation_unless_the_group_moved_on() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(1, encode_command("create_topic", name="t", assignment=[[1]], configs={}))
    m.apply(2, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1, "offsets": [["t", 0, 5]]}]))
    m.apply(3, encode_command("group_generation", group="g", generation=2))
    assert m.apply(4, encode_command("delete_group", group="g", generation=1)) == (
        errors.NonEmptyGroup.code, "group 'g' moved to generation 2")
    assert m.apply(5, encode_command("delete_group", group="g", generation=2)) == (0, None)
    assert "g" not in m.groups and "g" not in MetadataMachine(store).groups, "its row is gone too"
    assert not store.offset_rows, "and the rows of its commits"
    assert m.apply(6, encode_command("delete_group", group="g", generation=2))[0] == errors.GroupIdNotFound.code
