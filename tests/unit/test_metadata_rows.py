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
        long_id = "g" * 2000
        rows.save_group("a", {"generation": 1, "offsets": [["t", 0, 5]]})
        rows.save_group(long_id, {"generation": 2, "offsets": []})
        rows.save_group("b", {"generation": 3, "offsets": []})
        rows.save_group("b", None)
        rows.save_applied(41)
        StateRow(store, 1).save_state({"next_offset": 9})  # another group's row beside them
        store.commit()
        again = MetadataRows(store, 0)
        assert again.load_groups() == {"a": {"generation": 1, "offsets": [["t", 0, 5]], "name": "a"},
                                       long_id: {"generation": 2, "offsets": [], "name": long_id}}
        assert again.load_applied() == 41 and again.load_state() is None
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
