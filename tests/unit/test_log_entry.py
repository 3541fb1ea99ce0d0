"""Journal rows and the commands inside them (kraft.log.entry): framing, header fields, checksums,
served form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.entry import (
    BATCH_AT,
    OP_AT,
    OP_KAFKA,
    OP_NATIVE,
    REGULAR,
    as_served,
    batch_fields,
    encode_row,
    intact,
    is_native,
    row_command,
    row_term,
)
from kraft.protocol.batch import encode_batch, read_batch_header
from kraft.protocol.kafka.records import encode_kafka_batch, read_kafka_header
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
        assert command[:1] not in (OP_NATIVE, OP_KAFKA)


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
