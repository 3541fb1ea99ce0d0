"""Legacy message sets (magic 0 and 1, Produce v0-2) to the one magic-v2 batch kraft stores: a table
of message sets and the records they hold; damaged input is CorruptRecord, any input either converts
or raises it (Hypothesis)."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.errors import CorruptRecord
from kraft.protocol.kafka.message_sets import decode_message_set, encode_message_set, message_set_to_batch
from kraft.protocol.kafka.records import COMPRESSION_GZIP, decode_kafka_batch, read_kafka_header


def _field(b: bytes | None) -> bytes:
    return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b


def message(key: bytes | None, value: bytes | None, *, magic: int = 0, ts: int = -1, codec: int = 0,
            offset: int = 0) -> bytes:
    """One message set entry as Kafka 0.8-0.10 clients write it."""
    body = bytes([magic, codec]) + (struct.pack(">q", ts) if magic == 1 else b"") + _field(key) + _field(value)
    m = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", offset, len(m)) + m


def wrapper(inner: bytes, *, magic: int = 0, ts: int = -1) -> bytes:
    return message(None, gzip.compress(inner), magic=magic, ts=ts, codec=COMPRESSION_GZIP)


# (message set, the records it holds as (timestamp, key, value))
CASES = [
    (message(b"k", b"v"), [(-1, b"k", b"v")]),  # magic 0: no timestamp, -1 as Kafka gives it
    (message(None, b"v") + message(b"k2", None, offset=1), [(-1, None, b"v"), (-1, b"k2", None)]),
    (message(b"k", b"v", magic=1, ts=1_700_000_000_000), [(1_700_000_000_000, b"k", b"v")]),
    (wrapper(message(b"a", b"1") + message(b"b", b"2", offset=1)), [(-1, b"a", b"1"), (-1, b"b", b"2")]),
    (wrapper(message(b"a", b"1", magic=1, ts=5) + message(b"b", b"2", magic=1, ts=7, offset=1), magic=1, ts=7),
     [(5, b"a", b"1"), (7, b"b", b"2")]),
    (message(b"x", b"0") + wrapper(message(b"a", b"1")), [(-1, b"x", b"0"), (-1, b"a", b"1")]),
]


@pytest.mark.parametrize(("data", "records"), CASES)
def test_a_message_set_becomes_one_v2_batch_of_its_records(data: bytes, records: list[tuple[int, bytes | None,
                                                                                             bytes | None]]) -> None:
    assert [(ts, k, v) for ts, k, v, _ in decode_message_set(data)] == records
    batch = message_set_to_batch(data)
    got = decode_kafka_batch(batch, 0)
    assert [(offset, ts, k, v) for offset, ts, k, v, *_ in got] == [(i, *r) for i, r in enumerate(records)]
    header = read_kafka_header(batch)
    assert header.count == len(records) and header.producer_id == -1


def test_a_gzip_message_set_stays_gzip() -> None:
    assert read_kafka_header(message_set_to_batch(wrapper(message(b"a", b"1")))).compression == COMPRESSION_GZIP
    mixed = message(b"x", b"0") + wrapper(message(b"a", b"1"))
    assert read_kafka_header(message_set_to_batch(mixed)).compression == COMPRESSION_GZIP


BAD = [
    (b"", "no message"),
    (message(b"k", b"v")[:-1], "does not fit"),
    (message(b"k", b"v") + b"\x00\x00", "ends inside a message header"),
    (message(b"k", b"v")[:13] + b"\xff" + message(b"k", b"v")[14:], "CRC32"),  # a changed byte of the CRC
    (message(b"k", b"v", magic=2), "magic 2"),
    (wrapper(wrapper(message(b"a", b"1"))), "inside a compressed message"),
    (message(None, b"not gzip", codec=COMPRESSION_GZIP), "cannot decompress"),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_a_damaged_message_set_is_corrupt_record(data: bytes, reason: str) -> None:
    with pytest.raises(CorruptRecord, match=reason):
        message_set_to_batch(data)


@given(st.binary(max_size=200))
def test_any_bytes_convert_or_are_corrupt_record(data: bytes) -> None:
    try:
        message_set_to_batch(data)
    except CorruptRecord:
        pass


@given(st.lists(st.tuples(st.one_of(st.none(), st.binary(max_size=20)), st.one_of(st.none(), st.binary(max_size=20))),
                min_size=1, max_size=5))
def test_round_trip(records: list[tuple[bytes | None, bytes | None]]) -> None:
    data = b"".join(message(k, v, offset=i) for i, (k, v) in enumerate(records))
    assert [(k, v) for _, _, k, v, *_ in decode_kafka_batch(message_set_to_batch(data), 0)] == records


@pytest.mark.parametrize("magic", [0, 1])
def test_records_down_converted_to_a_message_set_read_back(magic: int) -> None:
    records = [(40, 1_700_000_000_000, b"k", b"v"), (42, 1_700_000_000_001, None, b"w"), (43, 5, b"k", None)]
    data = encode_message_set(records, magic)
    assert data.startswith(message(b"k", b"v", magic=magic, ts=1_700_000_000_000, offset=40))
    ts = (lambda t: t) if magic == 1 else (lambda t: -1)  # magic 0 has no timestamp
    assert [(t, k, v) for t, k, v, _ in decode_message_set(data)] == [(ts(t), k, v) for _, t, k, v in records]
    offsets, pos = [], 0
    while pos < len(data):  # each message keeps its own offset (a compacted log's gap stays one)
        offset, size = struct.unpack_from(">qi", data, pos)
        offsets.append(offset)
        pos += 12 + size
    assert offsets == [40, 42, 43]
