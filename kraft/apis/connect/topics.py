"""Helpers over the public client API for the worker's topics: create if missing (the internal
offsets and status topics compacted, and checked to be so, as Kafka Connect does), read a whole
(small) topic from the beginning to its current end."""

from __future__ import annotations

import logging
import time

from kraft.apis import Admin, Consumer, ConsumerRecord, TopicPartition
from kraft.errors import TopicAlreadyExists

from .fields import ConfigError

log = logging.getLogger(__name__)


def ensure_topic(admin: Admin, name: str, partitions: int | None = None,
                 replication_factor: int | None = None) -> None:
    if name in admin.list_topics():
        return
    try:
        admin.create_topic(name, partitions=partitions, replication_factor=replication_factor)
    except TopicAlreadyExists:
        pass  # another worker created it meanwhile


def ensure_internal_topic(admin: Admin, name: str, setting: str, purpose: str) -> None:
    """Create the worker's internal topic ``name`` (one partition, ``cleanup.policy=compact``: the
    latest record of every key is all the worker reads back), or check that the existing one is
    compacted and only compacted, as Kafka Connect's ``verifyTopicCleanupPolicyOnlyCompact``: with
    ``delete`` too, retention would remove ``purpose`` that are never rewritten (a source partition
    whose offset has not moved for ``retention.ms`` would start over). ``setting`` names where the
    worker got the topic's name, for the error."""
    if name not in admin.list_topics():
        try:
            admin.create_topic(name, partitions=1, config={"cleanup.policy": "compact"})
            log.info("created the worker's internal topic %s (cleanup.policy=compact)", name)
            return
        except TopicAlreadyExists:
            pass  # another worker created it meanwhile: check it as any existing topic
    entry = admin.describe_configs(name).get("cleanup.policy")
    have = "" if entry is None else str(entry.value)
    if {p.strip() for p in have.split(",") if p.strip()} != {"compact"}:
        where = "set on the topic" if entry is not None and entry.source == "topic" else "the cluster's default"
        raise ConfigError(
            f"topic {name!r} given by {setting} is required to have 'cleanup.policy=compact' to keep {purpose}, "
            f"but it has 'cleanup.policy={have}' ({where}); with delete, retention would eventually remove "
            f"{purpose}. Change it (kraft topic alter {name} --config cleanup.policy=compact) or give "
            f"{setting} a compacted topic")


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
