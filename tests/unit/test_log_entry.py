"""Journal rows and the commands inside them (kraft.log.entry): framing, header fields, checksums,
served form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.errors import CorruptRecord
from kraft.log.entry import (
    BATCH_AT,
    OP_AT,
    OP_KAFKA,
    OP_KAFKA_SET,
    OP_NATIVE,
    OP_TRIM,
    REGULAR,
    as_served,
    batch_fields,
    encode_row,
    encode_trim,
    intact,
    is_native,
    join_kafka_set,
    joinable,
    row_command,
    row_term,
    stored_batches,
    verify_stored,
)
from kraft.protocol.batch import encode_batch, read_batch_header
from kraft.protocol.kafka.records import decode_kafka_batch, encode_kafka_batch, read_kafka_header
from kraft.state.metadata import encode_command


@given(st.integers(0, 2**64 - 1), st.binary(max_size=64))
def test_a_row_is_the_term_then_the_command(term: int, command: bytes) -> None:
    row = encode_row(term, command)
    assert row_term(row) == term and row_command(row) == command
    assert row[:8] == term.to_bytes(8, "big")


def test_a_produce_row_is_term_type_op_batch() -> None:
    batch = encode_batch([(5, b"k", b"v", [])])
    row = encode_row(3, REGULAR + OP_NATIVE + batch)
    assert row[OP_AT:BATCH_AT] == OP_NATIVE and row[BATCH_AT:] == batch


@given(st.integers(1, 40), st.integers(-1, 2**40), st.integers(-1, 2**31 - 1), st.integers(0, 2**40))
def test_batch_fields_match_each_formats_own_header(count: int, producer_id: int, sequence: int, ts: int) -> None:
    records = [(ts + i, None, b"v", []) for i in range(count)]
    native = encode_batch(records, producer_id, sequence)
    h = read_batch_header(native)
    assert batch_fields(OP_NATIVE + native) == (h.count, h.max_timestamp, h.producer_id, 0, h.base_sequence)
    kafka = encode_kafka_batch(records, producer_id=producer_id, producer_epoch=7, base_sequence=sequence)
    k = read_kafka_header(kafka)
    assert batch_fields(OP_KAFKA + kafka) == (k.last_offset_delta + 1, k.max_timestamp, k.producer_id,
                                              k.producer_epoch, k.base_sequence)
    assert k.last_offset_delta + 1 == count


@pytest.mark.parametrize("op", [OP_NATIVE, OP_KAFKA])
def test_a_damaged_batch_is_not_intact_and_other_commands_always_are(op: bytes) -> None:
    records = [(1, b"k", b"value", [])]
    batch = encode_batch(records) if op == OP_NATIVE else encode_kafka_batch(records)
    assert intact(REGULAR + op + batch)
    damaged = bytearray(batch)
    damaged[-2] ^= 0xFF
    assert not intact(REGULAR + op + bytes(damaged))
    assert intact(b"\x01") and intact(REGULAR) and intact(REGULAR + encode_command("alloc_producer_id"))


def test_metadata_commands_never_start_with_an_op_byte() -> None:
    for command in (encode_command("alloc_producer_id"), encode_command("x", **{f"k{i}": i for i in range(20)})):
        assert command[:1] not in (OP_NATIVE, OP_KAFKA, OP_KAFKA_SET, OP_TRIM)


def test_served_batches_tell_their_kind_by_the_first_byte() -> None:
    records = [(1, b"k", b"v", [])]
    native = encode_batch(records)
    assert as_served(OP_NATIVE, native, 42) is native and is_native(native)
    served = as_served(OP_KAFKA, encode_kafka_batch(records), 42)
    assert read_kafka_header(served).base_offset == 42 and not is_native(served)
    assert not is_native(b"")


def test_a_configuration_is_whole_and_may_name_a_promoted_disk() -> None:
    from kraft.log.entry import MEMBERS, REGULAR, encode_members, members_fields

    command = encode_members({3: "9b30", 1: "0", 2: ""}, [4], (3, "9b30"))
    assert command[:1] == MEMBERS != REGULAR, "never handed to a state machine"
    assert members_fields(command) == ({1: "0", 2: "", 3: "9b30"}, {4}, (3, "9b30"))
    assert members_fields(encode_members({1: "0"}, [])) == ({1: "0"}, set(), None)


# --- sets of Kafka batches ----------------------------------------------------------------------
def kafka_command(first_ts: int, count: int, producer_id: int = -1, compression: int = 0) -> bytes:
    records = [(first_ts + i, b"k%d" % i, b"v%d" % (first_ts + i), []) for i in range(count)]
    return REGULAR + OP_KAFKA + encode_kafka_batch(records, producer_id=producer_id, compression=compression,
                                                   producer_epoch=0 if producer_id >= 0 else -1,
                                                   base_sequence=0 if producer_id >= 0 else -1)


@pytest.mark.parametrize(("name", "command", "expected"), [
    ("a Kafka batch without a producer id", kafka_command(1, 2), True),
    ("a Kafka batch of an idempotent producer", kafka_command(1, 2, producer_id=5), False),
    ("a native batch", REGULAR + OP_NATIVE + encode_batch([(1, None, b"v", [])]), False),
    ("a trim", REGULAR + encode_trim(4), False),
    ("a set already", REGULAR + OP_KAFKA_SET + kafka_command(1, 1)[2:], False),
    ("a metadata command", REGULAR + encode_command("alloc_producer_id"), False),
    ("a no-op", b"\x01", False),
])
def test_only_kafka_batches_without_a_producer_id_join(name: str, command: bytes, expected: bool) -> None:
    assert joinable(command) is expected, name


def test_a_set_holds_its_batches_at_the_offsets_they_take_and_reads_back_as_they_were() -> None:
    commands = [kafka_command(100, 2), kafka_command(200, 1, compression=1), kafka_command(50, 3)]
    command, firsts = join_kafka_set(commands)
    assert firsts == [0, 2, 3] and command[:2] == REGULAR + OP_KAFKA_SET and intact(command)
    assert batch_fields(command[1:]) == (6, 200, -1, -1, -1)  # the newest record: 200
    parts = stored_batches(command[1:2], command[2:], 1000)
    assert [(base, op) for base, op, _part in parts] == [(1000, OP_KAFKA), (1002, OP_KAFKA), (1003, OP_KAFKA)]
    for (base, _op, part), original in zip(parts, commands, strict=True):
        served = as_served(OP_KAFKA, part, base, 7)
        assert read_kafka_header(served).base_offset == base
        assert decode_kafka_batch(served) == decode_kafka_batch(original[2:], base)
    verify_stored(OP_KAFKA_SET, command[2:])


def test_a_single_batch_is_its_own_stored_batch() -> None:
    batch = encode_batch([(1, None, b"v", [])])
    assert stored_batches(OP_NATIVE, batch, 9) == [(9, OP_NATIVE, batch)]


def test_a_damaged_set_is_refused() -> None:
    command, _ = join_kafka_set([kafka_command(1, 2), kafka_command(5, 2)])
    payload = command[2:]
    second = first_batch_size(payload)
    overlapping = payload[:second] + (1).to_bytes(8, "big") + payload[second + 8:]  # offset 1 lies in the first
    damaged = bytearray(payload)
    damaged[-1] ^= 0xFF
    with_producer, _ = join_kafka_set([kafka_command(1, 1), kafka_command(2, 1, producer_id=3)])
    for name, bad in [("offsets overlap", overlapping), ("a checksum fails", bytes(damaged)), ("empty", b""),
                      ("truncated", payload[:-3]), ("a batch with a producer id", with_producer[2:])]:
        with pytest.raises(CorruptRecord):
            verify_stored(OP_KAFKA_SET, bad)
        assert not intact(REGULAR + OP_KAFKA_SET + bad), name
    # A gap: what compaction leaves in a row below the Raft log, never in a Raft entry.
    gap = payload[:second] + (3).to_bytes(8, "big") + payload[second + 8:]
    assert [base for base, _op, _part in stored_batches(OP_KAFKA_SET, gap, 10)] == [10, 13]
    assert not intact(REGULAR + OP_KAFKA_SET + gap)
    with pytest.raises(CorruptRecord):
        stored_batches(OP_KAFKA_SET, gap, 10, dense=True)
    # The count an apply takes comes from the checksummed headers, whatever the offsets say.
    assert batch_fields(OP_KAFKA_SET + gap)[0] == 4


def first_batch_size(payload: bytes) -> int:
    """The bytes of the first batch of a set, from its batch_length."""
    return int.from_bytes(payload[8:12], "big") + 12
