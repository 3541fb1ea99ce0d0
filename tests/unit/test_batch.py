"""Record batch codec: round trips in both layouts (rows, columns), header fields, CRC corruption,
malformed input, and the conversions a node makes (rows for old consumers, LogAppendTime stamps)."""

from __future__ import annotations

import contextlib
import struct
import zlib

import msgpack
import pytest
from crc32c import crc32c as library_crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.errors import CorruptRecord
from kraft.protocol.batch import (
    HEADER,
    HEADER_BYTES,
    MAGIC_COLUMNS,
    MAGIC_ROWS,
    as_rows,
    crc32,
    decode_batch,
    decode_columns,
    encode_batch,
    encode_relative,
    native_rows,
    read_batch_header,
    verify_batch,
    with_log_append_time,
)
from kraft.protocol.kafka.records import crc32c

timestamps = st.integers(min_value=0, max_value=2**41)
records = st.lists(
    st.tuples(
        timestamps,
        st.none() | st.binary(max_size=30),
        st.none() | st.binary(max_size=60),
        st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200)
@given(
    recs=records,
    base=st.integers(min_value=0, max_value=2**50),
    pid=st.integers(min_value=-1, max_value=2**40),
    seq=st.integers(min_value=-1, max_value=2**31 - 1),
    columns=st.booleans(),
)
def test_round_trip(recs, base, pid, seq, columns):
    batch = encode_batch(recs, producer_id=pid, base_sequence=seq, columns=columns)
    header = verify_batch(batch)
    assert header.magic == (MAGIC_COLUMNS if columns else MAGIC_ROWS)
    assert header.count == len(recs)
    assert header.first_timestamp == recs[0][0]
    assert header.max_timestamp == max(r[0] for r in recs)
    assert (header.producer_id, header.base_sequence) == (pid, seq)
    assert read_batch_header(batch) == header
    decoded = decode_batch(batch, base)
    assert decoded == [(base + i, ts, k, v, list(h)) for i, (ts, k, v, h) in enumerate(recs)]


def test_header_layout():
    batch = encode_batch([(1000, b"k", b"v", [("h", b"x")]), (999, None, None, [])])
    assert HEADER_BYTES == 37
    magic, crc, count, first, max_ts, pid, seq = HEADER.unpack_from(batch)
    assert (magic, count, first, max_ts, pid, seq) == (1, 2, 1000, 1000, -1, -1)
    assert crc == zlib.crc32(batch[5:])
    assert msgpack.unpackb(batch[37:]) == [[0, b"k", b"v", [["h", b"x"]]], [-1, None, None, []]]


def test_empty_batch_is_refused():
    with pytest.raises(ValueError):
        encode_batch([])
    with pytest.raises(ValueError):
        encode_relative([], 0, 0)


@settings(max_examples=100)
@given(recs=records)
def test_relative_encoding_is_the_same_batch(recs):
    first = recs[0][0]
    relative = [(ts - first, k, v, tuple(h)) for ts, k, v, h in recs]
    assert encode_relative(relative, first, max(r[0] for r in recs), 7, 3) == encode_batch(recs, 7, 3)


@settings(max_examples=200)
@given(recs=records, data=st.data())
def test_any_single_byte_corruption_is_detected(recs, data):
    batch = bytearray(encode_batch(recs))
    i = data.draw(st.integers(min_value=0, max_value=len(batch) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    batch[i] ^= flip
    with pytest.raises(CorruptRecord):
        verify_batch(bytes(batch))
    with pytest.raises(CorruptRecord):
        decode_batch(bytes(batch), 0)


def test_short_batch():
    with pytest.raises(CorruptRecord):
        read_batch_header(b"\x01" * 36)


@pytest.mark.parametrize("magic", [0, 3, 255])
def test_bad_magic(magic):
    batch = bytearray(encode_batch([(1, None, b"v", [])]))
    batch[0] = magic
    with pytest.raises(CorruptRecord):
        read_batch_header(bytes(batch))


def _with_body(body: bytes, count: int, magic: int = MAGIC_ROWS) -> bytes:
    rest = struct.pack(">Iqqqi", count, 0, 0, -1, -1) + body
    return struct.pack(">BI", magic, zlib.crc32(rest)) + rest


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b"\xc1", 1),  # not msgpack
        (msgpack.packb([[0, None, b"v", []]]), 2),  # count mismatch
        (msgpack.packb([[0, None, b"v"]]), 1),  # record of 3 fields
        (msgpack.packb([[0, "k", b"v", []]], use_bin_type=True), 1),  # str key
        (msgpack.packb([[0, None, b"v", []], [0, 7, b"v", []]], use_bin_type=True), 2),  # int key among Nones
        (msgpack.packb([[0, b"k", b"v", []], [0, b"k", "v", []]], use_bin_type=True), 2),  # str value
        (msgpack.packb([[0, None, b"v", []], [0, None, b"v", 5]], use_bin_type=True), 2),  # int headers
        (msgpack.packb([[0, None, b"v", [["h"]]]]), 1),  # header of 1 field
        (msgpack.packb([[0.5, None, b"v", []]]), 1),  # float delta
        (msgpack.packb({"a": 1}), 1),  # not an array
        (msgpack.packb([[0, None, b"v", []]]), 0),  # count 0
    ],
)
def test_valid_crc_over_malformed_body(body, count):
    with pytest.raises(CorruptRecord):
        decode_batch(_with_body(body, count), 0)


def _packed(body: object) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b"\xc1", 1),  # not msgpack
        (_packed([[0], [None], [b"v"]]), 1),  # three columns
        (_packed([[0], [None], [b"v"], [[]], [1]]), 1),  # five columns
        (_packed([[0, 0], [None], [b"v", b"v"], [[], []]]), 2),  # a short column
        (_packed([[0], [None], [b"v"], [[]]]), 2),  # count mismatch
        (_packed([[0, None, b"v", []]]), 1),  # a record in rows under the columns magic
        (_packed([[0], None, [b"v"], [[]]]), 1),  # a column that is not an array
        (_packed([[0], {"k": 1}, [b"v"], [[]]]), 1),  # a column that is a map
        (_packed({"a": 1}), 1),  # not an array
        (_packed([[0.5], [None], [b"v"], [[]]]), 1),  # float delta
        (_packed([[True], [None], [b"v"], [[]]]), 1),  # bool delta
        (_packed([[0], ["k"], [b"v"], [[]]]), 1),  # str key
        (_packed([[0, 0], [None, None], [b"v", "v"], [[], []]]), 2),  # str value
        (_packed([[0], [None], [b"v"], [5]]), 1),  # int headers
        (_packed([[0], [None], [b"v"], [[["h"]]]]), 1),  # header of 1 field
        (_packed([[0], [None], [b"v"], [[["h", "v"]]]]), 1),  # header value str
        (_packed([[0], [None], [b"v"], [[]]]), 0),  # count 0
    ],
)
def test_valid_crc_over_malformed_columns(body, count):
    with pytest.raises(CorruptRecord):
        decode_batch(_with_body(body, count, MAGIC_COLUMNS), 0)


@pytest.mark.parametrize("columns", [False, True])
def test_the_node_s_conversions_keep_the_records(columns):
    recs = [(1000, None, b"a", []), (1003, b"k", None, [("h", b"1")]), (1001, b"k2", b"c", [])]
    batch = encode_batch(recs, producer_id=7, base_sequence=40, columns=columns)
    rows = as_rows(batch)
    assert rows[0] == MAGIC_ROWS and (rows == batch) is (not columns)
    assert decode_batch(rows, 5) == decode_batch(batch, 5)
    header, body = native_rows(batch)
    assert (header.producer_id, header.base_sequence) == (7, 40)
    assert (header.first_timestamp, header.max_timestamp) == (1000, 1003)
    assert [tuple(r[:3]) for r in body] == [(0, None, b"a"), (3, b"k", None), (1, b"k2", b"c")]
    stamped = with_log_append_time(batch, 5000)
    assert stamped[0] == batch[0]  # the layout is kept
    assert [r[1] for r in decode_batch(stamped, 0)] == [5000, 5000, 5000]
    assert read_batch_header(stamped).producer_id == 7


def test_rows_for_an_old_consumer_are_never_made_from_a_corrupt_batch():
    batch = bytearray(encode_batch([(1, None, b"value", [])], columns=True))
    batch[-1] ^= 1
    with pytest.raises(CorruptRecord):
        as_rows(bytes(batch))


def test_columns_decode_into_the_same_columns_as_rows():
    recs = [(i // 3, None if i % 2 else b"k%d" % i, b"v" * i, [] if i % 4 else [("h", b"x")]) for i in range(50)]
    assert decode_columns(encode_batch(recs, columns=True), 9) == decode_columns(encode_batch(recs), 9)


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_fuzz_decode_is_total(data):
    with contextlib.suppress(CorruptRecord):
        decode_batch(data, 0)


@settings(max_examples=300)
@given(body=st.binary(max_size=80), count=st.integers(min_value=0, max_value=5),
       magic=st.sampled_from([MAGIC_ROWS, MAGIC_COLUMNS]))
def test_fuzz_bodies_behind_a_valid_crc(body, count, magic):
    with contextlib.suppress(CorruptRecord):
        decode_batch(_with_body(body, count, magic), 0)


@pytest.mark.parametrize("size", [0, 1, 5119, 5120, 5121, 10240, 65536, 65537, 1 << 20])
def test_the_crc_in_pieces_is_zlibs_crc(size: int) -> None:
    """kraft.protocol.batch.crc32 checks a batch in pieces no larger than zlib's GIL-release
    threshold; the CRC is zlib's, with or without a start value."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert crc32(data) == zlib.crc32(data)
    assert crc32(memoryview(data), 0x1234) == zlib.crc32(data, 0x1234)


def test_kafkas_crc32c_is_the_librarys() -> None:
    data = bytes(range(256)) * 300
    assert crc32c(data) == library_crc32c(data) == crc32c(memoryview(data))


_fields = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.binary(max_size=3), st.text(max_size=3),
                    st.floats(allow_nan=False, width=32),
                    st.lists(st.one_of(st.none(), st.binary(max_size=2), st.text(max_size=2)), max_size=2))


@settings(max_examples=300)
@given(columns=st.lists(st.lists(_fields, min_size=0, max_size=3), min_size=3, max_size=5),
       count=st.integers(min_value=0, max_value=3))
def test_fuzz_column_bodies_of_the_right_shape(columns, count):
    """Bodies that pass the shape check (arrays of arrays) with fields of any type: decoding and the
    node's conversions raise CorruptRecord or succeed, never anything else."""
    batch = _with_body(_packed(columns), count, MAGIC_COLUMNS)
    for convert in (lambda b: decode_batch(b, 0), as_rows, native_rows, lambda b: with_log_append_time(b, 5)):
        with contextlib.suppress(CorruptRecord):
            convert(batch)


@pytest.mark.parametrize("count", [1, 3, 4, 5, 20])
@pytest.mark.parametrize("columns", [True, False])
def test_a_magic_flipped_between_the_layouts_is_caught(count: int, columns: bool) -> None:
    """The magic byte lies outside the CRC: a batch read in the other layout must not pass (Hypothesis
    found a one-record batch whose flipped magic passed verify_batch)."""
    batch = bytearray(encode_batch([(i, b"k" if i % 2 else None, b"v%d" % i, [("h", b"x")] if i % 3 else [])
                                    for i in range(count)], columns=columns))
    batch[0] = MAGIC_ROWS if columns else MAGIC_COLUMNS
    with pytest.raises(CorruptRecord):
        verify_batch(bytes(batch))
