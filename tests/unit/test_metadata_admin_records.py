"""The metadata machine's admin commands: OffsetDelete's ``delete_offsets``, dynamic broker configs
(``alter_broker_configs``) and SCRAM credentials (``alter_scram_credentials``): applied alike, one
row each, kept across a restart and in snapshots, and state written before them still loads."""

from __future__ import annotations

from kraft import errors
from kraft.log.memory_store import MemoryStore as LogMemoryStore
from kraft.log.rows import MetadataRows
from kraft.state.metadata import BROKER_CONFIGS, METADATA_GID, SCRAM_CREDENTIALS, MetadataMachine, encode_command
from tests.unit.test_state_machines import MemoryStore


def _commits(m: MetadataMachine, index: int, group: str, offsets: list[list[object]]) -> None:
    m.apply(index, encode_command("commit_offsets", commits=[{"group": group, "generation": -1, "offsets": offsets}]))


def test_delete_offsets_drops_the_named_commits_at_the_generation_checked() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(1, encode_command("create_topic", name="t", assignment=[[1], [1]], configs={}))
    _commits(m, 2, "g", [["t", 0, 5], ["t", 1, 6]])
    m.apply(3, encode_command("group_generation", group="g", generation=2))
    assert m.apply(4, encode_command("delete_offsets", group="g", generation=1, partitions=[["t", 0]]))[0] == \
        errors.RebalanceInProgress.code, "a rebalance since the coordinator's check: nothing goes"
    assert m.groups["g"].offsets == {("t", 0): 5, ("t", 1): 6}
    store.writes.clear()
    assert m.apply(5, encode_command("delete_offsets", group="g", generation=2,
                                     partitions=[["t", 0], ["t", 9]])) == (0, None)
    assert store.writes == ["g t/0"], "only the deleted commit's row (none for a partition without one)"
    assert MetadataMachine(store).groups["g"].offsets == {("t", 1): 6}
    assert m.apply(6, encode_command("delete_offsets", group="nonesuch", generation=0,
                                     partitions=[["t", 0]]))[0] == errors.GroupIdNotFound.code


def test_broker_configs_set_delete_replace_one_row_per_broker() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    store.writes.clear()
    assert m.apply(1, encode_command("alter_broker_configs", broker="1", set={"background.threads": "9",
                                                                              "log.cleanup.policy": "delete,compact"},
                                     delete=[], replace=False)) == (0, {"background.threads": "9",
                                                                       "log.cleanup.policy": "delete,compact"})
    assert store.writes == [f"record {BROKER_CONFIGS} 1"]
    m.apply(2, encode_command("alter_broker_configs", broker="", set={"log.retention.ms": "1000"}, delete=[]))
    before = m.records[BROKER_CONFIGS]
    m.apply(3, encode_command("alter_broker_configs", broker="1", set={}, delete=["background.threads"]))
    assert before["1"] == {"background.threads": "9", "log.cleanup.policy": "delete,compact"}, \
        "a reader's dict is never changed under it"
    assert m.records[BROKER_CONFIGS] == {"1": {"log.cleanup.policy": "delete,compact"},
                                         "": {"log.retention.ms": "1000"}}
    m.apply(4, encode_command("alter_broker_configs", broker="1", set={"num.io.threads": "4"}, replace=True))
    assert m.records[BROKER_CONFIGS]["1"] == {"num.io.threads": "4"}, "AlterConfigs: the others go"
    m.apply(5, encode_command("alter_broker_configs", broker="1", set={}, delete=["num.io.threads"]))
    assert "1" not in m.records[BROKER_CONFIGS] and (BROKER_CONFIGS, "1") not in store.record_rows, \
        "a broker left with no dynamic config has no row"
    assert MetadataMachine(store).records[BROKER_CONFIGS] == {"": {"log.retention.ms": "1000"}}


def test_scram_credentials_per_user_all_or_nothing() -> None:
    m = MetadataMachine(MemoryStore())
    upsert = encode_command("alter_scram_credentials", deletions=[], upsertions=[
        ["alice", "SCRAM-SHA-256", 8192, b"salt", b"salted"], ["bob", "SCRAM-SHA-512", 4096, b"s", b"p"]])
    assert m.apply(1, upsert) == (0, [["alice", 0], ["bob", 0]])
    result = m.apply(2, encode_command("alter_scram_credentials",
                                       deletions=[["alice", "SCRAM-SHA-512"], ["bob", "SCRAM-SHA-512"]],
                                       upsertions=[["alice", "SCRAM-SHA-512", 4096, b"x", b"y"]]))
    assert result == (0, [["alice", errors.ResourceNotFound.code], ["bob", 0]])
    assert m.records[SCRAM_CREDENTIALS] == {"alice": {"SCRAM-SHA-256": [8192, b"salt", b"salted"]}}, \
        "alice's refused deletion kept her upsertion out too; bob has nothing left: no row"


def _loaded(store: LogMemoryStore) -> MetadataMachine:
    return MetadataMachine(MetadataRows(store, METADATA_GID))


def test_records_in_rows_survive_a_restart_and_travel_in_snapshots() -> None:
    store = LogMemoryStore()
    m = _loaded(store)
    long_user = "u" * 1000  # over a key's size: its key is a hash, its name is in the row
    m.apply(1, encode_command("alter_scram_credentials", deletions=[], upsertions=[
        [long_user, "SCRAM-SHA-256", 4096, b"\0salt", b"\0pw"]]))
    m.apply(2, encode_command("alter_broker_configs", broker="2", set={"background.threads": "3"}, delete=[]))
    m.apply(3, encode_command("alter_broker_configs", broker="", set={"log.retention.ms": "5"}, delete=[]))
    again = _loaded(store)
    assert again.records[BROKER_CONFIGS] == {"2": {"background.threads": "3"}, "": {"log.retention.ms": "5"}}, \
        "the cluster-wide resource's empty name is a key too"
    assert again.records == m.records
    assert again.records[SCRAM_CREDENTIALS][long_user] == {"SCRAM-SHA-256": [4096, b"\0salt", b"\0pw"]}

    other = LogMemoryStore()
    follower = _loaded(other)
    follower.apply(1, encode_command("alter_broker_configs", broker="9", set={"num.io.threads": "1"}, delete=[]))
    follower.install(m.state(), {})
    assert follower.records == m.records and _loaded(other).records == m.records, \
        "a snapshot replaces the follower's records, rows too"


def test_state_from_before_records_loads_with_none() -> None:
    old = MetadataMachine(MemoryStore()).state()
    for kind in (BROKER_CONFIGS, SCRAM_CREDENTIALS):
        assert kind not in old, "a machine with none writes none: its snapshots are what older nodes wrote"
    follower = _loaded(LogMemoryStore())
    follower.install(old, {})
    assert follower.records == {BROKER_CONFIGS: {}, SCRAM_CREDENTIALS: {}}
    assert _loaded(LogMemoryStore()).records == {BROKER_CONFIGS: {}, SCRAM_CREDENTIALS: {}}


def test_a_malformed_scram_command_changes_nothing() -> None:
    m = MetadataMachine(MemoryStore())
    bad = encode_command("alter_scram_credentials", deletions=[], upsertions=[
        ["alice", "SCRAM-SHA-256", 4096, b"salt", b"pw"], ["bob", "SCRAM-SHA-256", 4096, 10 ** 9, b"pw"]])
    assert m.apply(1, bad)[0] == errors.InvalidRequest.code
    assert m.records[SCRAM_CREDENTIALS] == {}, "not even alice, who came first"
