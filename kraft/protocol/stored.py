"""Batches as the log stores them: a native kraft batch or a Kafka magic-v2 batch, told apart by the
produce command's op byte (``P`` / ``K``), each checked by its own checksum (CRC32 / CRC32C).

Readers get both kinds in one stream and tell them apart by the first byte: a native batch starts
with its magic (1); a Kafka batch starts with its base offset, which the log patches in on read and
which is below 2**56, so its first byte is 0.
"""

from __future__ import annotations

from kraft.errors import CorruptRecord
from kraft.protocol.batch import MAGIC as NATIVE_MAGIC
from kraft.protocol.batch import verify_batch
from kraft.protocol.kafka.records import verify_kafka_batch, with_base_offset

OP_NATIVE = b"P"
OP_KAFKA = b"K"


def verify_stored(op: bytes, batch: bytes | memoryview) -> None:
    """CorruptRecord unless ``batch`` passes the checksum of its kind."""
    if op == OP_NATIVE:
        verify_batch(batch)
    elif op == OP_KAFKA:
        verify_kafka_batch(batch)
    else:
        raise CorruptRecord(f"unknown stored batch kind {op!r}")


def as_served(op: bytes, batch: bytes, base_offset: int) -> bytes:
    """The bytes a reader gets: native batches as stored, Kafka batches with their base offset."""
    return batch if op == OP_NATIVE else with_base_offset(batch, base_offset)


def is_native(batch: bytes | memoryview) -> bool:
    return len(batch) > 0 and batch[0] == NATIVE_MAGIC
