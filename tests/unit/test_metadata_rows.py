"""The metadata group's rows in LMDB: catalogue, one row per consumer group, the applied index."""

from __future__ import annotations

from pathlib import Path

from kraft.log.lmdb_store import LmdbStore
from kraft.log.rows import MetadataRows, StateRow
from kraft.state.metadata import MetadataMachine, encode_command


def test_group_rows_round_trip_including_ids_too_long_for_an_lmdb_key(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path, fsync=False, map_size_mb=64)
    try:
        rows = MetadataRows(store, 0)
        long_id, topic = "g" * 2000, "t" * 249  # the longest topic name beside the longest group id
        rows.save_group("a", 1)
        rows.save_group_offset("a", "t", 0, ["t", 0, 5])
        rows.save_group_offset("a", "t", 1, ["t", 1, 6, "m", 3])
        rows.save_group_offset("a", "t", 1, None)
        rows.save_group("ab", 4)  # "a"'s prefix: its commits are not "a"'s
        rows.save_group_offset("ab", "t", 0, ["t", 0, 1])
        rows.save_group(long_id, 2)
        rows.save_group_offset(long_id, topic, 7, [topic, 7, 8])
        rows.save_group("b", 3)
        rows.save_group_offset("b", "t", 0, ["t", 0, 2])
        rows.save_group("b", None)  # the group and its commits
        rows.save_applied(41)
        StateRow(store, 1).save_state({"next_offset": 9})  # another group's row beside them
        store.commit()
        again = MetadataRows(store, 0)
        assert again.load_groups() == {"a": {"generation": 1, "offsets": [["t", 0, 5]], "name": "a"},
                                       "ab": {"generation": 4, "offsets": [["t", 0, 1]], "name": "ab"},
                                       long_id: {"generation": 2, "offsets": [[topic, 7, 8]], "name": long_id}}
        assert again.load_applied() == 41 and again.load_state() is None
        again.replace_groups({"c": {"generation": 5, "offsets": [["t", 3, 4]]}})
        store.commit()
        assert MetadataRows(store, 0).load_groups() == {"c": {"generation": 5, "offsets": [["t", 3, 4]], "name": "c"}}
    finally:
        store.close()


def test_metadata_machine_restarts_from_lmdb_rows(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path, fsync=False, map_size_mb=64)
    try:
        m = MetadataMachine(MetadataRows(store, 0))
        m.apply(1, encode_command("create_topic", name="t", assignment=[[1]], configs={}))
        m.apply(2, encode_command("commit_offsets", commits=[{"group": "g", "generation": -1,
                                                              "offsets": [["t", 0, 3]]}]))
        store.commit()
        again = MetadataMachine(MetadataRows(store, 0))
        assert again.last_applied == 2 and again.groups["g"].offsets == {("t", 0): 3}
        assert list(again.view.topics) == ["t"]
    finally:
        store.close()


def test_a_move_starts_is_cancelled_and_finishes_in_the_catalogue() -> None:
    from kraft import errors
    from kraft.log.memory_store import MemoryStore
    from kraft.log.rows import MetadataRows
    from kraft.state.metadata import METADATA_GID, MetadataMachine, encode_command

    machine = MetadataMachine(MetadataRows(MemoryStore(), METADATA_GID))
    for i, n in enumerate((1, 2, 3, 4), start=1):
        machine.apply(i, encode_command("register_node", id=n, host="h", client_port=1, raft_port=2, rack=None))
    machine.apply(5, encode_command("create_topic", name="t", assignment=[[1, 2, 3]], configs={}))
    assert machine.apply(6, encode_command("reassign_partitions", topic="t", partitions=[[0, [1, 2, 9]]]))[0] \
        == errors.InvalidReplicaAssignment.code
    assert machine.apply(7, encode_command("reassign_partitions", topic="t", partitions=[[0, [2, 3, 4]]]))[0] == 0
    part = machine.view.topics["t"].partitions[0]
    assert (part.replicas, part.target, part.hosts) == ((1, 2, 3), (2, 3, 4), (1, 2, 3, 4))
    assert 0 in {p.partition for p in machine.view.partitions_on(4).values()}, "the new node hosts it already"
    machine.apply(8, encode_command("reassign_partitions", topic="t", partitions=[[0, None]]))
    assert machine.view.topics["t"].partitions[0].target == (1, 2, 3), "cancelled: back to where it began"
    machine.apply(9, encode_command("reassignment_done", topic_id=part.topic_id, partition=0, replicas=[2, 3, 4]))
    assert machine.view.topics["t"].partitions[0].target == (1, 2, 3), "a report of the old target is ignored"
    machine.apply(10, encode_command("reassignment_done", topic_id=part.topic_id, partition=0, replicas=[1, 2, 3]))
    part = machine.view.topics["t"].partitions[0]
    assert (part.replicas, part.target) == ((1, 2, 3), None)
    assert machine.apply(11, encode_command("reassign_partitions", topic="t", partitions={"0": [1]}))[0] \
        == errors.InvalidRequest.code, "malformed: answered, the group goes on"
