"""Retention and compaction: the partitions this node leads drop their oldest batches once a topic's
retention says so, and compact once enough of their log is dirty.

Owns: when a pass runs (retention every ``log_retention_check_interval_ms``; compaction every
``log_cleaner_backoff_ms`` or with each retention pass, whichever is sooner), which partitions it looks at
(those led here, once the leader has applied its predecessors' entries), and the decisions to
propose a trim (the new log start from the committed batch index: ``PartitionLog.retention_target``,
whole batches, oldest first; proposed like a DeleteRecords) and a compaction pass (its end from
``PartitionLog.compaction_target``: min.compaction.lag.ms, the active head, the dirty ratio or
max.compaction.lag.ms; its tombstones those a pass first cleaned delete.retention.ms ago). Both are replicated
commands, so every replica removes exactly the same records.
Must not: delete or rewrite anything itself (every replica applies the commands, and the work goes
in bounded slices in the driver loop), or parse topic configs (``policy_for`` resolves them).

A pass reads each partition's index on a worker thread, so the event loop keeps serving clients;
one partition at a time, so a pass over thousands of partitions never holds the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from kraft import errors
from kraft.log.store import LogStore
from kraft.node.replicas import PartitionReplica
from kraft.topic_config import LogConfig

log = logging.getLogger(__name__)


LONG_MAX = (1 << 63) - 1  # max.compaction.lag.ms's default: never overdue


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class RetentionScheduler:
    def __init__(
        self,
        store: LogStore,
        partitions: Callable[[], list[PartitionReplica]],
        policy_for: Callable[[str], LogConfig | None],
        trim: Callable[[str, int, int], Awaitable[int]],
        compact: Callable[[str, int, int, int, int], Awaitable[int]],
        interval_s: float,
        wall_ms: Callable[[], int] = wall_clock_ms,
        compact_interval_s: float | None = None,
    ) -> None:
        """``partitions``: the replicas this node hosts; ``trim(topic, partition, offset)``: an
        awaitable proposal that moves the log start (the broker's ``delete_records``);
        ``interval_s`` between retention passes, ``compact_interval_s`` (None: the same) between
        compaction passes, as Kafka's cleaner looks every log.cleaner.backoff.ms (15 s) while its
        retention check waits 5 minutes: a topic with a small max.compaction.lag.ms is compacted
        within seconds. A retention pass looks for compaction work too."""
        self._store = store
        self._partitions = partitions
        self._policy_for = policy_for
        self._trim = trim
        self._compact = compact
        self.interval_s = interval_s
        self.compact_interval_s = interval_s if compact_interval_s is None else compact_interval_s
        self._wall_ms = wall_ms

    async def run(self) -> None:
        """Passes forever (cancel the task to stop): compaction every ``compact_interval_s``,
        retention every ``interval_s``, each on its own deadline of the monotonic clock."""
        loop = asyncio.get_running_loop()
        next_retention = loop.time() + self.interval_s
        next_compaction = loop.time() + self.compact_interval_s
        while True:
            await asyncio.sleep(max(0.0, min(next_retention, next_compaction) - loop.time()))
            now = loop.time()
            retention = now >= next_retention
            if retention:
                next_retention = now + self.interval_s
            next_compaction = now + self.compact_interval_s  # a retention pass compacts too
            try:
                await self.run_pass(retention=retention)
            except Exception:
                log.exception("retention pass failed")

    async def run_pass(self, *, retention: bool = True) -> int:
        """One pass over the partitions led here (compaction, and retention unless ``retention`` is
        False); how many trims and compactions were applied."""
        trimmed = 0
        for replica in self._partitions():
            if not replica.group.leadership_ready():
                continue
            policy = self._policy_for(replica.meta.topic)
            if policy is None:
                continue  # the topic is being deleted
            if policy.compact:
                trimmed += await self._compact_if_due(replica, policy)
            if not retention or not policy.delete or (policy.retention_ms < 0 and policy.retention_bytes < 0):
                continue
            target, start, end = await asyncio.to_thread(self._target, replica, policy)
            if target is None:
                continue
            topic, partition = replica.meta.topic, replica.meta.partition
            if target >= end:
                log.warning("retention: every record of %s/%d is past its retention (retention.ms %d, "
                            "retention.bytes %d): the log is emptied", topic, partition, policy.retention_ms,
                            policy.retention_bytes)
            try:
                await self._trim(topic, partition, target)
            except errors.KraftError as e:
                log.info("retention: %s/%d not trimmed this pass: %s", topic, partition, e)
                continue
            log.info("retention: %s/%d log start %d -> %d", topic, partition, start, target)
            trimmed += 1
        return trimmed

    async def _compact_if_due(self, replica: PartitionReplica, policy: LogConfig) -> int:
        now = self._wall_ms()
        lag = policy.max_compaction_lag_ms
        overdue = None if lag >= LONG_MAX or lag > now else now - lag
        # min.compaction.lag.ms 0 is no lag at all: a record stamped in the future must not hold back
        # every record after it (Kafka skips the check then too).
        newer_than = LONG_MAX if policy.min_compaction_lag_ms <= 0 else now - policy.min_compaction_lag_ms

        def target() -> int | None:
            with self._store.read() as view:
                return replica.log.compaction_target(view, newer_than_ms=newer_than,
                                                     overdue_before_ms=overdue,
                                                     min_dirty_ratio=policy.min_cleanable_dirty_ratio)

        end = await asyncio.to_thread(target)
        machine = replica.machine
        if end is None:
            # Nothing dirty enough; but tombstones a pass covered long enough ago go only in a
            # later pass: the same part again (Kafka cleans a log whose tombstones expired too).
            if machine.tombstones_cleaned_before(now - policy.delete_retention_ms) <= machine.compaction[1]:
                return 0
            end = machine.compacted_to
        topic, partition = replica.meta.topic, replica.meta.partition
        try:
            await self._compact(topic, partition, end, policy.delete_retention_ms, now)
        except errors.KraftError as e:
            log.info("compaction: %s/%d not compacted this pass: %s", topic, partition, e)
            return 0
        log.info("compaction: %s/%d compacting below offset %d", topic, partition, end)
        return 1

    def _target(self, replica: PartitionReplica, policy: LogConfig) -> tuple[int | None, int, int]:
        older_than = None if policy.retention_ms < 0 else self._wall_ms() - policy.retention_ms
        keep_bytes = None if policy.retention_bytes < 0 else policy.retention_bytes
        with self._store.read() as view:
            state = replica.log.read_state(view)
            target = replica.log.retention_target(view, older_than_ms=older_than, keep_bytes=keep_bytes)
        return target, state["log_start_offset"], state["next_offset"]
