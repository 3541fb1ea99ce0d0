"""Kafka record batches (magic v2): reading, verifying, splitting, converting and decoding.

This module owns the byte-level Kafka v2 record batch format for kraft's Kafka front end:

* the 61-byte batch header (:data:`BATCH_HEADER`, :class:`KafkaBatchHeader`) and its CRC32C,
  which covers bytes 21..end (attributes onward), so base offset, batch length and partition
  leader epoch can be patched without recomputing it (:func:`with_base_offset`: the log serves each
  batch with the leader epoch it was written in, ``kraft.state.leader_epochs``);
* splitting a Produce request's ``records`` field into its batches (:func:`split_record_set`);
* stamping a batch with the leader's clock for a LogAppendTime topic (:func:`with_log_append_time`);
* converting a kraft native batch (:mod:`kraft.protocol.batch`) into an uncompressed v2 batch for a
  Kafka consumer (:func:`native_to_kafka`, on the broker's fetch path);
* decoding a v2 batch, compressed or not, into kraft's ``RecordOut`` tuples
  (:func:`decode_kafka_batch`, in kraft's native consumer);
* building v2 batches for tests and tools (:func:`encode_kafka_batch`);
* rewriting a batch with only some of its records, as Kafka's log cleaner does for compacted
  topics (:func:`compact_kafka_batch`): base offset, offset deltas, last offset delta, timestamps,
  producer id, epoch and base sequence and the compression codec are kept.

The broker never decompresses on the way to storage (it verifies, stores and patches Kafka batches
verbatim), except to check keys on a compacted topic. The native consumer decompresses, with the
optional packages kafka-python itself uses (python-snappy, lz4, zstandard:
``pip install 'kraft[kafka-codecs]'``), imported on first use.

Pure functions over bytes, no I/O. Malformed input raises :class:`~kraft.errors.CorruptRecord`.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from crc32c import crc32c as _crc32c

from kraft.errors import CorruptRecord, UnsupportedCompressionType
from kraft.protocol.batch import RecordOut, native_rows

__all__ = [
    "BATCH_HEADER",
    "BATCH_HEADER_BYTES",
    "COMPRESSION_GZIP",
    "COMPRESSION_LZ4",
    "COMPRESSION_NONE",
    "COMPRESSION_SNAPPY",
    "COMPRESSION_ZSTD",
    "KafkaBatchHeader",
    "KafkaRecordIn",
    "compact_kafka_batch",
    "decode_kafka_batch",
    "decompress",
    "encode_kafka_batch",
    "kafka_header_fields",
    "native_to_kafka",
    "read_kafka_header",
    "split_record_set",
    "verify_kafka_batch",
    "with_base_offset",
    "with_log_append_time",
]


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C without letting go of the GIL. The library releases it above 32 KiB, but a batch's CRC
    takes microseconds (hardware CRC, about 5 us for 64 KiB) while taking the GIL back can wait for
    the other busy thread's whole switch interval: in a node's asyncio thread, behind the Raft driver
    thread (0.27 ms on average per verified batch under librdkafka's producer, cProfile)."""
    return _crc32c(data, gil_release_mode=0)


MAGIC = 2
# base_offset, batch_length, partition_leader_epoch, magic, crc, attributes, last_offset_delta,
# first_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence, count
BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
BATCH_HEADER_BYTES = BATCH_HEADER.size  # 61
# Everything before the CRC'd region, and the CRC'd part of the header: building a batch packs
# them separately because the CRC must be known before the prefix can be written.
_PREFIX = struct.Struct(">qiibI")
_TAIL = struct.Struct(">hiqqqhii")
_CRC_START = _PREFIX.size  # 21: the CRC covers batch[21:]
_LENGTH_END = 12  # batch_length counts the bytes after base_offset (8) and itself (4)
_MAGIC_AT = 16
_OFFSET_LENGTH = struct.Struct(">qi")
_BASE_OFFSET = struct.Struct(">q")
_EPOCH = struct.Struct(">i")  # partition leader epoch
_NO_EPOCH = _EPOCH.pack(-1)  # unknown
_MIN_BATCH_LENGTH = BATCH_HEADER_BYTES - _LENGTH_END

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20
TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1

# (timestamp_ms, key, value, headers); a header value may be None, which Kafka allows.
KafkaRecordIn = tuple[int, bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]


@dataclass(frozen=True, slots=True)
class KafkaBatchHeader:
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int

    @property
    def compression(self) -> int:
        return self.attributes & _COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        """0 CreateTime, 1 LogAppendTime (every record then carries ``max_timestamp``)."""
        return 1 if self.attributes & _TIMESTAMP_TYPE_BIT else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def size(self) -> int:
        """Bytes of the whole batch, header included."""
        return self.batch_length + _LENGTH_END

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta


# --- header, CRC, splitting -------------------------------------------------------------------


def _check_magic(batch: bytes | bytearray | memoryview, at: int = 0) -> None:
    if len(batch) > at + _MAGIC_AT:
        magic = batch[at + _MAGIC_AT]
        if magic != MAGIC:
            # Magic 0/1 message sets (pre-0.11 clients) would need a whole second codec; kraft
            # advertises Produce >= 3 so that modern clients never send them.
            raise CorruptRecord(f"record batch magic {magic}, only magic {MAGIC} is supported")


def read_kafka_header(batch: bytes | bytearray | memoryview) -> KafkaBatchHeader:
    """The header of the single batch ``batch`` without checking its CRC.

    CorruptRecord if it is shorter than a header, not magic 2, or its batch_length does not
    account for exactly ``len(batch)`` bytes.
    """
    _check_magic(batch)
    if len(batch) < BATCH_HEADER_BYTES:
        raise CorruptRecord(f"kafka batch of {len(batch)} bytes is shorter than its {BATCH_HEADER_BYTES}-byte header")
    header = KafkaBatchHeader(*BATCH_HEADER.unpack_from(batch, 0))
    if header.batch_length + _LENGTH_END != len(batch):
        raise CorruptRecord(f"kafka batch_length {header.batch_length} does not match a {len(batch)}-byte batch")
    if header.count < 0:
        raise CorruptRecord(f"kafka batch record count {header.count} is negative")
    return header


def kafka_header_fields(buf: bytes | bytearray | memoryview, at: int = 0) -> tuple[int, int, int, int, int]:
    """(count, max_timestamp, producer_id, producer_epoch, base_sequence) of the batch at ``buf[at:]``,
    unchecked (the partition state machine's per-apply read of a verified batch). The count is
    last_offset_delta + 1: the offsets a batch takes, Kafka's own rule."""
    _attrs, last_delta, _first, max_timestamp, producer_id, epoch, base_sequence, _count = _TAIL.unpack_from(
        buf, at + _CRC_START)
    return last_delta + 1, max_timestamp, producer_id, epoch, base_sequence


def verify_kafka_batch(batch: bytes | bytearray | memoryview) -> KafkaBatchHeader:
    """The header of ``batch`` after checking its CRC32C; CorruptRecord on any mismatch."""
    header = read_kafka_header(batch)
    with memoryview(batch) as view:
        actual = crc32c(view[_CRC_START:])
    if actual != header.crc:
        raise CorruptRecord(f"kafka batch crc32c {actual:#010x} does not match header crc {header.crc:#010x}")
    return header


def split_record_set(data: bytes | bytearray | memoryview) -> list[bytes]:
    """The batches concatenated in ``data`` (a Produce request's ``records``), each as bytes.

    Splits by batch_length only (no CRC check: see :func:`verify_kafka_batch`). CorruptRecord on a
    truncated tail, a batch_length too small for a header, or a magic 0/1 message set.
    """
    return [bytes(view) for view in record_set_views(data)]


def record_set_views(data: bytes | bytearray | memoryview) -> list[memoryview]:
    """:func:`split_record_set` without copying: views into ``data``."""
    out: list[memoryview] = []
    pos = 0
    end = len(data)
    view = memoryview(data)
    while pos < end:
        if end - pos < _LENGTH_END:
            raise CorruptRecord(f"record set ends with {end - pos} stray bytes")
        _, length = _OFFSET_LENGTH.unpack_from(view, pos)
        _check_magic(view, pos)
        if length < _MIN_BATCH_LENGTH:
            raise CorruptRecord(f"kafka batch_length {length} is shorter than a batch header")
        stop = pos + _LENGTH_END + length
        if stop > end:
            raise CorruptRecord(f"record set truncated: batch at byte {pos} needs {stop - end} more bytes")
        out.append(view[pos:stop])
        pos = stop
    return out


def with_base_offset(batch: bytes | bytearray | memoryview, base_offset: int, leader_epoch: int = -1) -> bytes:
    """``batch`` with its base offset replaced and its partition leader epoch set to ``leader_epoch``
    (the epoch the log wrote it in; -1: unknown; whatever the producer put there is not one, and a
    Kafka broker overwrites it too); both lie outside the CRC, so it stays valid."""
    if len(batch) < BATCH_HEADER_BYTES:
        raise CorruptRecord(f"kafka batch of {len(batch)} bytes is shorter than its {BATCH_HEADER_BYTES}-byte header")
    epoch = _NO_EPOCH if leader_epoch == -1 else _EPOCH.pack(leader_epoch)
    with memoryview(batch) as view:
        return b"".join((_BASE_OFFSET.pack(base_offset), view[8:12], epoch, view[16:]))


_ATTRIBUTES = struct.Struct(">h")
_STAMPS = struct.Struct(">qq")  # first and max timestamp, after attributes and last offset delta
_STAMPS_AT = 6


def with_log_append_time(batch: bytes | bytearray | memoryview, timestamp_ms: int) -> bytes:
    """``batch`` as a Kafka broker stores it in a LogAppendTime topic: the timestamp-type attribute
    set, first and max timestamps ``timestamp_ms`` (readers then give every record the max
    timestamp; records keep their bytes, so nothing is decompressed) and the CRC32C, which covers
    all three, recomputed. Kafka's record builder sets both timestamps this way."""
    header = read_kafka_header(batch)
    covered = bytearray(batch[_CRC_START:])
    # two packs: a pad byte in one struct would write zeros over the last offset delta between them
    _ATTRIBUTES.pack_into(covered, 0, header.attributes | _TIMESTAMP_TYPE_BIT)
    _STAMPS.pack_into(covered, _STAMPS_AT, timestamp_ms, timestamp_ms)
    return b"".join((bytes(batch[:_CRC_START - 4]), struct.pack(">I", crc32c(covered)), covered))


# --- encoding ---------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    """Kafka's zigzag varint/varlong of ``n`` (any int64)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Zigzag varints of 0..8191 (one or two bytes), looked up instead of computed: offset deltas,
# key/value/record lengths and small timestamp deltas all fall here on the hot path.
_VARINT_TABLE_SIZE = 8192
_VARINTS: tuple[bytes, ...] = tuple(_varint(i) for i in range(_VARINT_TABLE_SIZE))
_NULL = _varint(-1)  # b"\x01": a null key, value or header value
_ZERO = _VARINTS[0]  # b"\x00": attributes byte, and "no headers"


def _encode_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    table, size = _VARINTS, _VARINT_TABLE_SIZE
    n = len(headers)
    parts = [table[n] if n < size else _varint(n)]
    append = parts.append
    for name, value in headers:
        raw = name.encode()
        n = len(raw)
        append(table[n] if n < size else _varint(n))
        append(raw)
        if value is None:
            append(_NULL)
        else:
            n = len(value)
            append(table[n] if n < size else _varint(n))
            append(value)
    return b"".join(parts)


def _encode_records(records: Sequence[Any], t0: int, offset_deltas: Sequence[int] | None = None) -> list[bytes]:
    """The encoded records, each as ``[length varint, record]``, after one empty slot at index 0.

    ``records`` are ``(timestamp, key, value, headers)`` with timestamps on any scale whose
    ``t0`` becomes delta 0: absolute ms for :func:`encode_kafka_batch`, a native body's relative
    deltas for :func:`native_to_kafka` (which then needs no per-record addition). The empty slot
    is for the header tail, so that header and records become one ``bytes.join``. Offset deltas
    are 0, 1, 2, ... unless ``offset_deltas`` gives them (a compacted batch has gaps).
    """
    table, size, varint, null, zero = _VARINTS, _VARINT_TABLE_SIZE, _varint, _NULL, _ZERO
    join = b"".join
    parts: list[bytes] = [b""]
    append = parts.append
    for i, (ts, key, value, headers) in enumerate(records):
        offset_delta = i if offset_deltas is None else offset_deltas[i]
        d = ts - t0
        if key is None:
            kl = null
            key = b""
        else:
            n = len(key)
            kl = table[n] if n < size else varint(n)
        if value is None:
            vl = null
            value = b""
        else:
            n = len(value)
            vl = table[n] if n < size else varint(n)
        record = join((
            zero,
            table[d] if 0 <= d < size else varint(d),
            table[offset_delta] if offset_delta < size else varint(offset_delta),
            kl, key, vl, value,
            _encode_headers(headers) if headers else zero,
        ))
        n = len(record)
        append(table[n] if n < size else varint(n))
        append(record)
    return parts


def _finish(parts: list[bytes], *, base_offset: int, attributes: int, count: int, first_timestamp: int,
            max_timestamp: int, producer_id: int, producer_epoch: int, base_sequence: int,
            last_offset_delta: int | None = None, leader_epoch: int = -1) -> bytes:
    last = count - 1 if last_offset_delta is None else last_offset_delta
    parts[0] = _TAIL.pack(attributes, last, first_timestamp, max_timestamp, producer_id, producer_epoch,
                          base_sequence, count)
    payload = b"".join(parts)
    # batch_length counts the 9 prefix bytes after itself (leader epoch, magic, crc) plus payload.
    prefix = _PREFIX.pack(base_offset, len(payload) + _CRC_START - _LENGTH_END, leader_epoch, MAGIC, crc32c(payload))
    return prefix + payload


def native_to_kafka(native_batch: bytes | bytearray | memoryview, base_offset: int, leader_epoch: int = -1) -> bytes:
    """The kraft native batch ``native_batch`` as an uncompressed Kafka v2 batch at ``base_offset``.

    Same records (key, value, ms timestamps, headers), producer id and base sequence (epoch 0, or
    -1 without a producer id), CreateTime, partition leader epoch ``leader_epoch``. Verifies the native CRC;
    CorruptRecord on a malformed native batch. On the broker's fetch path for Kafka consumers.
    """
    header, body = native_rows(native_batch)
    try:
        # Native timestamps are deltas from the native first_timestamp; Kafka's firstTimestamp is
        # the first record's own, so the deltas are re-based on the first record's delta.
        d0 = body[0][0]
        dmax = max(r[0] for r in body)
        parts = _encode_records(body, d0)
        first = header.first_timestamp + d0
        max_ts = header.first_timestamp + dmax
        if type(first) is not int or type(max_ts) is not int:
            raise TypeError("timestamp delta is not an int")
        pid = header.producer_id
        return _finish(parts, base_offset=base_offset, attributes=0, count=len(body), first_timestamp=first,
                       max_timestamp=max_ts, producer_id=pid, producer_epoch=-1 if pid == -1 else 0,
                       base_sequence=header.base_sequence, leader_epoch=leader_epoch)
    except (TypeError, ValueError, AttributeError, struct.error) as exc:
        raise CorruptRecord(f"malformed record in native batch: {type(exc).__name__}: {exc}") from None


def encode_kafka_batch(records: Sequence[KafkaRecordIn], *, base_offset: int = 0, producer_id: int = -1,
                       producer_epoch: int = -1, base_sequence: int = -1, compression: int = 0) -> bytes:
    """One v2 batch (CreateTime, not transactional) of ``records`` (at least one), offsets from 0.

    ``compression`` is one of the ``COMPRESSION_*`` codes; gzip needs nothing extra, the others the
    optional codec packages. Unlike kafka-python the batch stays compressed even when that does not
    make it smaller, so tests get the codec they asked for.
    """
    if not records:
        raise ValueError("a batch holds at least one record")
    first = records[0][0]
    max_ts = max(r[0] for r in records)
    parts = _encode_records(records, first)
    if compression:
        tail_slot = parts[0]
        compressed = _compressor(compression)(b"".join(parts[1:]))
        parts = [tail_slot, compressed]
    return _finish(parts, base_offset=base_offset, attributes=compression & _COMPRESSION_MASK, count=len(records),
                   first_timestamp=first, max_timestamp=max_ts, producer_id=producer_id,
                   producer_epoch=producer_epoch, base_sequence=base_sequence)


def compact_kafka_batch(batch: bytes | bytearray | memoryview,
                        keep: Callable[[int, int, bytes | None, bytes | None], bool]) -> bytes | None:
    """``batch`` with only the records for which ``keep(offset_delta, timestamp_ms, key, value)`` is
    true, rewritten as Kafka's cleaner does: base offset, each record's offset delta, the batch's
    last offset delta (so its offset range and the producer's sequence range stay), first and max
    timestamps, producer id, epoch, base sequence, attributes and codec are kept; the record count
    and CRC are new. The batch itself when every record stays; None when none does (it goes)."""
    if type(batch) is not bytes:
        batch = bytes(batch)
    header = verify_kafka_batch(batch)
    if header.is_control:
        return batch  # transaction markers are not records: kept as they are
    if header.compression:
        data, pos = _decompress(header.compression, batch[BATCH_HEADER_BYTES:]), 0
    else:
        data, pos = batch, BATCH_HEADER_BYTES
    try:
        # Decoded with base offset and first timestamp 0: offsets are the deltas, timestamps too.
        records = _decode_records(data, pos, header.count, 0, 0, None)
    except (IndexError, ValueError) as exc:
        raise CorruptRecord(f"malformed record in kafka batch: {type(exc).__name__}: {exc}") from None
    log_append = header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    kept = [r for r in records
            if keep(r[0], header.max_timestamp if log_append else header.first_timestamp + r[1], r[2], r[3])]
    if len(kept) == len(records):
        return batch
    if not kept:
        return None
    parts = _encode_records([(r[1], r[2], r[3], r[4]) for r in kept], 0, [r[0] for r in kept])
    if header.compression:
        parts = [parts[0], _compressor(header.compression)(b"".join(parts[1:]))]
    return _finish(parts, base_offset=header.base_offset, attributes=header.attributes, count=len(kept),
                   first_timestamp=header.first_timestamp, max_timestamp=header.max_timestamp,
                   producer_id=header.producer_id, producer_epoch=header.producer_epoch,
                   base_sequence=header.base_sequence, last_offset_delta=header.last_offset_delta)


# --- compression codecs (imported on first use) -----------------------------------------------

_CODEC_NAMES = {COMPRESSION_GZIP: "gzip", COMPRESSION_SNAPPY: "snappy", COMPRESSION_LZ4: "lz4",
                COMPRESSION_ZSTD: "zstd"}
_CODEC_PACKAGES = {COMPRESSION_SNAPPY: ("snappy", "python-snappy"), COMPRESSION_LZ4: ("lz4.frame", "lz4"),
                   COMPRESSION_ZSTD: ("zstandard", "zstandard")}
# xerial snappy-java's stream header (Kafka's Java client writes it): marker, "SNAPPY\0", then
# version and min-compatible version, which are ignored as kafka-python and librdkafka do (some
# writers get their byte order wrong).
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_INT32 = struct.Struct(">i")


def _import_codec(compression: int) -> Any:
    module, package = _CODEC_PACKAGES[compression]
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise UnsupportedCompressionType(
            f"this kafka batch is {_CODEC_NAMES[compression]}-compressed and the {package!r} package is not "
            f"installed: pip install {package} (or pip install 'kraft[kafka-codecs]')"
        ) from None


def _check_compression(compression: int) -> None:
    if compression not in _CODEC_NAMES:
        raise CorruptRecord(f"unknown kafka compression type {compression}")


def _snappy_decompress(data: bytes) -> bytes:
    snappy = _import_codec(COMPRESSION_SNAPPY)
    if not data.startswith(_XERIAL_MAGIC) or len(data) < len(_XERIAL_HEADER):
        return cast(bytes, snappy.decompress(data))  # raw snappy, as librdkafka writes
    out = []
    pos = len(_XERIAL_HEADER)
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise CorruptRecord("xerial snappy stream ends inside a block length")
        (n,) = _INT32.unpack_from(data, pos)
        pos += 4
        if n < 0 or pos + n > end:
            raise CorruptRecord(f"xerial snappy block of {n} bytes overruns the stream")
        out.append(snappy.decompress(data[pos:pos + n]))
        pos += n
    return b"".join(out)


def _lz4_decompress(data: bytes) -> bytes:
    lz4_frame = _import_codec(COMPRESSION_LZ4)
    # lz4.frame.decompress stops after the first frame; Kafka writes one, but read all to be safe.
    out = []
    while data:
        decompressor = lz4_frame.LZ4FrameDecompressor()
        out.append(decompressor.decompress(data))
        if not decompressor.eof:
            raise CorruptRecord("lz4 frame is truncated")
        data = decompressor.unused_data
    return b"".join(out)


def _zstd_decompress(data: bytes) -> bytes:
    zstandard = _import_codec(COMPRESSION_ZSTD)
    # A decompressobj, because frames may lack a content size, which ZstdDecompressor.decompress()
    # refuses; one per frame so that a truncated last frame is noticed (eof stays False).
    dctx = zstandard.ZstdDecompressor()
    out = []
    while data:
        decompressor = dctx.decompressobj()
        out.append(decompressor.decompress(data))
        if not decompressor.eof:
            raise CorruptRecord("zstd frame is truncated")
        data = decompressor.unused_data
    return b"".join(out)


def _decompress(compression: int, data: bytes) -> bytes:
    _check_compression(compression)
    try:
        if compression == COMPRESSION_GZIP:
            return gzip.decompress(data)
        if compression == COMPRESSION_SNAPPY:
            return _snappy_decompress(data)
        if compression == COMPRESSION_LZ4:
            return _lz4_decompress(data)
        return _zstd_decompress(data)
    except (CorruptRecord, UnsupportedCompressionType):
        raise
    except Exception as exc:  # each codec has its own error classes; all mean a damaged payload
        raise CorruptRecord(
            f"cannot decompress {_CODEC_NAMES[compression]} kafka batch: {type(exc).__name__}: {exc}"
        ) from None


def decompress(compression: int, data: bytes) -> bytes:
    """``data`` decompressed with codec ``compression`` (a ``COMPRESSION_*`` code other than none):
    what a compressed batch's records, or a legacy wrapper message's value, hold. CorruptRecord for
    damaged data, UnsupportedCompressionType for a codec whose package is not installed."""
    return _decompress(compression, data)


def _snappy_compress(data: bytes) -> bytes:
    # xerial framing, as Kafka's Java client writes and every client reads.
    snappy = _import_codec(COMPRESSION_SNAPPY)
    parts = [_XERIAL_HEADER]
    for i in range(0, len(data), _XERIAL_BLOCK):
        block = snappy.compress(data[i:i + _XERIAL_BLOCK])
        parts += (_INT32.pack(len(block)), block)
    return b"".join(parts)


def _compressor(compression: int) -> Callable[[bytes], bytes]:
    _check_compression(compression)
    if compression == COMPRESSION_GZIP:
        return gzip.compress
    if compression == COMPRESSION_SNAPPY:
        return _snappy_compress
    if compression == COMPRESSION_LZ4:
        lz4_frame = _import_codec(COMPRESSION_LZ4)
        # Kafka's LZ4 reader does not support dependent (linked) blocks.
        return lambda data: lz4_frame.compress(data, block_linked=False)
    zstandard = _import_codec(COMPRESSION_ZSTD)
    return cast(Callable[[bytes], bytes], zstandard.ZstdCompressor().compress)


# --- decoding ---------------------------------------------------------------------------------

# Zigzag values of every one-byte varint, indexed by that byte.
_ZIGZAG1: tuple[int, ...] = tuple((b >> 1) ^ -(b & 1) for b in range(0x80))


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` and the position after it (multi-byte path)."""
    result = 0
    shift = 0
    while True:
        b = buf[pos]  # IndexError past the end: the caller turns it into CorruptRecord
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def decode_kafka_batch(batch: bytes | bytearray | memoryview, base_offset: int | None = None) -> list[RecordOut]:
    """Every record of the v2 batch ``batch`` as ``(offset, timestamp_ms, key, value, headers)``.

    Offsets are ``base_offset`` (or the header's) plus each record's offset delta; timestamps are
    firstTimestamp plus delta, or maxTimestamp for all under LogAppendTime. Verifies the CRC and
    decompresses. A control batch (transaction marker) holds no user records and decodes to ``[]``.
    A header value a Kafka producer sent as null comes back as None. CorruptRecord on malformed
    input; UnsupportedCompressionType when a codec package is missing.
    """
    if type(batch) is not bytes:
        batch = bytes(batch)
    header = verify_kafka_batch(batch)
    if header.is_control:
        return []
    base = header.base_offset if base_offset is None else base_offset
    compression = header.compression
    if compression:
        data = _decompress(compression, batch[BATCH_HEADER_BYTES:])
        pos = 0
    else:
        data = batch
        pos = BATCH_HEADER_BYTES
    log_append = header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    try:
        return _decode_records(data, pos, header.count, base, header.first_timestamp,
                               header.max_timestamp if log_append else None)
    except (IndexError, ValueError) as exc:  # ValueError includes UnicodeDecodeError of a header name
        raise CorruptRecord(f"malformed record in kafka batch: {type(exc).__name__}: {exc}") from None


def _decode_records(data: bytes, pos: int, count: int, base: int, first_ts: int,
                    fixed_ts: int | None) -> list[RecordOut]:
    # Every varint is read inline with one- and two-byte fast paths (two bytes: lengths up to 8191,
    # i.e. most values and records); a function call per field would double the cost per record.
    zz, rv = _ZIGZAG1, _read_varint
    end = len(data)
    out: list[RecordOut] = []
    append = out.append
    for _ in range(count):
        b = data[pos]
        if b < 0x80:
            length = zz[b]
            pos += 1
        elif (c := data[pos + 1]) < 0x80:
            u = (b & 0x7F) | (c << 7)
            length = (u >> 1) ^ -(u & 1)
            pos += 2
        else:
            length, pos = rv(data, pos)
        start = pos
        pos += 1  # attributes: unused by Kafka so far
        b = data[pos]
        if b < 0x80:
            ts_delta = zz[b]
            pos += 1
        else:
            ts_delta, pos = rv(data, pos)
        b = data[pos]
        if b < 0x80:
            offset_delta = zz[b]
            pos += 1
        elif (c := data[pos + 1]) < 0x80:
            u = (b & 0x7F) | (c << 7)
            offset_delta = (u >> 1) ^ -(u & 1)
            pos += 2
        else:
            offset_delta, pos = rv(data, pos)
        b = data[pos]
        if b < 0x80:
            n = zz[b]
            pos += 1
        elif (c := data[pos + 1]) < 0x80:
            u = (b & 0x7F) | (c << 7)
            n = (u >> 1) ^ -(u & 1)
            pos += 2
        else:
            n, pos = rv(data, pos)
        if n >= 0:  # any negative length is null, as in Kafka's reader
            key = data[pos:pos + n]
            pos += n
        else:
            key = None
        b = data[pos]
        if b < 0x80:
            n = zz[b]
            pos += 1
        elif (c := data[pos + 1]) < 0x80:
            u = (b & 0x7F) | (c << 7)
            n = (u >> 1) ^ -(u & 1)
            pos += 2
        else:
            n, pos = rv(data, pos)
        if n >= 0:
            value = data[pos:pos + n]
            pos += n
        else:
            value = None
        b = data[pos]
        if b:
            headers, pos = _decode_headers(data, pos)
        else:
            headers = []
            pos += 1
        if pos - start != length or pos > end:
            raise ValueError(f"record at offset delta {offset_delta} is {pos - start} bytes, its length says {length}")
        append((base + offset_delta, first_ts + ts_delta if fixed_ts is None else fixed_ts, key, value, headers))
    if pos != end:
        raise ValueError(f"{end - pos} bytes after the batch's {count} records")
    return out


def _decode_headers(data: bytes, pos: int) -> tuple[list[Any], int]:
    count, pos = _read_varint(data, pos)
    if count < 0:
        raise ValueError(f"negative header count {count}")
    headers: list[Any] = []
    for _ in range(count):
        n, pos = _read_varint(data, pos)
        if n < 0:
            raise ValueError(f"negative header name length {n}")
        stop = pos + n
        if stop > len(data):
            raise ValueError("header name overruns the record")
        name = data[pos:stop].decode()
        n, pos = _read_varint(data, stop)
        if n >= 0:
            value = data[pos:pos + n]
            pos += n
        else:
            value = None
        headers.append((name, value))
    return headers, pos
