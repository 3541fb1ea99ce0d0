"""Helpers over the public client API for the worker's internal topics: create if missing, read
a whole (small) topic from the beginning to its current end."""

from __future__ import annotations

import time

from kraft.apis import Admin, Consumer, ConsumerRecord, TopicPartition
from kraft.errors import TopicAlreadyExists


def ensure_topic(admin: Admin, name: str, partitions: int | None = None,
                 replication_factor: int | None = None) -> None:
    if name in admin.list_topics():
        return
    try:
        admin.create_topic(name, partitions=partitions, replication_factor=replication_factor)
    except TopicAlreadyExists:
        pass  # another worker created it meanwhile


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` up to the end offsets taken when called, in offset order per
    partition. Raises TimeoutError when the end is not reached within ``timeout_s``."""
    consumer = Consumer(bootstrap, enable_auto_commit=False)
    try:
        admin_parts = _partitions(bootstrap, topic)
        tps = [TopicPartition(topic, p) for p in admin_parts]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout_s} s")
            polled = consumer.poll(timeout_ms=500)
            out.extend(r for r in polled if r.offset < ends[TopicPartition(r.topic, r.partition)])
        return out
    finally:
        consumer.close()


def _partitions(bootstrap: str, topic: str) -> list[int]:
    with Admin(bootstrap) as admin:
        return [p.partition for p in admin.describe_topic(topic).partitions]
