"""The LogAppendTime stamp of each batch format, next to the layout it rewrites: a Kafka v2 batch gets
the timestamp-type bit, first and max timestamps and a new CRC32C (read back by kafka-python as Kafka
writes it); a native batch gets every record's timestamp. Everything else is kept byte for byte."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.errors import CorruptRecord
from kraft.protocol import batch as native
from kraft.protocol.kafka import records as kafka

with warnings.catch_warnings():  # kafka-python's schema loader uses deprecated importlib.resources calls
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch

STAMP = 1_800_000_000_042
RECORDS = [(1_700_000_000_000, b"k1", b"v1", [("h", b"x")]), (1_700_000_000_900, None, b"v2", []),
           (1_699_999_999_000, b"k3", None, [])]


@pytest.mark.parametrize("codec", [kafka.COMPRESSION_NONE, kafka.COMPRESSION_GZIP, kafka.COMPRESSION_ZSTD])
def test_a_stamped_kafka_batch_is_log_append_time_for_every_reader(codec: int) -> None:
    sent = kafka.encode_kafka_batch(RECORDS, producer_id=7, producer_epoch=2, base_sequence=40, compression=codec)
    stamped = kafka.with_log_append_time(sent, STAMP)
    header = kafka.verify_kafka_batch(stamped)  # a valid CRC32C
    assert (header.timestamp_type, header.first_timestamp, header.max_timestamp) == (1, STAMP, STAMP)
    assert (header.compression, header.producer_id, header.producer_epoch, header.base_sequence, header.count) == (
        codec, 7, 2, 40, 3)
    assert len(stamped) == len(sent) and stamped[61:] == sent[61:], "the records' bytes are not touched"
    # base offset, length, leader epoch and magic; the last offset delta (once zeroed by a pad byte of
    # the stamp's struct: a 3-record batch then ended at its first offset, and the next batch's
    # offsets overlapped it); producer id on
    assert stamped[:17] == sent[:17] and stamped[23:27] == sent[23:27] and stamped[43:] == sent[43:]
    assert header.last_offset_delta == 2
    reader = DefaultRecordBatch(stamped)  # kafka-python reads it as Kafka wrote it
    assert reader.validate_crc() and reader.timestamp_type == 1
    assert [(r.timestamp, r.key) for r in reader] == [(STAMP, b"k1"), (STAMP, None), (STAMP, b"k3")]
    assert [r[1] for r in kafka.decode_kafka_batch(stamped, 0)] == [STAMP] * 3


def test_stamping_a_stamped_kafka_batch_again_moves_the_stamp() -> None:
    once = kafka.with_log_append_time(kafka.encode_kafka_batch(RECORDS), STAMP)
    twice = kafka.with_log_append_time(once, STAMP + 1)
    assert kafka.verify_kafka_batch(twice).max_timestamp == STAMP + 1


def test_a_stamped_native_batch_gives_every_record_the_stamp() -> None:
    sent = native.encode_batch(RECORDS, producer_id=7, base_sequence=40)
    stamped = native.with_log_append_time(sent, STAMP)
    header = native.verify_batch(stamped)
    assert (header.first_timestamp, header.max_timestamp, header.producer_id, header.base_sequence, header.count) == (
        STAMP, STAMP, 7, 40, 3)
    assert native.decode_batch(stamped, 5) == [(5 + i, STAMP, k, v, list(h)) for i, (_, k, v, h) in enumerate(RECORDS)]
    # a Kafka consumer reads it converted to v2 with the same timestamps
    assert [r[1] for r in kafka.decode_kafka_batch(kafka.native_to_kafka(stamped, 5))] == [STAMP] * 3


@given(st.lists(st.tuples(st.integers(0, 2**40), st.one_of(st.none(), st.binary(max_size=8)),
                          st.one_of(st.none(), st.binary(max_size=8)),
                          st.lists(st.tuples(st.text(max_size=4), st.binary(max_size=4)), max_size=2)),
                min_size=1, max_size=8), st.integers(0, 2**42), st.booleans())
def test_stamps_keep_keys_values_and_headers(records: list, stamp: int, columns: bool) -> None:
    stamped = native.with_log_append_time(native.encode_batch(records, columns=columns), stamp)
    assert stamped[0] == (native.MAGIC_COLUMNS if columns else native.MAGIC_ROWS)  # the layout is kept
    decoded = native.decode_batch(stamped, 0)
    assert [(ts, k, v, h) for _, ts, k, v, h in decoded] == [(stamp, k, v, list(h)) for _, k, v, h in records]
    kafka_records = [(ts, k, v, h) for ts, k, v, h in records]
    kdecoded = kafka.decode_kafka_batch(kafka.with_log_append_time(kafka.encode_kafka_batch(kafka_records), stamp))
    assert [(ts, k, v) for _, ts, k, v, _ in kdecoded] == [(stamp, k, v) for _, k, v, _ in records]


def test_stamping_refuses_what_is_not_a_batch() -> None:
    with pytest.raises(CorruptRecord):
        kafka.with_log_append_time(b"\x00" * 20, STAMP)
    good = native.encode_batch(RECORDS)
    with pytest.raises(CorruptRecord):
        native.with_log_append_time(good[:native.HEADER_BYTES] + b"\xc1", STAMP)  # 0xc1: never valid msgpack
    with pytest.raises(CorruptRecord):
        native.with_log_append_time(good[:10], STAMP)
