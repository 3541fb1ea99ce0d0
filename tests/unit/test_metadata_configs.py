"""The metadata machine's topic configs: stored at create, changed by ``alter_configs`` in one step,
published in a new view, and kept across a restart (pure apply over an injected state store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraft import errors
from kraft.log.lmdb_store import LmdbStore
from kraft.log.rows import MetadataRows
from kraft.state.metadata import MetadataMachine, encode_command
from tests.unit.test_state_machines import MemoryStore


def create(name: str, configs: dict[str, object]) -> bytes:
    return encode_command("create_topic", name=name, assignment=[[1, 2, 3]], configs=configs)


def alter(name: str, values: dict[str, object] | None = None, delete: list[str] | None = None,
          replace: bool = False) -> bytes:
    return encode_command("alter_configs", name=name, set=values or {}, delete=delete or [], replace=replace)


# (configs at create, the alter_configs commands, the topic's configs after them)
ALTERS: list[tuple[dict[str, object], list[bytes], dict[str, object]]] = [
    ({}, [alter("t", {"retention.ms": 1000})], {"retention.ms": 1000}),
    ({"retention.ms": 5}, [alter("t", {"retention.ms": 6})], {"retention.ms": 6}),
    ({"retention.ms": 5, "cleanup.policy": "compact"}, [alter("t", delete=["retention.ms"])],
     {"cleanup.policy": "compact"}),
    ({"retention.ms": 5}, [alter("t", {"segment.ms": 9}, ["retention.ms"])], {"segment.ms": 9}),  # set and delete
    ({"retention.ms": 5}, [alter("t", delete=["not.set"])], {"retention.ms": 5}),
    ({"retention.ms": 5, "segment.ms": 9}, [alter("t", {"retention.bytes": 7}, replace=True)],
     {"retention.bytes": 7}),
    ({}, [alter("t", {"min.cleanable.dirty.ratio": 0.25}), alter("t", {"cleanup.policy": "compact,delete"})],
     {"min.cleanable.dirty.ratio": 0.25, "cleanup.policy": "compact,delete"}),
]


@pytest.mark.parametrize(("initial", "commands", "after"), ALTERS)
def test_alter_configs_sets_and_deletes_in_one_step(initial: dict[str, object], commands: list[bytes],
                                                    after: dict[str, object]) -> None:
    m = MetadataMachine(MemoryStore())
    assert m.apply(2, create("t", initial))[0] == 0
    assert m.view.topics["t"].configs == initial
    for i, command in enumerate(commands, start=3):
        version = m.view.version
        code, configs = m.apply(i, command)
        assert code == 0
        assert m.view.version > version, "a config change publishes a new view"
    assert configs == after and m.view.topics["t"].configs == after


def test_alter_configs_of_a_missing_topic_changes_nothing() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, create("t", {"retention.ms": 5}))
    version = m.view.version
    assert m.apply(3, alter("gone", {"retention.ms": 1}))[0] == errors.UnknownTopicOrPartition.code
    assert m.view.version == version and m.view.topics["t"].configs == {"retention.ms": 5}
    assert m.last_applied == 3


def test_configs_survive_a_restart_and_a_replay_is_skipped() -> None:
    store = MemoryStore()
    m = MetadataMachine(store)
    m.apply(2, create("t", {}))
    m.apply(3, alter("t", {"retention.ms": 1000}))
    again = MetadataMachine(store)
    assert again.view.topics["t"].configs == {"retention.ms": 1000}
    assert again.apply(3, alter("t", {"retention.ms": 1})) is None
    assert again.view.topics["t"].configs == {"retention.ms": 1000}


def test_two_replicas_applying_the_same_log_hold_the_same_configs() -> None:
    log = [create("t", {"cleanup.policy": "compact"}), alter("t", {"retention.ms": 10}),
           alter("t", delete=["cleanup.policy"]), alter("t", {"segment.ms": 1}, replace=True)]
    a, b = MetadataMachine(MemoryStore()), MetadataMachine(MemoryStore())
    for i, entry in enumerate(log, start=2):
        assert a.apply(i, entry) == b.apply(i, entry)
    assert a.view.topics["t"].configs == b.view.topics["t"].configs == {"segment.ms": 1}


def test_configs_are_stored_in_the_lmdb_catalogue_row(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path, fsync=False, map_size_mb=64)
    try:
        m = MetadataMachine(MetadataRows(store, 0))
        m.apply(1, create("t", {"min.cleanable.dirty.ratio": 0.5}))
        m.apply(2, alter("t", {"retention.ms": 2**63 - 1}))
        store.commit()
        again = MetadataMachine(MetadataRows(store, 0))
        assert again.view.topics["t"].configs == {"min.cleanable.dirty.ratio": 0.5, "retention.ms": 2**63 - 1}
    finally:
        store.close()
