"""Kafka clients against kraft in ``make bench``: confluent-kafka (librdkafka) producer and consumer
throughput through the Kafka listener, on the same cluster and in the same run as kraft's own Python
client, plus the cost of serving natively produced batches to a Kafka consumer (converted to magic v2
on the broker) and of the pure codec (``benchmarks.kafka_convert``).

100-byte values, RF 3, acks=all, 6 partitions, fresh topic per run; medians of the runs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition

from benchmarks.kafka_convert import bench_native_to_kafka
from kraft import Admin
from kraft.testing.local_cluster import Cluster

PARTITIONS = 6


def confluent_produce(cluster: Cluster, topic: str, n: int, value: bytes) -> float:
    return confluent_produce_to(cluster.kafka_bootstrap, topic, n, value)


def confluent_produce_to(bootstrap: str, topic: str, n: int, value: bytes) -> float:
    """Records/s of confluent-kafka's producer sending ``n`` records round-robin over the partitions
    (any Kafka-compatible broker: kraft's Kafka listener, or tansu in benchmarks.vs_tansu)."""
    producer = CKProducer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                           "batch.size": 65536, "queue.buffering.max.messages": 1_000_000})
    failed: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value=value, partition=i % PARTITIONS, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: let deliveries drain it
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failed:
        raise RuntimeError(f"confluent producer: {remaining} undelivered, {len(failed)} failed ({failed[:3]})")
    return n / elapsed


def confluent_consume(cluster: Cluster, topic: str, n: int) -> float:
    consumer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": f"bench-{topic}",
                           "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        consumer.assign([CKTopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got = 0
        start = time.perf_counter()
        deadline = time.monotonic() + 300
        while got < n and time.monotonic() < deadline:
            got += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
        elapsed = time.perf_counter() - start
    finally:
        consumer.close()
    return got / elapsed


def run_kafka_benchmarks(cluster: Cluster, runs: int, records: int, value: bytes,
                         native_topics: list[str]) -> dict[str, Any]:
    """``native_topics``: topics of ``records`` records each that kraft's own producer wrote in this run."""
    produce, consume, consume_native = [], [], []
    with Admin(cluster.bootstrap) as admin:
        for run in range(runs):
            topic = f"kafka-bench-{run}"
            admin.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
            cluster.wait_leaders(topic)
            produce.append(confluent_produce(cluster, topic, records, value))
            consume.append(confluent_consume(cluster, topic, records))
            if run < len(native_topics):
                consume_native.append(confluent_consume(cluster, native_topics[run], records))
            print(f"run {run}: confluent-kafka produce {produce[-1]:,.0f} rec/s, consume {consume[-1]:,.0f} rec/s"
                  + (f", consume of native batches {consume_native[-1]:,.0f} rec/s" if consume_native else ""),
                  flush=True)
    return {
        "confluent_produce_records_per_s": statistics.median(produce),
        "confluent_consume_records_per_s": statistics.median(consume),
        "confluent_consume_native_batches_records_per_s": statistics.median(consume_native) if consume_native
        else None,
        "codec": bench_native_to_kafka(1000, len(value)),
    }
