"""Kafka topic ids in the metadata state machine: taken from the ``create_topic`` command, derived
the same on every replica when a command has none, new for a topic created again, kept across a
restart from the rows and across a snapshot, and found by id."""

from __future__ import annotations

import uuid

import msgpack
import pytest

from kraft.log.memory_store import MemoryStore
from kraft.log.rows import MetadataRows
from kraft.state.metadata import METADATA_GID, MetadataMachine, derived_topic_uuid, encode_command

DRAWN = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


def create(name: str, **extra: object) -> bytes:
    return encode_command("create_topic", name=name, assignment=[[1]], configs={}, **extra)


@pytest.mark.parametrize(("given", "expected"), [
    (DRAWN.hex, DRAWN),  # the proposer's draw
    (None, derived_topic_uuid(1, "t")),  # none (the simulator's commands, entries before topic ids)
    ("not hex", derived_topic_uuid(1, "t")),  # malformed: every replica falls back alike
    (uuid.UUID(int=0).hex, derived_topic_uuid(1, "t")),  # nil is Kafka's "no topic id"
    (12345, derived_topic_uuid(1, "t")),
])
def test_a_topic_gets_the_command_s_id_or_a_derived_one(given: object, expected: uuid.UUID) -> None:
    m = MetadataMachine()
    code, value = m.apply(1, create("t", **({} if given is None else {"uuid": given})))  # type: ignore[misc]
    assert code == 0 and value["uuid"] == expected.hex
    assert m.view.topics["t"].topic_uuid == expected
    assert m.view.topic_by_uuid(expected) is m.view.topics["t"]


def test_every_replica_applies_the_same_ids_and_a_recreated_topic_gets_a_new_one() -> None:
    log = [create("a"), create("b", uuid=DRAWN.hex), encode_command("delete_topic", name="a"), create("a"),
           create("c", uuid=DRAWN.hex)]  # a repeated draw never gives two topics one id
    machines = [MetadataMachine(), MetadataMachine()]
    for m in machines:
        for i, payload in enumerate(log, start=1):
            m.apply(i, payload)
    ids = [{n: t.topic_uuid for n, t in m.view.topics.items()} for m in machines]
    assert ids[0] == ids[1]
    assert ids[0]["a"] == derived_topic_uuid(3, "a") != derived_topic_uuid(1, "a")
    assert ids[0]["b"] == DRAWN and ids[0]["c"] != DRAWN
    assert len(set(ids[0].values())) == 3
    assert machines[0].view.topic_by_uuid(derived_topic_uuid(1, "a")) is None, "the deleted topic's id is gone"
    assert machines[0].view.topic_by_uuid(uuid.UUID(int=0)) is None


def test_ids_survive_a_restart_and_a_snapshot() -> None:
    store = MemoryStore()
    m = MetadataMachine(MetadataRows(store, METADATA_GID))
    m.apply(1, create("t", uuid=DRAWN.hex))
    restarted = MetadataMachine(MetadataRows(store, METADATA_GID))
    assert restarted.view.topics["t"].topic_uuid == DRAWN
    follower = MetadataMachine()
    follower.install(msgpack.unpackb(msgpack.packb(m.state()), raw=False, strict_map_key=False), {})
    assert follower.view.topics["t"].topic_uuid == DRAWN


def test_a_row_from_before_topic_ids_reads_with_the_derived_id() -> None:
    m = MetadataMachine()
    m.apply(1, create("t"))
    state = m.state()
    del state["catalogue"]["topics"]["t"]["uuid"]
    old = MetadataMachine()
    old.install(state, {})
    assert old.view.topics["t"].topic_uuid == derived_topic_uuid(1, "t")
