"""Fetched batch bytes -> decoded columns -> ``ConsumerRecord``s: the consumer's per-record hot path.

Pure functions. :func:`decode_fetched` decodes one fetched batch (kraft's native format or a Kafka
client's v2 batch, which the node stores as written) into :class:`RecordColumns`; the fetcher
buffers those, and :func:`consumer_records` builds the records ``poll`` hands out from a slice of
them. Neither makes a Python-level call per record: the columns are taken and type-checked a column
at a time (``kraft.protocol.batch.decode_columns``) and each record is made by ``tuple.__new__``
over zipped columns, in C. Building the records this way, and only when ``poll`` takes them, is
what lifted the consumer from 0.4-0.6x librdkafka's to about its speed (BENCHMARKS.md, 2026-12-04
night). Must not hold state or do I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from itertools import repeat
from typing import Any

from kraft.protocol.batch import MAGICS as NATIVE_MAGICS
from kraft.protocol.batch import RecordColumns, decode_columns

from ..types import ConsumerRecord, TopicPartition


def decode_fetched(batch: bytes, base_offset: int) -> RecordColumns | None:
    """The records of one fetched batch as columns; None for a batch without user records (a Kafka
    transaction marker). CorruptRecord on a bad CRC or a malformed body."""
    # A batch starts with its magic (1 or 2) if kraft's producer wrote it, else it is a Kafka
    # client's v2 batch (first byte 0: the high byte of its base offset); see kraft.log.entry.
    if batch[0] in NATIVE_MAGICS:
        # zlib's own CRC lets go of the GIL: the user's thread builds records meanwhile.
        return decode_columns(batch, base_offset, zlib.crc32)
    rows = _kafka_decoder()(batch, base_offset)
    if not rows:
        return None
    offsets, timestamps, keys, values, headers = zip(*rows, strict=True)
    return RecordColumns(offsets, timestamps, keys, values, tuple(map(tuple, headers)))


def consumer_records(tp: TopicPartition, columns: RecordColumns, start: int, stop: int) -> Iterator[ConsumerRecord]:
    """Records ``start``..``stop`` (indexes) of a decoded batch, in order; their headers are the
    decoded tuples themselves (immutable: records can share nothing a caller could change)."""
    if start or stop != len(columns.offsets):
        columns = columns.sliced(start, stop)
    offsets, timestamps, keys, values, headers = columns
    rows = zip(repeat(tp.topic), repeat(tp.partition), offsets, keys, values, timestamps, headers)
    return map(tuple.__new__, repeat(ConsumerRecord), rows)  # type: ignore[arg-type]


def _kafka_decoder() -> Any:
    # Imported on first use: most consumers never meet a Kafka client's batch, and the codec (with
    # crc32c) adds to every client's import time.
    from kraft.protocol.kafka.records import decode_kafka_batch

    return decode_kafka_batch
