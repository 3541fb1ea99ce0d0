"""Kafka v2 record batch codec, cross-checked against kafka-python's own ``kafka.record``.

Batches built by kafka-python (every codec) must decode to what kafka-python reads back; batches
built here (encode_kafka_batch, native_to_kafka) must pass kafka-python's CRC check and read back
the same records; malformed input of every kind must raise CorruptRecord and nothing else.
"""

from __future__ import annotations

import struct
import sys
import warnings

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.errors import CorruptRecord, UnsupportedCompressionType, error_for_code
from kraft.protocol.batch import decode_batch, encode_batch
from kraft.protocol.kafka.records import (
    BATCH_HEADER,
    BATCH_HEADER_BYTES,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    KafkaBatchHeader,
    decode_kafka_batch,
    encode_kafka_batch,
    native_to_kafka,
    read_kafka_header,
    split_record_set,
    verify_kafka_batch,
    with_base_offset,
)

with warnings.catch_warnings():  # kafka-python's schema loader uses deprecated importlib.resources calls
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords

CODECS = [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD]
T0 = 1_700_000_000_123  # a ms timestamp that is not a whole second


def kp_records(batch: bytes) -> list[tuple]:
    """What kafka-python reads from ``batch``, in decode_kafka_batch's shape."""
    reader = DefaultRecordBatch(batch)
    assert reader.validate_crc()
    return [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in reader]


def kp_build(codec: int, n: int = 50, producer: tuple[int, int, int] = (-1, -1, -1)) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, False, *producer, batch_size=1 << 22)
    for i in range(n):
        key = None if i % 5 == 0 else b"key-%d" % i
        value = None if i % 11 == 3 else b"compressible value " * (i % 9 + 1)
        headers = [("trace", b"t%d" % i), ("empty", b""), ("null", None), ("ünï", b"\x00\xff")] if i % 4 == 0 else []
        builder.append(i, T0 + i * 7 - (i % 3) * 5, key, value, headers)
    return bytes(builder.build())


def rebuild(batch: bytes, *, attributes: int | None = None, payload: bytes | None = None) -> bytes:
    """``batch`` with new attributes and/or record payload, and a correct length and CRC."""
    fields = list(BATCH_HEADER.unpack_from(batch))
    if attributes is not None:
        fields[5] = attributes
    body = batch[BATCH_HEADER_BYTES:] if payload is None else payload
    fields[1] = BATCH_HEADER_BYTES - 12 + len(body)
    out = bytearray(BATCH_HEADER.pack(*fields) + body)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


# --- reading kafka-python's batches ------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_decodes_kafka_python_batches_of_every_codec(codec: int) -> None:
    batch = kp_build(codec, producer=(4321, 3, 17))
    header = verify_kafka_batch(batch)
    assert header.compression == codec  # the values compress, so kafka-python kept the codec
    assert (header.producer_id, header.producer_epoch, header.base_sequence, header.count) == (4321, 3, 17, 50)
    records = decode_kafka_batch(batch)
    assert records == kp_records(batch)
    assert records[0] == (0, T0, None, b"compressible value ", [("trace", b"t0"), ("empty", b""), ("null", None),
                                                                  ("ünï", b"\x00\xff")])
    assert records[3][3] is None
    assert [r[0] for r in decode_kafka_batch(batch, base_offset=1000)] == list(range(1000, 1050))


def test_decodes_raw_snappy_as_librdkafka_writes_it() -> None:
    snappy = pytest.importorskip("snappy")
    plain = kp_build(COMPRESSION_NONE)
    raw = rebuild(plain, attributes=COMPRESSION_SNAPPY, payload=snappy.compress(plain[BATCH_HEADER_BYTES:]))
    assert decode_kafka_batch(raw) == kp_records(plain) == kp_records(raw)


def test_decodes_multi_block_xerial_snappy_and_multi_frame_lz4_zstd() -> None:
    records = [(T0 + i, b"k%d" % i, bytes([i % 251]) * 400, []) for i in range(300)]  # > 32 KiB of records
    for codec in (COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD):
        batch = encode_kafka_batch(records, compression=codec)
        assert [r[1:4] for r in decode_kafka_batch(batch)] == [r[:3] for r in records]
        assert kp_records(batch) == decode_kafka_batch(batch)
    plain = encode_kafka_batch(records)
    body = plain[BATCH_HEADER_BYTES:]
    half = len(body) // 2
    import lz4.frame
    import zstandard

    two_lz4 = lz4.frame.compress(body[:half]) + lz4.frame.compress(body[half:])
    zc = zstandard.ZstdCompressor(write_content_size=False)
    two_zstd = zc.compress(body[:half]) + zc.compress(body[half:])
    expected = decode_kafka_batch(plain)
    assert decode_kafka_batch(rebuild(plain, attributes=COMPRESSION_LZ4, payload=two_lz4)) == expected
    assert decode_kafka_batch(rebuild(plain, attributes=COMPRESSION_ZSTD, payload=two_zstd)) == expected


def test_log_append_time_gives_every_record_max_timestamp() -> None:
    batch = kp_build(COMPRESSION_NONE, n=5)
    header = read_kafka_header(batch)
    stamped = rebuild(batch, attributes=header.attributes | 0x08)
    assert read_kafka_header(stamped).timestamp_type == 1
    assert {r[1] for r in decode_kafka_batch(stamped)} == {header.max_timestamp}
    assert decode_kafka_batch(stamped) == kp_records(stamped)


def test_control_batch_decodes_to_no_records() -> None:
    batch = kp_build(COMPRESSION_NONE, n=1, producer=(9, 0, 0))
    marker = rebuild(batch, attributes=0x20 | 0x10)
    header = verify_kafka_batch(marker)
    assert header.is_control and header.is_transactional
    assert decode_kafka_batch(marker) == []


def test_header_fields_and_properties() -> None:
    batch = encode_kafka_batch([(T0, b"k", b"v", []), (T0 + 9, None, None, [])], base_offset=77, producer_id=5,
                               producer_epoch=2, base_sequence=30, compression=COMPRESSION_GZIP)
    h = verify_kafka_batch(batch)
    assert isinstance(h, KafkaBatchHeader)
    assert (h.base_offset, h.batch_length, h.partition_leader_epoch, h.magic) == (77, len(batch) - 12, -1, 2)
    assert (h.last_offset_delta, h.first_timestamp, h.max_timestamp, h.count) == (1, T0, T0 + 9, 2)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (5, 2, 30)
    assert (h.compression, h.timestamp_type, h.is_transactional, h.is_control) == (1, 0, False, False)
    assert (h.size, h.last_offset) == (len(batch), 78)
    assert BATCH_HEADER_BYTES == BATCH_HEADER.size == 61


# --- kafka-python reading ours ----------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_encode_kafka_batch_is_read_by_kafka_python(codec: int) -> None:
    records = [
        (T0, b"k0", b"v0", [("a", b"1"), ("b", None)]),
        (T0 - 5, None, b"v1", []),
        (T0 + 2**33, b"k2", None, [("ünï", b"")]),
        (T0 + 1, b"", b"", []),
    ]
    batch = encode_kafka_batch(records, base_offset=500, producer_id=11, producer_epoch=4, base_sequence=99,
                               compression=codec)
    reader = DefaultRecordBatch(batch)
    assert reader.validate_crc()
    assert (reader.compression_type, reader.base_offset, reader.producer_id, reader.producer_epoch,
            reader.base_sequence, reader.last_offset_delta) == (codec, 500, 11, 4, 99, 3)
    expected = [(500 + i, ts, k, v, list(h)) for i, (ts, k, v, h) in enumerate(records)]
    assert kp_records(batch) == expected
    assert decode_kafka_batch(batch) == expected


def test_native_to_kafka_is_read_by_kafka_python() -> None:
    native = encode_batch([
        (T0, b"key", b"value", [("h1", b"x"), ("h2", b"")]),
        (T0 + 1, None, b"v", []),
        (T0 - 3, b"k", None, []),
        (T0 + 60_000, b"", b"", [("ünï", b"\xff")]),
    ], producer_id=42, base_sequence=7)
    batch = native_to_kafka(native, 1_000_000)
    reader = DefaultRecordBatch(batch)
    assert reader.validate_crc()
    assert (reader.base_offset, reader.producer_id, reader.producer_epoch) == (1_000_000, 42, 0)
    assert reader.base_sequence == 7
    assert (reader.magic, reader.compression_type, reader.timestamp_type, reader.leader_epoch) == (2, 0, 0, -1)
    assert (reader.first_timestamp, reader.max_timestamp) == (T0, T0 + 60_000)
    assert kp_records(batch) == decode_batch(native, 1_000_000) == decode_kafka_batch(batch)


def test_native_to_kafka_without_producer_id_has_epoch_minus_one() -> None:
    batch = native_to_kafka(encode_batch([(T0, None, b"v", [])]), 0)
    h = verify_kafka_batch(batch)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (-1, -1, -1)


def test_native_to_kafka_large_varints() -> None:
    # > 8192 records and > 8192-byte values: the varint table's fallback paths, on both sides.
    native = encode_batch([(T0 + (i % 7) * 10**9 - 10**9, b"k", b"v", []) for i in range(9000)]
                          + [(T0, b"K" * 20_000, b"V" * 70_000, [("h" * 9000, b"x" * 9000)])])
    batch = native_to_kafka(native, 3)
    assert decode_kafka_batch(batch) == decode_batch(native, 3) == kp_records(batch)


def test_native_to_kafka_with_first_delta_not_zero() -> None:
    from kraft.protocol.batch import encode_relative

    native = encode_relative([(5, b"a", b"b", ()), (2, b"c", b"d", ())], T0, T0 + 5)
    batch = native_to_kafka(native, 0)
    assert read_kafka_header(batch).first_timestamp == T0 + 5
    assert kp_records(batch) == decode_batch(native, 0) == decode_kafka_batch(batch)


def test_several_batches_read_as_memory_records() -> None:
    batches = [native_to_kafka(encode_batch([(T0 + i, b"k", b"v%d" % i, [])] * 3), i * 3) for i in range(3)]
    records = MemoryRecords(b"".join(batches))
    offsets = []
    while (b := records.next_batch()) is not None:
        assert b.validate_crc()
        offsets += [r.offset for r in b]
    assert offsets == list(range(9))


timestamps = st.integers(min_value=0, max_value=2**41)
native_records = st.lists(
    st.tuples(
        timestamps,
        st.none() | st.binary(max_size=300),
        st.none() | st.binary(max_size=300),
        st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(recs=native_records, base=st.integers(min_value=0, max_value=2**62), pid=st.integers(-1, 2**40),
       seq=st.integers(-1, 2**31 - 1), columns=st.booleans())
def test_native_to_kafka_round_trip(recs: list, base: int, pid: int, seq: int, columns: bool) -> None:
    native = encode_batch(recs, producer_id=pid, base_sequence=seq, columns=columns)
    batch = native_to_kafka(native, base)
    expected = decode_batch(native, base)
    assert decode_kafka_batch(batch) == expected
    assert kp_records(batch) == expected
    h = verify_kafka_batch(batch)
    assert (h.producer_id, h.base_sequence, h.count, h.base_offset) == (pid, seq, len(recs), base)
    assert h.max_timestamp == max(r[0] for r in recs)


@settings(max_examples=60, deadline=None)
@given(recs=native_records.map(lambda rs: [(t, k, v, [(n, None if i % 2 else hv) for i, (n, hv) in enumerate(h)])
                                           for t, k, v, h in rs]),
       codec=st.sampled_from(CODECS))
def test_encode_kafka_batch_round_trip(recs: list, codec: int) -> None:
    batch = encode_kafka_batch(recs, base_offset=10, compression=codec)
    expected = [(10 + i, t, k, v, list(h)) for i, (t, k, v, h) in enumerate(recs)]
    assert decode_kafka_batch(batch) == expected == kp_records(batch)


# --- malformed input --------------------------------------------------------------------------


def test_crc_corruption_anywhere_after_the_crc_is_caught() -> None:
    batch = encode_kafka_batch([(T0, b"key", b"value", [("h", b"v")])], producer_id=1, producer_epoch=0,
                               base_sequence=0)
    for i in range(21, len(batch)):
        damaged = bytearray(batch)
        damaged[i] ^= 0x01
        with pytest.raises(CorruptRecord, match="crc32c"):
            decode_kafka_batch(bytes(damaged))
    damaged = bytearray(batch)
    damaged[17] ^= 0x80  # the stored crc itself
    with pytest.raises(CorruptRecord):
        verify_kafka_batch(bytes(damaged))


def test_truncation_at_every_length_is_corrupt() -> None:
    batch = encode_kafka_batch([(T0, b"key", b"value", [("h", b"v")]), (T0, None, b"x", [])])
    for cut in range(len(batch)):
        with pytest.raises(CorruptRecord):
            decode_kafka_batch(batch[:cut])
        with pytest.raises(CorruptRecord):
            read_kafka_header(batch[:cut])


@pytest.mark.parametrize("magic", [0, 1, 3])
def test_wrong_magic_is_corrupt(magic: int) -> None:
    batch = bytearray(encode_kafka_batch([(T0, b"k", b"v", [])]))
    batch[16] = magic
    with pytest.raises(CorruptRecord, match="magic"):
        read_kafka_header(bytes(batch))
    with pytest.raises(CorruptRecord, match="magic"):
        split_record_set(bytes(batch))


def test_batch_length_must_match() -> None:
    batch = encode_kafka_batch([(T0, b"k", b"v", [])])
    with pytest.raises(CorruptRecord, match="batch_length"):
        read_kafka_header(batch + b"\x00")
    with pytest.raises(CorruptRecord):
        read_kafka_header(b"")


_PLAIN = encode_kafka_batch([(T0, b"key", b"value", [("h", b"v")]), (T0, b"k", b"v", [])])
_BODY = _PLAIN[BATCH_HEADER_BYTES:]


@pytest.mark.parametrize("payload", [
    pytest.param(_BODY + b"\x00", id="trailing-bytes"),
    pytest.param(_BODY[: 1 + _BODY[0] // 2], id="missing-record"),
    pytest.param(_BODY[:-2], id="last-record-cut-short"),
    pytest.param(bytes([_BODY[0] + 2]) + _BODY[1:], id="record-length-off"),
    pytest.param(_BODY.replace(b"value\x02", b"value\x03", 1), id="negative-header-count"),
    pytest.param(_BODY.replace(b"\x02h", b"\x02\xff", 1), id="bad-utf8-header-name"),
    pytest.param(b"\xff" * 12, id="overlong-varint"),
    pytest.param(b"", id="empty"),
])
def test_bad_record_structure_with_a_valid_crc_is_corrupt(payload: bytes) -> None:
    with pytest.raises(CorruptRecord, match="malformed record"):
        decode_kafka_batch(rebuild(_PLAIN, payload=payload))


@pytest.mark.parametrize("codec", [COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD, 5, 6, 7])
def test_undecompressable_payload_is_corrupt(codec: int) -> None:
    plain = encode_kafka_batch([(T0, b"k", b"v", [])])
    for payload in (b"", b"garbage that is no codec's stream", b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00"):
        with pytest.raises(CorruptRecord):
            decode_kafka_batch(rebuild(plain, attributes=codec, payload=payload))
    good = encode_kafka_batch([(T0, b"k", b"v" * 500, [])], compression=codec if codec < 5 else 1)
    truncated = good[BATCH_HEADER_BYTES:-3]
    with pytest.raises(CorruptRecord):
        decode_kafka_batch(rebuild(good, attributes=codec, payload=truncated))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=200), attributes=st.integers(0, 0x3F), count=st.integers(-2, 5))
def test_garbage_with_a_valid_crc_raises_only_corrupt_record(payload: bytes, attributes: int, count: int) -> None:
    plain = encode_kafka_batch([(T0, b"k", b"v", [])])
    fields = list(BATCH_HEADER.unpack_from(plain))
    fields[12] = count
    batch = rebuild(BATCH_HEADER.pack(*fields), attributes=attributes, payload=payload)
    try:
        records = decode_kafka_batch(batch)
    except CorruptRecord:
        return
    assert isinstance(records, list)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=120))
def test_random_bytes_raise_only_corrupt_record(data: bytes) -> None:
    for fn in (decode_kafka_batch, verify_kafka_batch, split_record_set):
        try:
            fn(data)
        except CorruptRecord:
            pass


def test_native_to_kafka_rejects_corrupt_native_batches() -> None:
    native = bytearray(encode_batch([(T0, b"k", b"v", [])]))
    native[-1] ^= 0xFF
    with pytest.raises(CorruptRecord):
        native_to_kafka(bytes(native), 0)
    with pytest.raises(CorruptRecord):
        native_to_kafka(b"\x01" + b"\x00" * 10, 0)


@pytest.mark.parametrize("records", [
    [(0, 5, b"v", ())],
    [(0.5, b"k", b"v", ())],
    [(0, b"k", "text", ())],
    [(0, b"k", b"v", ((b"name", b"v"),))],
    [(0, b"k", b"v", (("name", "v"),))],
    [(0, b"k", b"v", (("name",),))],
    [(0, b"k", b"v")],
    [7],
], ids=lambda r: repr(r)[:40])
def test_native_to_kafka_rejects_wrongly_typed_records_under_a_valid_crc(records: list) -> None:
    from kraft.protocol.batch import encode_relative

    native = encode_relative(records, T0, T0)
    with pytest.raises(CorruptRecord):
        decode_batch(native, 0)
    with pytest.raises(CorruptRecord):
        native_to_kafka(native, 0)


# --- splitting and patching -------------------------------------------------------------------


def test_split_record_set() -> None:
    one = kp_build(COMPRESSION_NONE, n=3)
    three = [one, encode_kafka_batch([(T0, b"a", b"b", [])], compression=COMPRESSION_GZIP), kp_build(COMPRESSION_LZ4)]
    assert split_record_set(one) == [one]
    assert split_record_set(b"".join(three)) == three
    assert split_record_set(memoryview(b"".join(three))) == three
    assert split_record_set(b"") == []
    for cut in (1, 11, 12, 61, len(three[2]) - 1):
        with pytest.raises(CorruptRecord, match=r"truncated|stray|magic|shorter"):
            split_record_set(b"".join(three)[:-cut])


def test_split_rejects_a_legacy_message_set_and_a_short_length() -> None:
    # A magic 1 message: offset, size, crc, magic 1, attributes, timestamp, key -1, value.
    body = struct.pack(">bbqi", 1, 0, T0, -1) + struct.pack(">i", 1) + b"v"
    legacy = struct.pack(">qiI", 0, 4 + len(body), 0) + body
    with pytest.raises(CorruptRecord, match="magic 1"):
        split_record_set(legacy)
    tiny = bytearray(encode_kafka_batch([(T0, b"k", b"v", [])]))
    struct.pack_into(">i", tiny, 8, 20)
    with pytest.raises(CorruptRecord, match="shorter"):
        split_record_set(bytes(tiny))


def test_with_base_offset_keeps_the_crc_valid() -> None:
    for batch in (kp_build(COMPRESSION_ZSTD), native_to_kafka(encode_batch([(T0, b"k", b"v", [])] * 4), 0)):
        moved = with_base_offset(batch, 2**40 + 5)
        assert verify_kafka_batch(moved).base_offset == 2**40 + 5
        assert DefaultRecordBatch(moved).validate_crc()
        assert [r[0] for r in decode_kafka_batch(moved)] == [2**40 + 5 + i for i in range(len(kp_records(batch)))]
        assert moved[8:12] == batch[8:12] and moved[16:] == batch[16:]
        assert moved[12:16] == b"\xff\xff\xff\xff"  # partition leader epoch: unknown
    # a producer's own partition leader epoch is not served (a Kafka broker overwrites it too)
    claimed = bytearray(kp_build(COMPRESSION_NONE))
    claimed[12:16] = (77).to_bytes(4, "big")
    assert verify_kafka_batch(with_base_offset(claimed, 3)).partition_leader_epoch == -1
    with pytest.raises(CorruptRecord):
        with_base_offset(b"\x00" * 10, 1)


# --- missing codec packages -------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "module", "package"), [
    (COMPRESSION_SNAPPY, "snappy", "python-snappy"),
    (COMPRESSION_LZ4, "lz4.frame", "lz4"),
    (COMPRESSION_ZSTD, "zstandard", "zstandard"),
])
def test_missing_codec_package_is_named(codec: int, module: str, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = kp_build(codec, n=5)
    monkeypatch.setitem(sys.modules, module, None)  # makes the import raise ImportError
    with pytest.raises(UnsupportedCompressionType, match=f"pip install {package}") as info:
        decode_kafka_batch(batch)
    assert info.value.code == 76
    with pytest.raises(UnsupportedCompressionType):
        encode_kafka_batch([(T0, b"k", b"v", [])], compression=codec)


def test_unsupported_compression_type_is_registered() -> None:
    err = error_for_code(76, "x")
    assert isinstance(err, UnsupportedCompressionType)
    assert err.name == "UNSUPPORTED_COMPRESSION_TYPE"


def test_encode_rejects_empty_and_unknown_codec() -> None:
    with pytest.raises(ValueError):
        encode_kafka_batch([])
    with pytest.raises(CorruptRecord):
        encode_kafka_batch([(T0, b"k", b"v", [])], compression=6)


def test_benchmark_function_runs() -> None:
    from benchmarks.kafka_convert import bench_native_to_kafka

    result = bench_native_to_kafka(records=50, value_bytes=10)
    assert result["native_to_kafka_records_per_s"] > 0
    assert result["decode_kafka_batch_records_per_s"] > 0
