"""The record batch format (docs/native-protocol.md, "Record batches").

A batch is a 37-byte header (``>BIIqqqi``: magic, crc, count, first_timestamp, max_timestamp,
producer_id, base_sequence) followed by one msgpack array of ``count`` records
``[timestamp_delta, key, value, headers]``. The CRC (zlib.crc32) covers every byte after the crc
field. Offsets are not in the batch: the node assigns the base offset at commit.

Pure functions over bytes. The producer encodes (hot path: :func:`encode_relative`, one ``packb``
per batch), the node reads and verifies the header (and, for a LogAppendTime topic, rewrites the
timestamps: :func:`with_log_append_time`), the consumer decodes (one ``unpackb`` per batch, then
whole columns at a time: :func:`decode_columns`, no Python loop iteration per record unless a
record carries headers).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgpack

from kraft.errors import CorruptRecord

MAGIC = 1
HEADER = struct.Struct(">BIIqqqi")
HEADER_BYTES = HEADER.size  # 37
_MAGIC_CRC = struct.Struct(">BI")
_AFTER_CRC = struct.Struct(">Iqqqi")
_CRC_END = _MAGIC_CRC.size  # the CRC covers batch[_CRC_END:]
_packb = msgpack.packb

Header = tuple[str, bytes]
# (timestamp_ms, key, value, headers) as the producer hands them in.
RecordIn = tuple[int, bytes | None, bytes | None, Sequence[Header]]
# (offset, timestamp_ms, key, value, headers) as the consumer gets them back.
RecordOut = tuple[int, int, bytes | None, bytes | None, list[Header]]
_KEY_OR_VALUE_TYPES = frozenset((type(None), bytes))


class RecordColumns(NamedTuple):
    """A decoded batch as columns, one entry per record, index i being offset ``offsets[i]``:
    what the consumer turns into records without a Python loop iteration per record."""

    offsets: Sequence[int]  # ascending (dense for a native batch)
    timestamps: Sequence[int]
    keys: Sequence[bytes | None]
    values: Sequence[bytes | None]
    # As decoded (tuples): callers make each record's list. Immutable columns of immutable values
    # are dropped from the garbage collector's tracking, so buffered batches cost its passes nothing.
    headers: Sequence[Sequence[Header]]

    def sliced(self, start: int, stop: int) -> RecordColumns:
        """Records ``start``..``stop`` (indexes; slicing copies pointers, not values)."""
        return RecordColumns(self.offsets[start:stop], self.timestamps[start:stop], self.keys[start:stop],
                             self.values[start:stop], self.headers[start:stop])


@dataclass(frozen=True, slots=True)
class BatchHeader:
    magic: int
    crc: int
    count: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    base_sequence: int


def encode_batch(records: Sequence[RecordIn], producer_id: int = -1, base_sequence: int = -1) -> bytes:
    """One batch holding ``records`` (at least one). Timestamps are stored relative to the first."""
    if not records:
        raise ValueError("a batch holds at least one record")
    first = records[0][0]
    max_ts = max(r[0] for r in records)
    # Tuples pack as msgpack arrays, so the body is built without per-record list conversions.
    return encode_relative([(ts - first, k, v, h) for ts, k, v, h in records], first, max_ts,
                           producer_id, base_sequence)


# CPython's zlib lets go of the GIL for a buffer over 5 KiB; a batch is checked in pieces no larger.
_CRC_PIECE = 5 * 1024


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    """zlib's CRC-32 of ``data`` without letting go of the GIL, for checking a batch on a node: taking
    it back can wait for the Raft driver thread's whole switch interval, far longer than the CRC of
    a batch takes (``kraft.protocol.kafka.records.crc32c``, the same for Kafka's batches). A producer
    computes its batches' CRCs with zlib's own, which lets its user's thread run meanwhile, and so
    does a consumer checking what it fetched (``decode_columns(..., crc=zlib.crc32)``): its user's
    thread builds the last answer's records while the CRC of the next runs."""
    if len(data) <= _CRC_PIECE:
        return zlib.crc32(data, value)
    with memoryview(data) as view:
        for at in range(0, len(view), _CRC_PIECE):
            value = zlib.crc32(view[at:at + _CRC_PIECE], value)
    return value


def encode_relative(records: Sequence[RecordIn], first_timestamp: int, max_timestamp: int,
                    producer_id: int = -1, base_sequence: int = -1) -> bytes:
    """One batch of ``records`` whose timestamps are already relative to ``first_timestamp``
    (``(timestamp_delta, key, value, headers)``, the body's own shape): the producer's hot path,
    one ``packb`` and no per-record work in Python."""
    if not records:
        raise ValueError("a batch holds at least one record")
    body = _packb(records, use_bin_type=True)
    rest = _AFTER_CRC.pack(len(records), first_timestamp, max_timestamp, producer_id, base_sequence)
    return b"".join((_MAGIC_CRC.pack(MAGIC, zlib.crc32(body, zlib.crc32(rest))), rest, body))


def read_batch_header(batch: bytes | bytearray | memoryview) -> BatchHeader:
    """The header of ``batch`` without checking the CRC; CorruptRecord if short or not magic 1."""
    if len(batch) < HEADER_BYTES:
        raise CorruptRecord(f"batch of {len(batch)} bytes is shorter than its {HEADER_BYTES}-byte header")
    header = BatchHeader(*HEADER.unpack_from(batch, 0))
    if header.magic != MAGIC:
        raise CorruptRecord(f"batch magic {header.magic}, expected {MAGIC}")
    if header.count < 1:
        raise CorruptRecord("batch record count is 0")
    return header


def header_fields(buf: bytes | bytearray | memoryview, at: int = 0) -> tuple[int, int, int, int, int]:
    """(count, max_timestamp, producer_id, producer epoch (native batches have none: 0), base_sequence)
    of the batch at ``buf[at:]``, unchecked: the partition state machine's per-apply read of a batch
    verified before it was proposed."""
    count, _first, max_timestamp, producer_id, base_sequence = _AFTER_CRC.unpack_from(buf, at + _CRC_END)
    return count, max_timestamp, producer_id, 0, base_sequence


def verify_batch(batch: bytes | bytearray | memoryview, crc: Callable[[memoryview], int] = crc32) -> BatchHeader:
    """The header of ``batch`` after checking its CRC (computed by ``crc``: see :func:`crc32`);
    CorruptRecord on any mismatch."""
    header = read_batch_header(batch)
    with memoryview(batch) as view:
        actual = crc(view[_CRC_END:])
    if actual != header.crc:
        raise CorruptRecord(f"batch crc {actual:#010x} does not match header crc {header.crc:#010x}")
    return header


def decode_batch(batch: bytes | bytearray | memoryview, base_offset: int) -> list[RecordOut]:
    """Every record of ``batch`` with its offset (``base_offset`` + index). Verifies the CRC first."""
    offsets, timestamps, keys, values, headers = decode_columns(batch, base_offset)
    return list(zip(offsets, timestamps, keys, values, map(list, headers), strict=True))


def decode_columns(batch: bytes | bytearray | memoryview, base_offset: int,
                   crc: Callable[[memoryview], int] = crc32) -> RecordColumns:
    """The records of ``batch`` as columns (offsets from ``base_offset``). Verifies the CRC (with
    ``crc``), then the body's shape and every field's type; CorruptRecord on any mismatch."""
    header = verify_batch(batch, crc)
    try:
        with memoryview(batch) as view:
            body = msgpack.unpackb(view[HEADER_BYTES:], raw=False, use_list=False)
    except Exception as exc:  # a valid CRC over garbage means a buggy writer, still not our crash
        raise CorruptRecord(f"undecodable batch body: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, tuple) or len(body) != header.count:
        raise CorruptRecord(f"batch body is not an array of {header.count} records")
    # Shapes and types are checked a column at a time (``set(map(type, column))`` runs in C): a Python
    # loop over the records cost more than the unpack itself (BENCHMARKS.md, 2026-12-04 night). The
    # transposition checks the shape: every record must unpack into exactly these four fields, and a
    # record that is not an array (a map yields its str/bytes keys) fails the field types.
    try:
        deltas, keys, values, headers = zip(*body, strict=True)
    except (TypeError, ValueError):
        raise CorruptRecord("malformed record in batch: a record is not [delta, key, value, headers]") from None
    # Headers: most records have none, and msgpack's empty array is the one empty tuple.
    if not (set(map(type, deltas)) == {int} and _bytes_or_nones(keys) and _bytes_or_nones(values)
            and (headers.count(()) == len(headers) or set(map(type, headers)) == {tuple})):
        raise CorruptRecord("malformed record in batch: bad record field type")
    try:
        for record_headers in filter(None, headers):  # most records carry none
            for h in record_headers:
                _header(h)
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(f"malformed record in batch: {exc}") from None
    return RecordColumns(range(base_offset, base_offset + len(body)),
                         tuple(map(header.first_timestamp.__add__, deltas)), keys, values, headers)


def _bytes_or_nones(column: tuple[Any, ...]) -> bool:
    """Every entry bytes or None; a column of Nones (most batches' keys) by counting them, a tenth of
    the cost of the set of types (both run in C)."""
    return column.count(None) == len(column) or set(map(type, column)) <= _KEY_OR_VALUE_TYPES


def with_log_append_time(batch: bytes | bytearray | memoryview, timestamp_ms: int) -> bytes:
    """``batch`` with every record's timestamp set to ``timestamp_ms``: the native form of Kafka's
    LogAppendTime stamp (a native batch has no timestamp-type attribute, so the records carry it:
    first and max timestamps become ``timestamp_ms``, every delta 0). The body is re-packed, and
    the CRC is new; producer id and sequence are kept. CorruptRecord if the body does not decode."""
    header = read_batch_header(batch)
    try:
        with memoryview(batch) as view:
            body = msgpack.unpackb(view[HEADER_BYTES:], raw=False, use_list=False)
        records = [(0, key, value, headers) for _delta, key, value, headers in body]
    except Exception as exc:  # as in decode_batch: a bad body is the batch's fault, not a crash
        raise CorruptRecord(f"undecodable batch body: {type(exc).__name__}: {exc}") from None
    if len(records) != header.count:
        raise CorruptRecord(f"batch body is not an array of {header.count} records")
    return encode_relative(records, timestamp_ms, timestamp_ms, header.producer_id, header.base_sequence)


def _header(h: Any) -> Header:
    name, value = h  # ValueError/TypeError on a wrong shape, turned into CorruptRecord above
    if type(name) is not str or type(value) is not bytes:
        raise TypeError("header is not [str, bin]")
    return name, value
