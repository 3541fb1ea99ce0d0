"""The consumer's batch -> columns -> ConsumerRecord path (kraft/apis/consumer/records.py), table-driven
against the encoders: native batches (keys, values, nulls, headers), Kafka v2 batches of every codec
installed, control batches, slices; and the garbage-collector switches of gc_pause.py."""

from __future__ import annotations

import gc
import importlib.util
import os
import struct
import zlib

import msgpack
import pytest
from crc32c import crc32c

from kraft import ConsumerRecord, TopicPartition
from kraft.apis.consumer.gc_pause import collect_young_if_due, gc_paused
from kraft.apis.consumer.records import consumer_records, decode_fetched
from kraft.errors import CorruptRecord
from kraft.protocol.batch import decode_batch, decode_columns, encode_batch
from kraft.protocol.kafka.records import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    decode_kafka_batch,
    encode_kafka_batch,
    native_to_kafka,
)

TP = TopicPartition("t", 3)
T0 = 1_700_000_000_123

# (name, records as the producer hands them in: (timestamp_ms, key, value, headers))
NATIVE_CASES = [
    ("one record", [(T0, b"k", b"v", [])]),
    ("null key", [(T0, None, b"v", [])]),
    ("null value (tombstone)", [(T0, b"k", None, [])]),
    ("null key and value", [(T0, None, None, [])]),
    ("empty key and value", [(T0, b"", b"", [])]),
    ("headers", [(T0, b"k", b"v", [("a", b"1"), ("b", b""), ("ünï", b"\x00\xff")])]),
    ("repeated header names", [(T0, None, b"v", [("h", b"1"), ("h", b"2")])]),
    ("some records with headers", [(T0 + i, b"k%d" % i, os.urandom(i % 7), [("i", b"%d" % i)] if i % 3 == 0 else [])
                                   for i in range(50)]),
    ("timestamps out of order", [(T0, None, b"a", []), (T0 - 5, None, b"b", []), (T0 + 9, None, b"c", [])]),
    ("a large batch", [(T0 + i, None, b"x" * 100, []) for i in range(5000)]),
]


def expected(records, base: int) -> list[ConsumerRecord]:
    return [ConsumerRecord(TP.topic, TP.partition, base + i, k, v, ts, tuple(h))
            for i, (ts, k, v, h) in enumerate(records)]


@pytest.mark.parametrize(("name", "records"), NATIVE_CASES, ids=[c[0] for c in NATIVE_CASES])
def test_native_batches(name, records):
    batch = encode_batch(records)
    columns = decode_fetched(batch, 1000)
    assert columns is not None
    got = list(consumer_records(TP, columns, 0, len(columns.offsets)))
    assert got == expected(records, 1000)
    assert all(type(r) is ConsumerRecord and type(r.headers) is tuple for r in got)
    # decode_batch (the node's and log's reader) is the same columns as rows
    assert decode_batch(batch, 1000) == [(r.offset, r.timestamp_ms, r.key, r.value, list(r.headers)) for r in got]


@pytest.mark.parametrize(("start", "stop"), [(0, 10), (0, 1), (3, 7), (9, 10), (5, 5)])
def test_slices(start, stop):
    records = [(T0 + i, b"%d" % i, b"v", [("i", b"%d" % i)]) for i in range(10)]
    columns = decode_columns(encode_batch(records), 20)
    assert list(consumer_records(TP, columns, start, stop)) == expected(records, 20)[start:stop]
    assert columns.sliced(start, stop).offsets == range(20 + start, 20 + stop)


@pytest.mark.parametrize("encode", [encode_batch, encode_kafka_batch], ids=["native", "kafka"])
def test_headers_are_immutable_so_records_share_nothing_a_caller_could_change(encode):
    columns = decode_fetched(encode([(T0, None, b"a", []), (T0, None, b"b", [("h", b"1")])]), 0)
    assert columns is not None
    first, second = consumer_records(TP, columns, 0, 2)
    assert (first.headers, second.headers) == ((), (("h", b"1"),))
    assert all(type(h) is tuple for r in (first, second) for h in (r.headers, *r.headers))
    with pytest.raises(AttributeError):
        first.headers.append(("x", b"y"))  # type: ignore[attr-defined]


OPTIONAL_CODECS = ((COMPRESSION_SNAPPY, "snappy"), (COMPRESSION_LZ4, "lz4"), (COMPRESSION_ZSTD, "zstandard"))
CODECS = [COMPRESSION_NONE, COMPRESSION_GZIP] + [
    codec for codec, module in OPTIONAL_CODECS if importlib.util.find_spec(module) is not None]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_batches_of_every_codec(codec):
    records = [(T0 + i, None if i % 5 == 0 else b"k%d" % i, None if i % 7 == 3 else b"value %d" % i,
                [("trace", b"t"), ("null", None)] if i % 4 == 0 else []) for i in range(40)]
    batch = encode_kafka_batch(records, compression=codec)
    columns = decode_fetched(batch, 500)
    assert columns is not None
    got = list(consumer_records(TP, columns, 0, len(columns.offsets)))
    assert [(r.offset, r.timestamp_ms, r.key, r.value, list(r.headers)) for r in got] == decode_kafka_batch(batch, 500)
    assert [r.offset for r in got] == list(range(500, 540))
    assert got[0].headers == (("trace", b"t"), ("null", None))


def test_native_batch_converted_to_kafka_reads_the_same():
    records = NATIVE_CASES[7][1]
    native = encode_batch(records)
    kafka = native_to_kafka(native, 70)
    a, b = decode_fetched(native, 70), decode_fetched(kafka, 70)
    assert a is not None and b is not None
    assert list(consumer_records(TP, a, 0, 50)) == list(consumer_records(TP, b, 0, 50)) == expected(records, 70)


def test_kafka_control_batch_has_no_records():
    batch = bytearray(encode_kafka_batch([(T0, None, b"\x00\x00\x00\x00", [])], producer_id=9, producer_epoch=0,
                                         base_sequence=0))
    # attributes (offset 21, 2 bytes): transactional (0x10) | control (0x20); the CRC covers them
    batch[22] |= 0x30
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
    assert decode_fetched(bytes(batch), 0) is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (msgpack.packb([{0: 0, 1: None, 2: b"v", 3: []}]), "a record that is a map"),
        (msgpack.packb([[0, None, b"v", [], 5]]), "a record of 5 fields"),
        (msgpack.packb([[True, None, b"v", []]]), "a boolean timestamp delta"),
        (msgpack.packb([[0, None, "v", []]], use_bin_type=True), "a str value"),
        (msgpack.packb([[0, None, b"v", [["h", "x"]]]], use_bin_type=True), "a str header value"),
        (msgpack.packb([[0, None, b"v", [[1, b"x"]]]], use_bin_type=True), "an int header name"),
        (msgpack.packb([[0, None, b"v", b"h"]], use_bin_type=True), "headers that are bytes"),
        (msgpack.packb([[0, None, b"v", []], 7], use_bin_type=True), "a record that is an int"),
    ],
)
def test_malformed_bodies_behind_a_valid_crc(body, why):
    count = len(msgpack.unpackb(body, strict_map_key=False))
    rest = struct.pack(">Iqqqi", count, 0, 0, -1, -1) + body
    batch = struct.pack(">BI", 1, zlib.crc32(rest)) + rest
    with pytest.raises(CorruptRecord):
        decode_fetched(batch, 0)


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
        collect_young_if_due()  # no collection while the application keeps the collector off
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collect_young_if_due_runs_generation_1_only_when_it_is_next():
    gc.collect()
    calls: list[int] = []

    def seen(phase, info):
        if phase == "start":
            calls.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        collect_young_if_due()  # generation 1's count was just reset: not due
        assert calls == []
        threshold1 = gc.get_threshold()[1]
        while gc.get_count()[1] < threshold1 - 1:
            gc.collect(0)  # each generation-0 pass counts one towards generation 1
        calls.clear()
        collect_young_if_due()
        assert calls == [1]
        assert gc.get_count()[1] == 0
    finally:
        gc.callbacks.remove(seen)
