"""Log compaction: a Kafka batch rewritten as Kafka's cleaner does, and a compaction pass over a
partition's stored batches (native and Kafka, compressed or not) against a reference model: each
key's latest record below the pass's end stays, tombstones below the pass's tombstone offset go, offsets never
change, and a second pass (or one over a partly rewritten log) changes nothing more."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kraft.log.compactor import CompactionPass
from kraft.log.entry import (
    NO_OP,
    OP_KAFKA,
    OP_KAFKA_SET,
    OP_NATIVE,
    REGULAR,
    encode_compact,
    encode_row,
    join_kafka_set,
)
from kraft.log.index_rows import emptied
from kraft.log.memory_store import MemoryStore
from kraft.log.partition_log import PartitionLog
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, gid_key, gid_u64_key, prefix_stop
from kraft.protocol.batch import decode_batch, encode_batch
from kraft.protocol.kafka.records import (
    COMPRESSION_GZIP,
    compact_kafka_batch,
    decode_kafka_batch,
    encode_kafka_batch,
    read_kafka_header,
)
from kraft.state.partition import PartitionMachine

GID = 9
Record = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]


# --- one Kafka batch ----------------------------------------------------------------------------------
def kafka(records: list[Record], compression: int = 0) -> bytes:
    return encode_kafka_batch(records, base_offset=100, producer_id=7, producer_epoch=2, base_sequence=40,
                              compression=compression)


FIVE: list[Record] = [(1000 + i, b"k%d" % (i % 2), b"v%d" % i, [("h", b"x")]) for i in range(5)]


@pytest.mark.parametrize("compression", [0, COMPRESSION_GZIP])
@pytest.mark.parametrize(("name", "keep", "kept_deltas"), [
    ("every record stays: the same bytes", lambda d, ts, k, v: True, [0, 1, 2, 3, 4]),
    ("the middle goes: gaps, last offset delta kept", lambda d, ts, k, v: d in (0, 4), [0, 4]),
    ("only the first stays", lambda d, ts, k, v: d == 0, [0]),
    ("by key and timestamp", lambda d, ts, k, v: k == b"k1" and ts > 1001, [3]),
])
def test_a_kafka_batch_keeps_what_compaction_keeps(name: str, keep: object, kept_deltas: list[int],
                                                   compression: int) -> None:
    batch = kafka(FIVE, compression)
    out = compact_kafka_batch(batch, keep)  # type: ignore[arg-type]
    assert out is not None
    if len(kept_deltas) == 5:
        assert out is batch
    before, after = read_kafka_header(batch), read_kafka_header(out)
    for field in ("base_offset", "last_offset_delta", "first_timestamp", "max_timestamp", "producer_id",
                  "producer_epoch", "base_sequence", "attributes"):
        assert getattr(after, field) == getattr(before, field), field
    assert after.count == len(kept_deltas)
    records = decode_kafka_batch(out)
    assert [r[0] - 100 for r in records] == kept_deltas
    assert [(r[1], r[2], r[3], r[4]) for r in records] == [
        (FIVE[d][0], FIVE[d][1], FIVE[d][2], [("h", b"x")]) for d in kept_deltas]


def test_an_emptied_kafka_batch_goes() -> None:
    assert compact_kafka_batch(kafka(FIVE), lambda d, ts, k, v: False) is None


# --- a pass over a partition ------------------------------------------------------------------------
def stored(store: MemoryStore, batches: list[tuple[bytes, list[Record]]]) -> tuple[PartitionLog, PartitionMachine]:
    """Each batch as a journal row at Raft index 2, 3, ... and applied by the partition machine; an
    OP_KAFKA_SET's records go into Kafka batches of two records (the last maybe one), joined."""
    plog = PartitionLog(store, GID)
    machine = PartitionMachine(plog)
    for raft_index, (op, records) in enumerate(batches, start=2):
        if op == OP_KAFKA_SET:
            parts = [records[i:i + 2] for i in range(0, len(records), 2)]
            command, _firsts = join_kafka_set([REGULAR + OP_KAFKA + encode_kafka_batch(part, compression=n % 2)
                                               for n, part in enumerate(parts)])
        else:
            # native batches in rows and in columns by turns (kraft.protocol.batch)
            columns = raft_index % 2 == 0
            batch = encode_batch(records, columns=columns) if op == OP_NATIVE else encode_kafka_batch(records)
            command = REGULAR + op + batch
        store.put(DB_JOURNAL, gid_u64_key(GID, raft_index), encode_row(1, command))
        machine.apply(raft_index, command[1:])
    store.commit()
    return plog, machine


def records_of(store: MemoryStore, plog: PartitionLog) -> dict[int, tuple[bytes | None, bytes | None]]:
    out = {}
    with store.read() as view:
        for base, batch in plog.read(view, 0, 1 << 30):
            decoded = decode_kafka_batch(batch, base) if batch[0] == 0 else decode_batch(batch, base)
            out.update({o: (k, v) for o, _ts, k, v, _h in decoded})
    return out


def compact(store: MemoryStore, plog: PartitionLog, machine: PartitionMachine, raft_index: int, end: int,
            tombstones_below: int) -> None:
    machine.apply(raft_index, encode_compact(end, tombstones_below, 5_000 + raft_index))
    while plog.reclaim(7) >= 7:  # small slices: a pass goes over many driver iterations
        pass
    store.commit()


def model(records: dict[int, tuple[bytes | None, bytes | None, int]], end: int,
          tombstones_below: int) -> dict[int, tuple[bytes | None, bytes | None]]:
    """What compaction must leave: records at or past ``end`` untouched (whole batches: ``end`` is a
    batch boundary here), and below it each key's latest, unless it is a tombstone older than the
    tombstone offset; no keyless record."""
    latest: dict[bytes, int] = {}
    for offset, (key, _v, _ts) in sorted(records.items()):
        if offset < end and key is not None:
            latest[key] = offset
    return {o: (k, v) for o, (k, v, ts) in records.items()
            if o >= end or (k is not None and latest.get(k) == o and (v is not None or o >= tombstones_below))}


@pytest.mark.parametrize("seed", range(20))
def test_a_pass_keeps_each_keys_latest_record_and_is_idempotent(seed: int) -> None:
    rng = random.Random(seed)
    batches: list[tuple[bytes, list[Record]]] = []
    truth: dict[int, tuple[bytes | None, bytes | None, int]] = {}
    offset = 0
    for n in range(40):
        records: list[Record] = []
        for _ in range(rng.randint(1, 4)):
            ts = 1000 + n
            key = None if rng.random() < 0.05 else b"k%d" % rng.randint(0, 6)
            value = None if rng.random() < 0.2 else b"v%d" % offset
            records.append((ts, key, value, []))
            truth[offset] = (key, value, ts)
            offset += 1
        batches.append((rng.choice([OP_NATIVE, OP_KAFKA, OP_KAFKA_SET]), records))
    store = MemoryStore()
    plog, machine = stored(store, batches)
    boundaries = sorted({sum(len(r) for _, r in batches[:i]) for i in range(1, len(batches))})
    end = rng.choice(boundaries)
    horizon = rng.randint(0, end)
    compact(store, plog, machine, 100, end, horizon)
    assert records_of(store, plog) == model(truth, end, horizon)
    first = {k: bytes(v) for k, v in store.scan(DB_JOURNAL, gid_key(GID), prefix_stop(gid_key(GID)))}
    again = CompactionPass(store, GID, 0, end, horizon)  # the same pass over its own result
    while not again.done:
        again.step(5)
    store.commit()
    assert {k: bytes(v) for k, v in store.scan(DB_JOURNAL, gid_key(GID), prefix_stop(gid_key(GID)))} == first


def test_a_set_loses_an_emptied_batch_and_keeps_the_offsets_of_the_others() -> None:
    store = MemoryStore()
    # one set of three batches: offsets 0-1, 2-3, 4; then a batch that supersedes a and b
    plog, machine = stored(store, [(OP_KAFKA_SET, [(1, b"a", b"1", []), (2, b"x", b"2", []), (3, b"a", b"3", []),
                                                   (4, b"b", b"4", []), (5, b"y", b"5", [])]),
                                   (OP_NATIVE, [(6, b"a", b"6", []), (7, b"b", b"7", [])])])
    compact(store, plog, machine, 10, 7, 0)
    assert records_of(store, plog) == {1: (b"x", b"2"), 4: (b"y", b"5"), 5: (b"a", b"6"), 6: (b"b", b"7")}
    with store.read() as view:
        assert [base for base, _batch in plog.read(view, 0, 1 << 30)] == [0, 4, 5]  # the set's middle batch went
        # a read from inside the set starts at the batch holding the offset, as Kafka's
        assert [base for base, _batch in plog.read(view, 2, 1 << 30)] == [4, 5]
        assert [base for base, _batch in plog.read(view, 4, 1 << 30)] == [4, 5]
        assert [base for base, _batch in plog.read(view, 1, 1)] == [0]  # at least one batch, then the budget


def test_an_emptied_batch_leaves_a_marked_index_row_and_no_journal_row() -> None:
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(1, b"a", b"1", [])]), (OP_NATIVE, [(2, b"a", b"2", [])]),
                                   (OP_KAFKA, [(3, b"b", b"3", [])])])
    compact(store, plog, machine, 10, 2, 0)
    rows = [bytes(v) for _, v in store.scan(DB_OFFSETS, gid_key(GID), prefix_stop(gid_key(GID)))]
    assert [emptied(r) for r in rows] == [True, False, False]
    assert store.get(DB_JOURNAL, gid_u64_key(GID, 2)) is None
    assert records_of(store, plog) == {1: (b"a", b"2"), 2: (b"b", b"3")}
    assert machine.raft_floor == 4 and machine.compacted_to == 2


def test_a_pass_interrupted_by_a_restart_runs_again() -> None:
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(1, b"a", b"%d" % i, [])]) for i in range(30)])
    machine.apply(40, encode_compact(29, 0, 5_000))
    plog.reclaim(40)  # a few batches only
    store.commit()
    again = PartitionLog(store, GID)
    assert not again.compaction_settled(1)
    while again.reclaim(7) >= 7:
        pass
    store.commit()
    assert again.compaction_settled(1)
    assert records_of(store, again) == {28: (b"a", b"28"), 29: (b"a", b"29")}


def test_a_no_op_between_batches_does_not_disturb_a_pass() -> None:
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(1, b"a", b"1", [])]), (OP_NATIVE, [(2, b"a", b"2", [])])])
    machine.apply(4, NO_OP[:0])
    compact(store, plog, machine, 5, 2, 0)
    assert records_of(store, plog) == {1: (b"a", b"2")}


def test_size_counts_compacted_batches_as_stored() -> None:
    store = MemoryStore()
    plog, machine = stored(store, [(OP_KAFKA, [(i, b"k", b"v" * 100, []) for i in range(20)]),
                                   (OP_NATIVE, [(30, b"k", b"w", [])])])
    with store.read() as view:
        before = plog.size(view)
    compact(store, plog, machine, 10, 20, 0)
    with store.read() as view:
        after = plog.size(view)
    assert after < before / 5, (before, after)
    assert records_of(store, plog) == {19: (b"k", b"v" * 100), 20: (b"k", b"w")}


def test_tombstones_go_once_a_pass_first_cleaned_them_long_enough_ago() -> None:
    """Kafka's rule: a tombstone stays for delete.retention.ms after the first pass that covered it,
    whatever its own timestamp says (a stream processed late stamps old times)."""
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(1, b"a", b"1", [])]), (OP_NATIVE, [(2, b"a", None, [])]),
                                   (OP_NATIVE, [(3, b"b", b"3", [])]), (OP_NATIVE, [(4, b"b", None, [])]),
                                   (OP_NATIVE, [(5, b"c", b"5", [])])])
    assert machine.tombstones_cleaned_before(10**12) == 0, "no pass yet: no tombstone has been cleaned"
    machine.apply(10, encode_compact(2, machine.tombstones_cleaned_before(1_000), 1_000))  # covers a's
    machine.apply(11, encode_compact(4, machine.tombstones_cleaned_before(999), 2_000))  # covers b's
    while plog.reclaim(7) >= 7:
        pass
    store.commit()
    assert records_of(store, plog) == {1: (b"a", None), 3: (b"b", None), 4: (b"c", b"5")}
    assert machine.tombstones_cleaned_before(1_999) == 2, "a's tombstone was first cleaned at 1,000"
    machine.apply(12, encode_compact(5, machine.tombstones_cleaned_before(1_999), 3_000))
    while plog.reclaim(7) >= 7:
        pass
    store.commit()
    assert records_of(store, plog) == {3: (b"b", None), 4: (b"c", b"5")}
    again = PartitionMachine(PartitionLog(store, GID))
    assert again.compaction_history == machine.compaction_history == ((2, 1_000), (4, 2_000), (5, 3_000))


def test_a_compacted_logs_dirty_ratio_counts_its_clean_part_as_stored() -> None:
    """Kafka's cleanable ratio: dirty bytes over the clean part *as stored* plus the dirty part. One key
    rewritten 100 times compacts to one batch; two new batches are then two thirds of the log, though
    only 2 % of the bytes ever appended (counted by those, the log never looked dirty again and its
    newest records waited for a pass that never came)."""
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(i, b"k", b"v%03d" % i, [])]) for i in range(102)])
    compact(store, plog, machine, 200, 99, 0)
    assert records_of(store, plog) == {o: (b"k", b"v%03d" % o) for o in (98, 99, 100, 101)}
    with store.read() as view:
        assert plog.compaction_target(view, newer_than_ms=1 << 62, overdue_before_ms=None,
                                      min_dirty_ratio=0.5) == 101  # the active head stays out
        assert plog.compaction_target(view, newer_than_ms=1 << 62, overdue_before_ms=None,
                                      min_dirty_ratio=0.7) is None  # 2 of 3 batches are dirty


def test_the_clean_parts_size_is_read_once_per_pass_not_at_every_check() -> None:
    """Reading the clean part's size means reading every clean batch's row: done when the log start
    or the compacted offset moved, not at every check in between."""
    store = MemoryStore()
    plog, machine = stored(store, [(OP_NATIVE, [(i, b"k", b"v%03d" % i, [])]) for i in range(102)])
    compact(store, plog, machine, 200, 99, 0)

    class CountingView:
        def __init__(self, view: Any) -> None:
            self.view, self.journal_reads = view, 0

        def get(self, table: bytes, key: bytes) -> bytes | None:
            self.journal_reads += table == DB_JOURNAL
            return self.view.get(table, key)

        def scan(self, *args: Any, **kwargs: Any) -> Any:
            return self.view.scan(*args, **kwargs)

    with store.read() as view:
        counting = CountingView(view)
        for _ in range(3):
            assert plog.compaction_target(counting, newer_than_ms=1 << 62, overdue_before_ms=None,  # type: ignore[arg-type]
                                          min_dirty_ratio=0.5) == 101
        assert counting.journal_reads == 1, "one clean batch, read at the first check only"
