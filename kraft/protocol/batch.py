"""The record batch format (docs/native-protocol.md, "Record batches").

A batch is a 37-byte header (``>BIIqqqi``: magic, crc, count, first_timestamp, max_timestamp,
producer_id, base_sequence) followed by one msgpack value, the body, in one of two layouts told
apart by the magic:

- ``MAGIC_ROWS`` (1): an array of ``count`` records ``[timestamp_delta, key, value, headers]``;
- ``MAGIC_COLUMNS`` (2): an array of four arrays of ``count`` entries each, ``[timestamp_deltas,
  keys, values, headers]``. A consumer unpacks the columns it builds records from in one call,
  without a tuple per record or the transposition of rows into columns (about a third of a batch's
  decoding, BENCHMARKS.md 2026-12-05); a producer's encoding costs the same either way.

The CRC (zlib.crc32) covers every byte after the crc field. Offsets are not in the batch: the node
assigns the base offset at commit. Every reader takes both layouts; which one a producer writes is
the cluster's ``batch_format`` (cluster.ini), and a node serves rows to a consumer from before
columns (:func:`as_rows`).

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
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

import msgpack

from kraft.errors import CorruptRecord

MAGIC_ROWS = 1
MAGIC_COLUMNS = 2
MAGICS = frozenset((MAGIC_ROWS, MAGIC_COLUMNS))
# What a node says in its Raft hello (kraft.raft.host) when its code reads batches in columns.
READS_COLUMNS = "batch-columns"
_FIELDS = tuple(map(itemgetter, range(4)))  # a record's delta, key, value, headers
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


def encode_batch(records: Sequence[RecordIn], producer_id: int = -1, base_sequence: int = -1, *,
                 columns: bool = False) -> bytes:
    """One batch holding ``records`` (at least one), in columns or rows. Timestamps are stored
    relative to the first."""
    if not records:
        raise ValueError("a batch holds at least one record")
    first = records[0][0]
    max_ts = max(r[0] for r in records)
    # Tuples pack as msgpack arrays, so the body is built without per-record list conversions.
    return encode_relative([(ts - first, k, v, h) for ts, k, v, h in records], first, max_ts,
                           producer_id, base_sequence, columns=columns)


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
                    producer_id: int = -1, base_sequence: int = -1, *, columns: bool = False) -> bytes:
    """One batch of ``records`` whose timestamps are already relative to ``first_timestamp``
    (``(timestamp_delta, key, value, headers)``, a row of the body): the producer's hot path, one
    ``packb`` and no per-record work in Python (with ``columns``, the transposition runs in C)."""
    if not records:
        raise ValueError("a batch holds at least one record")
    if columns:
        # One C loop per field: ``zip(*records)`` makes an iterator per record, garbage the
        # collector then passes over in a producer holding many records (0.4 us per record more).
        body = _packb([list(map(field, records)) for field in _FIELDS], use_bin_type=True)
        magic = MAGIC_COLUMNS
    else:
        body = _packb(records, use_bin_type=True)
        magic = MAGIC_ROWS
    rest = _AFTER_CRC.pack(len(records), first_timestamp, max_timestamp, producer_id, base_sequence)
    return b"".join((_MAGIC_CRC.pack(magic, zlib.crc32(body, zlib.crc32(rest))), rest, body))


def read_batch_header(batch: bytes | bytearray | memoryview) -> BatchHeader:
    """The header of ``batch`` without checking the CRC; CorruptRecord if short or of another magic."""
    if len(batch) < HEADER_BYTES:
        raise CorruptRecord(f"batch of {len(batch)} bytes is shorter than its {HEADER_BYTES}-byte header")
    header = BatchHeader(*HEADER.unpack_from(batch, 0))
    if header.magic not in MAGICS:
        raise CorruptRecord(f"batch magic {header.magic}, expected {MAGIC_ROWS} (rows) or {MAGIC_COLUMNS} (columns)")
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
    _check_layout(batch, header)
    return header


def _check_layout(batch: bytes | bytearray | memoryview, header: BatchHeader) -> None:
    """CorruptRecord unless the body is laid out as the magic says. The magic byte lies outside the
    CRC, which covers the same bytes in both layouts, so a flip between rows (1) and columns (2) must be
    caught here: the body's outer array holds ``count`` records in rows and four columns in columns,
    and with four records the first array's fourth entry tells them apart (a record's headers, an
    array; a column of deltas' fourth, an integer)."""
    first = batch[HEADER_BYTES] if len(batch) > HEADER_BYTES else -1
    if 0x90 <= first <= 0x9F:
        length = first & 0x0F
    elif first == 0xDC and len(batch) >= HEADER_BYTES + 3:
        length = int.from_bytes(batch[HEADER_BYTES + 1:HEADER_BYTES + 3], "big")
    elif first == 0xDD and len(batch) >= HEADER_BYTES + 5:
        length = int.from_bytes(batch[HEADER_BYTES + 1:HEADER_BYTES + 5], "big")
    else:
        raise CorruptRecord("batch body is not an array")
    columns = header.magic == MAGIC_COLUMNS
    if length != (4 if columns else header.count):
        raise CorruptRecord(f"batch body of {length} arrays for {header.count} records in "
                            f"{'columns' if columns else 'rows'}")
    if header.count == 4:
        leading = _body(batch, header)[0]
        if type(leading) is not tuple or len(leading) != 4 or (type(leading[3]) is int) != columns:
            raise CorruptRecord(f"batch body is not laid out in {'columns' if columns else 'rows'}")


def decode_batch(batch: bytes | bytearray | memoryview, base_offset: int) -> list[RecordOut]:
    """Every record of ``batch`` with its offset (``base_offset`` + index). Verifies the CRC first."""
    offsets, timestamps, keys, values, headers = decode_columns(batch, base_offset)
    return list(zip(offsets, timestamps, keys, values, map(list, headers), strict=True))


def decode_columns(batch: bytes | bytearray | memoryview, base_offset: int,
                   crc: Callable[[memoryview], int] = crc32) -> RecordColumns:
    """The records of ``batch`` as columns (offsets from ``base_offset``). Verifies the CRC (with
    ``crc``), then the body's shape and every field's type; CorruptRecord on any mismatch."""
    header = verify_batch(batch, crc)
    deltas, keys, values, headers = _body_columns(batch, header)
    # Shapes and types are checked a column at a time (``set(map(type, column))`` runs in C): a Python
    # loop over the records cost more than the unpack itself (BENCHMARKS.md, 2026-12-04 night).
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
    return RecordColumns(range(base_offset, base_offset + header.count),
                         tuple(map(header.first_timestamp.__add__, deltas)), keys, values, headers)


def _unpack_body(batch: bytes | bytearray | memoryview) -> Any:
    try:
        with memoryview(batch) as view:
            return msgpack.unpackb(view[HEADER_BYTES:], raw=False, use_list=False)
    except Exception as exc:  # a valid CRC over garbage means a buggy writer, still not our crash
        raise CorruptRecord(f"undecodable batch body: {type(exc).__name__}: {exc}") from None


def _body(batch: bytes | bytearray | memoryview, header: BatchHeader) -> tuple[Any, ...]:
    """The unpacked body, checked only for its outer shape: ``count`` records in rows, four arrays of
    ``count`` entries in columns; CorruptRecord otherwise."""
    body = _unpack_body(batch)
    count = header.count
    if header.magic == MAGIC_COLUMNS:
        if not (type(body) is tuple and len(body) == 4
                and all(type(column) is tuple and len(column) == count for column in body)):
            raise CorruptRecord(f"batch body is not four arrays of {count} entries")
    elif type(body) is not tuple or len(body) != count:
        raise CorruptRecord(f"batch body is not an array of {count} records")
    return body  # type: ignore[no-any-return]


def _body_columns(batch: bytes | bytearray | memoryview,
                  header: BatchHeader) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The body's four columns (deltas, keys, values, headers) of ``count`` entries each, in either
    layout, their fields unchecked; CorruptRecord if the body does not have that shape."""
    body = _body(batch, header)
    if header.magic == MAGIC_COLUMNS:
        return body
    # The transposition checks the shape: every record must unpack into exactly these four fields,
    # and a record that is not an array (a map yields its str/bytes keys) fails the field types.
    try:
        deltas, keys, values, headers = zip(*body, strict=True)
    except (TypeError, ValueError):
        raise CorruptRecord("malformed record in batch: a record is not [delta, key, value, headers]") from None
    return deltas, keys, values, headers


def native_rows(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, Sequence[tuple[Any, ...]]]:
    """The header and the records ``(timestamp_delta, key, value, headers)`` of ``batch`` in either
    layout, after checking its CRC and the body's shape (not the fields' types: callers that encode
    them fail on a wrong one); CorruptRecord otherwise. For the node's conversions (Kafka fetches,
    rows for old consumers), not the consumer's hot path. A batch in rows comes back as its body is,
    each record's shape unchecked too."""
    header = verify_batch(batch)
    body = _body(batch, header)
    return header, (body if header.magic == MAGIC_ROWS else tuple(zip(*body, strict=True)))


def as_rows(batch: bytes) -> bytes:
    """``batch`` in rows (unchanged if it is): what a node serves a consumer from before columns,
    which refuses magic 2. Producer id, sequence and timestamps are kept; the CRC is new, so the
    old one is checked first (CorruptRecord if it fails)."""
    if batch[0] != MAGIC_COLUMNS:
        return batch
    header, rows = native_rows(batch)
    return encode_relative(rows, header.first_timestamp, header.max_timestamp,
                           header.producer_id, header.base_sequence)



def _bytes_or_nones(column: tuple[Any, ...]) -> bool:
    """Every entry bytes or None; a column of Nones (most batches' keys) by counting them, a tenth of
    the cost of the set of types (both run in C)."""
    return column.count(None) == len(column) or set(map(type, column)) <= _KEY_OR_VALUE_TYPES


def with_log_append_time(batch: bytes | bytearray | memoryview, timestamp_ms: int) -> bytes:
    """``batch`` with every record's timestamp set to ``timestamp_ms``: the native form of Kafka's
    LogAppendTime stamp (a native batch has no timestamp-type attribute, so the records carry it:
    first and max timestamps become ``timestamp_ms``, every delta 0), in the batch's own layout. The
    body is re-packed, and the CRC is new; producer id and sequence are kept. CorruptRecord if the
    body does not decode."""
    header = read_batch_header(batch)
    _deltas, keys, values, headers = _body_columns(batch, header)
    records = list(zip(repeat(0), keys, values, headers))
    return encode_relative(records, timestamp_ms, timestamp_ms, header.producer_id, header.base_sequence,
                           columns=header.magic == MAGIC_COLUMNS)


def _header(h: Any) -> Header:
    name, value = h  # ValueError/TypeError on a wrong shape, turned into CorruptRecord above
    if type(name) is not str or type(value) is not bytes:
        raise TypeError("header is not [str, bin]")
    return name, value
