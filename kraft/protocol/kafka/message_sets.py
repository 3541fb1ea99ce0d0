"""Kafka's legacy message sets (magic 0 and 1, the formats before Kafka 0.11): as Produce v0-2
carries them, turned into the one magic-v2 batch kraft stores, which is what a Kafka 3.x broker does
when its log is format v2 (up-conversion; magic 0 messages have no timestamp: their records get -1,
Kafka's NO_TIMESTAMP); and stored records written as a message set for Fetch v0-3
(down-conversion: magic 0 for v0-1, magic 1 with timestamps for v2-3, uncompressed, headers
dropped, as Kafka's down-conversion loses them too).

Owns the message layout (offset, size, CRC32, magic, attributes, [timestamp], key, value), the
CRC check, compressed wrapper messages (their value is a compressed inner message set) and the
conversion. Pure functions over bytes; malformed input is CorruptRecord (Kafka's CORRUPT_MESSAGE).
Must not: know a request's shape or the log (the Produce handler passes each partition's bytes).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

from kraft.errors import CorruptRecord
from kraft.protocol.kafka.records import COMPRESSION_NONE, KafkaRecordIn, decompress, encode_kafka_batch

_OFFSET_SIZE = struct.Struct(">qi")  # a message set entry: offset, message size
_CRC = struct.Struct(">I")
_TIMESTAMP = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_CODEC_MASK = 0x07
MAX_DEPTH = 1  # a wrapper's inner messages are never compressed again (Kafka refuses nesting)


def message_set_to_batch(data: bytes) -> bytes:
    """The magic-v2 batch (CreateTime, no producer id) of every record in message set ``data``,
    compressed with the codec its wrapper messages used (none if they used none or several)."""
    records, codecs = _decode(data, 0)
    if not records:
        raise CorruptRecord("the message set holds no message")
    codec = codecs.pop() if len(codecs) == 1 else COMPRESSION_NONE
    return encode_kafka_batch(records, compression=codec)


def encode_message_set(records: Iterable[tuple[int, int, bytes | None, bytes | None]], magic: int) -> bytes:
    """``(offset, timestamp, key, value)`` records as a message set of ``magic`` (0 or 1), each
    message at its own offset (a compacted log's gaps stay gaps)."""
    out = []
    for offset, ts, key, value in records:
        body = b"".join((bytes((magic, 0)), _TIMESTAMP.pack(ts) if magic == 1 else b"", _field(key), _field(value)))
        message = _CRC.pack(zlib.crc32(body)) + body
        out.append(_OFFSET_SIZE.pack(offset, len(message)) + message)
    return b"".join(out)


def _field(data: bytes | None) -> bytes:
    return _LENGTH.pack(-1) if data is None else _LENGTH.pack(len(data)) + data


def decode_message_set(data: bytes) -> list[KafkaRecordIn]:
    """Every record of message set ``data``, wrappers unpacked, in order."""
    return _decode(data, 0)[0]


def _decode(data: bytes, depth: int) -> tuple[list[KafkaRecordIn], set[int]]:
    records: list[KafkaRecordIn] = []
    codecs: set[int] = set()
    pos = 0
    while pos < len(data):
        if pos + _OFFSET_SIZE.size > len(data):
            raise CorruptRecord(f"message set ends inside a message header at byte {pos}")
        _offset, size = _OFFSET_SIZE.unpack_from(data, pos)
        start, end = pos + _OFFSET_SIZE.size, pos + _OFFSET_SIZE.size + size
        if size < 14 or end > len(data):  # a magic-0 message is at least 14 bytes (Kafka's bound)
            raise CorruptRecord(f"message of {size} bytes at byte {pos} does not fit the message set")
        ts, key, value, codec = _message(data[start:end])
        if codec == COMPRESSION_NONE:
            records.append((ts, key, value, ()))
        elif depth >= MAX_DEPTH or value is None:
            raise CorruptRecord("a compressed message inside a compressed message, or one without a value")
        else:
            inner, _ = _decode(decompress(codec, value), depth + 1)
            records += inner
            codecs.add(codec)
        pos = end
    return records, codecs


def _message(message: bytes) -> tuple[int, bytes | None, bytes | None, int]:
    """(timestamp, key, value, codec) of one message: CRC32 over what follows the CRC, checked."""
    (crc,) = _CRC.unpack_from(message, 0)
    if zlib.crc32(message[4:]) != crc:
        raise CorruptRecord("message CRC32 does not match its bytes")
    magic, attributes = message[4], message[5]
    if magic not in (0, 1):
        raise CorruptRecord(f"message magic {magic} in a message set (only 0 and 1)")
    pos = 6
    ts = -1
    if magic == 1:
        if len(message) < 22:
            raise CorruptRecord("magic 1 message is shorter than its header")
        (ts,) = _TIMESTAMP.unpack_from(message, pos)
        pos += _TIMESTAMP.size
    key, pos = _bytes(message, pos)
    value, pos = _bytes(message, pos)
    if pos != len(message):
        raise CorruptRecord(f"message has {len(message) - pos} bytes after its value")
    return ts, key, value, attributes & _CODEC_MASK


def _bytes(message: bytes, pos: int) -> tuple[bytes | None, int]:
    if pos + _LENGTH.size > len(message):
        raise CorruptRecord("message ends inside a length")
    (n,) = _LENGTH.unpack_from(message, pos)
    pos += _LENGTH.size
    if n == -1:
        return None, pos
    if n < 0 or pos + n > len(message):
        raise CorruptRecord(f"message field of {n} bytes overruns the message")
    return message[pos:pos + n], pos + n
