"""Retention and compaction: the partitions this node leads drop their oldest batches once a topic's
retention says so, and compact once enough of their log is dirty.

Owns: when a pass runs (every ``log_retention_check_interval_ms``), which partitions it looks at
(those led here, once the leader has applied its predecessors' entries), and the decisions to
propose a trim (the new log start from the committed batch index: ``PartitionLog.retention_target``,
whole batches, oldest first; proposed like a DeleteRecords) and a compaction pass (its end from
``PartitionLog.compaction_target``: min.compaction.lag.ms, the active head, the dirty ratio or
max.compaction.lag.ms; its tombstone horizon delete.retention.ms before now). Both are replicated
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from kraft import errors
from kraft.log.store import LogStore
from kraft.node.replicas import PartitionReplica

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What a topic keeps; None: no limit of that kind. ``compact``: cleanup.policy has compact."""

    retention_ms: int | None
    retention_bytes: int | None
    compact: bool = False
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int | None = None
    min_cleanable_dirty_ratio: float = 0.5
    delete_retention_ms: int = 24 * 3600 * 1000

    @property
    def deletes(self) -> bool:
        return self.retention_ms is not None or self.retention_bytes is not None


NO_RETENTION = RetentionPolicy(None, None)
KAFKA_RETENTION_MS = 7 * 24 * 3600 * 1000
LONG_MAX = (1 << 63) - 1


def policy_from_configs(configs: Mapping[str, object]) -> RetentionPolicy:
    """A topic's retention and compaction from its configs (Kafka's names and defaults)."""
    def num(name: str, default: float) -> float:
        return float(str(configs.get(name, default)))

    cleanup = str(configs.get("cleanup.policy", "delete"))
    ms, size = int(num("retention.ms", KAFKA_RETENTION_MS)), int(num("retention.bytes", -1))
    max_lag = int(num("max.compaction.lag.ms", LONG_MAX))
    deletes = "delete" in cleanup
    return RetentionPolicy(
        None if ms < 0 or not deletes else ms, None if size < 0 or not deletes else size,
        compact="compact" in cleanup,
        min_compaction_lag_ms=int(num("min.compaction.lag.ms", 0)),
        max_compaction_lag_ms=None if max_lag >= LONG_MAX else max_lag,
        min_cleanable_dirty_ratio=num("min.cleanable.dirty.ratio", 0.5),
        delete_retention_ms=int(num("delete.retention.ms", 24 * 3600 * 1000)),
    )


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class RetentionScheduler:
    def __init__(
        self,
        store: LogStore,
        partitions: Callable[[], list[PartitionReplica]],
        policy_for: Callable[[str], RetentionPolicy],
        trim: Callable[[str, int, int], Awaitable[int]],
        compact: Callable[[str, int, int, int], Awaitable[int]],
        interval_s: float,
        wall_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        """``partitions``: the replicas this node hosts; ``trim(topic, partition, offset)``: an
        awaitable proposal that moves the log start (the broker's ``delete_records``)."""
        self._store = store
        self._partitions = partitions
        self._policy_for = policy_for
        self._trim = trim
        self._compact = compact
        self.interval_s = interval_s
        self._wall_ms = wall_ms

    async def run(self) -> None:
        """Passes forever, ``interval_s`` apart (cancel the task to stop)."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_pass()
            except Exception:
                log.exception("retention pass failed")

    async def run_pass(self) -> int:
        """One pass over the partitions led here; how many trims and compactions were applied."""
        trimmed = 0
        for replica in self._partitions():
            if not replica.group.leadership_ready():
                continue
            policy = self._policy_for(replica.meta.topic)
            if policy.compact:
                trimmed += await self._compact_if_due(replica, policy)
            if not policy.deletes:
                continue
            target, start, end = await asyncio.to_thread(self._target, replica, policy)
            if target is None:
                continue
            topic, partition = replica.meta.topic, replica.meta.partition
            if target >= end:
                log.warning("retention: every record of %s/%d is past its retention (%s): the log is emptied",
                            topic, partition, policy)
            try:
                await self._trim(topic, partition, target)
            except errors.KraftError as e:
                log.info("retention: %s/%d not trimmed this pass: %s", topic, partition, e)
                continue
            log.info("retention: %s/%d log start %d -> %d", topic, partition, start, target)
            trimmed += 1
        return trimmed

    async def _compact_if_due(self, replica: PartitionReplica, policy: RetentionPolicy) -> int:
        now = self._wall_ms()
        overdue = None if policy.max_compaction_lag_ms is None else now - policy.max_compaction_lag_ms

        def target() -> int | None:
            with self._store.read() as view:
                return replica.log.compaction_target(view, newer_than_ms=now - policy.min_compaction_lag_ms,
                                                     overdue_before_ms=overdue,
                                                     min_dirty_ratio=policy.min_cleanable_dirty_ratio)

        end = await asyncio.to_thread(target)
        if end is None:
            return 0
        topic, partition = replica.meta.topic, replica.meta.partition
        try:
            await self._compact(topic, partition, end, now - policy.delete_retention_ms)
        except errors.KraftError as e:
            log.info("compaction: %s/%d not compacted this pass: %s", topic, partition, e)
            return 0
        log.info("compaction: %s/%d compacting below offset %d", topic, partition, end)
        return 1

    def _target(self, replica: PartitionReplica, policy: RetentionPolicy) -> tuple[int | None, int, int]:
        older_than = None if policy.retention_ms is None else self._wall_ms() - policy.retention_ms
        with self._store.read() as view:
            state = replica.log.read_state(view)
            target = replica.log.retention_target(view, older_than_ms=older_than, keep_bytes=policy.retention_bytes)
        return target, state["log_start_offset"], state["next_offset"]
