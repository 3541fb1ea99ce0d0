"""Throughput of the Kafka record-batch codec: native -> Kafka v2 conversion and v2 decoding.

``native_to_kafka`` runs on the broker for every native batch a Kafka consumer fetches;
``decode_kafka_batch`` runs in the native consumer for every Kafka-produced batch. Both are pure
Python per record, so records/s here bounds what one core can serve. No cluster, no I/O.

Run alone: ``python -m benchmarks.kafka_convert [records] [value_bytes]``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from kraft.protocol.batch import encode_batch
from kraft.protocol.kafka.records import decode_kafka_batch, native_to_kafka

RUNS = 5


def _median_rate(fn: Callable[[], object], records: int, loops: int) -> float:
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        rates.append(records * loops / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_native_to_kafka(records: int = 1000, value_bytes: int = 100) -> dict:
    """Records/s (median of 5 runs) of native_to_kafka and decode_kafka_batch on one batch of
    ``records`` records with 16-byte keys, ``value_bytes``-byte values and no headers."""
    value = os.urandom(value_bytes)
    now = int(time.time() * 1000)
    native = encode_batch([(now + i // 10, b"key-%012d" % i, value, ()) for i in range(records)], 7, 0)
    kafka = native_to_kafka(native, 0)
    loops = max(1, 20_000 // records)  # each timed run covers ~20k records, long enough for perf_counter
    return {
        "records_per_batch": records,
        "value_bytes": value_bytes,
        "native_batch_bytes": len(native),
        "kafka_batch_bytes": len(kafka),
        "native_to_kafka_records_per_s": round(_median_rate(lambda: native_to_kafka(native, 1234), records, loops)),
        "decode_kafka_batch_records_per_s": round(_median_rate(lambda: decode_kafka_batch(kafka), records, loops)),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(bench_native_to_kafka(*args), indent=2))
