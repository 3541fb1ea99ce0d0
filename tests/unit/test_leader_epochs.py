"""A partition's leader epochs: the pure map (assign, trim, OffsetForLeaderEpoch's answer) table by
table, and the partition state machine that builds it from the Raft terms of the entries it applies:
the same on every replica, through restarts, trims and snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.entry import OP_NATIVE, encode_trim
from kraft.log.memory_store import MemoryStore
from kraft.log.partition_log import PartitionLog
from kraft.protocol.batch import encode_batch
from kraft.state import leader_epochs as le
from kraft.state.partition import PartitionMachine

U = le.UNDEFINED_EPOCH

ASSIGN = [
    ("first epoch", (), 3, 0, ((3, 0),)),
    ("a later epoch after records", ((1, 0),), 2, 5, ((1, 0), (2, 5))),
    ("an epoch that wrote nothing is replaced", ((1, 0), (2, 5)), 4, 5, ((1, 0), (4, 5))),
    ("an older epoch changes nothing", ((1, 0), (4, 5)), 3, 9, ((1, 0), (4, 5))),
    ("the same epoch again changes nothing", ((1, 0), (4, 5)), 4, 9, ((1, 0), (4, 5))),
]


@pytest.mark.parametrize(("name", "epochs", "epoch", "start", "expected"), ASSIGN, ids=[c[0] for c in ASSIGN])
def test_assign(name: str, epochs: le.LeaderEpochs, epoch: int, start: int, expected: le.LeaderEpochs) -> None:
    assert le.assign(epochs, epoch, start) == expected


TRIM = [
    ("nothing below the start", ((1, 0), (3, 10)), 0, ((1, 0), (3, 10))),
    ("inside the first epoch", ((1, 0), (3, 10)), 4, ((1, 4), (3, 10))),
    ("at an epoch's start", ((1, 0), (3, 10), (5, 20)), 10, ((3, 10), (5, 20))),
    ("past every start: the last epoch holds it", ((1, 0), (3, 10)), 99, ((3, 99),)),
    ("empty", (), 5, ()),
]


@pytest.mark.parametrize(("name", "epochs", "start", "expected"), TRIM, ids=[c[0] for c in TRIM])
def test_trim(name: str, epochs: le.LeaderEpochs, start: int, expected: le.LeaderEpochs) -> None:
    assert le.trim(epochs, start) == expected


EPOCHS = ((2, 0), (4, 10), (7, 25))
END_OFFSET = [
    ("the latest epoch: the log end", 7, (7, 40)),
    ("an epoch in the map: the next one's start", 4, (4, 25)),
    ("an epoch between two: the one below, ending where the next starts", 5, (4, 25)),
    ("an epoch older than the map: itself, ending where the first starts", 1, (1, 0)),
    ("an epoch after the latest: undefined", 8, (U, -1)),
    ("undefined asked: undefined", -1, (U, -1)),
]


@pytest.mark.parametrize(("name", "requested", "expected"), END_OFFSET, ids=[c[0] for c in END_OFFSET])
def test_end_offset_for(name: str, requested: int, expected: tuple[int, int]) -> None:
    assert le.end_offset_for(EPOCHS, requested, 40) == expected


def test_end_offset_for_a_log_without_epochs_is_undefined() -> None:
    assert le.end_offset_for((), 3, 40) == (U, -1)


@pytest.mark.parametrize(("offset", "epoch"), [(0, 2), (9, 2), (10, 4), (24, 4), (25, 7), (99, 7)])
def test_epoch_at(offset: int, epoch: int) -> None:
    assert le.epoch_at(EPOCHS, offset) == epoch
    assert le.epoch_at(((3, 5),), 4) == U


def test_the_map_is_bounded() -> None:
    epochs: le.LeaderEpochs = ()
    for i in range(le.LEADER_EPOCHS_MAX + 10):
        epochs = le.assign(epochs, i + 1, i)
    assert len(epochs) == le.LEADER_EPOCHS_MAX
    assert epochs[-1] == (le.LEADER_EPOCHS_MAX + 10, le.LEADER_EPOCHS_MAX + 9)


# (term of each applied entry, records in it; 0 records: the leader's no-op)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 4)), max_size=40))
def test_the_map_holds_each_record_in_the_term_of_its_entry(entries: list[tuple[int, int]]) -> None:
    machine = PartitionMachine(PartitionLog(MemoryStore(), 1))
    term, terms_of_offsets = 1, []
    for index, (step, count) in enumerate(entries, start=1):
        term += step - 1  # terms never go down in a Raft log
        machine.apply(index, produce(count) if count else b"", term)
        terms_of_offsets += [term] * count
    epochs = machine.leader_epochs
    assert [le.epoch_at(epochs, o) for o in range(len(terms_of_offsets))] == terms_of_offsets
    assert [s for _, s in epochs] == sorted({s for _, s in epochs})  # one row per start offset
    assert epochs == () if not entries else epochs[-1][0] == term


def produce(n: int) -> bytes:
    return OP_NATIVE + encode_batch([(1000 + i, None, b"v", []) for i in range(n)], -1, -1)


def test_epochs_survive_a_restart_a_trim_and_a_snapshot() -> None:
    store = MemoryStore()
    machine = PartitionMachine(PartitionLog(store, 1))
    machine.apply(1, b"", 1)  # term 1's no-op
    machine.apply(2, produce(3), 1)  # offsets 0-2
    machine.apply(3, b"", 3)  # term 3
    machine.apply(4, produce(2), 3)  # offsets 3-4
    machine.apply(5, b"", 5)  # term 5, nothing written yet
    assert machine.leader_epochs == ((1, 0), (3, 3), (5, 5))
    store.commit()
    restarted = PartitionMachine(PartitionLog(store, 1))
    assert restarted.leader_epochs == machine.leader_epochs
    with store.read() as view:
        assert PartitionLog(store, 1).read_leader_epochs(view) == machine.leader_epochs
    restarted.apply(6, encode_trim(4), 5)
    assert restarted.leader_epochs == ((3, 4), (5, 5))
    follower = PartitionMachine(PartitionLog(MemoryStore(), 1))
    state = restarted.snapshot_state()
    follower.install(state, restarted.producers())  # type: ignore[arg-type]
    assert follower.leader_epochs == restarted.leader_epochs
    follower.apply(7, produce(1), 5)
    assert follower.leader_epochs == ((3, 4), (5, 5))


def test_an_entry_without_a_term_starts_no_epoch() -> None:
    machine = PartitionMachine(PartitionLog(MemoryStore(), 1))
    machine.apply(1, produce(2))
    assert machine.leader_epochs == ()
