"""Retention: the partitions this node leads drop their oldest batches once a topic's retention says so.

Owns: when a retention pass runs (every ``log_retention_check_interval_ms``), which partitions it
looks at (those led here, once the leader has applied its predecessors' entries), and the decision
to propose a trim: the new log start is computed from the committed batch index
(``PartitionLog.retention_target``: whole batches, oldest first) and proposed like a DeleteRecords,
so every replica removes exactly the same batches at the same Raft entry.
Must not: delete anything itself (the replicated trim does, on every replica, and the rows go in
bounded slices in the driver loop), or parse topic configs (``policy_for`` resolves them).

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
    """What a topic keeps; None: no limit of that kind."""

    retention_ms: int | None
    retention_bytes: int | None

    @property
    def deletes(self) -> bool:
        return self.retention_ms is not None or self.retention_bytes is not None


NO_RETENTION = RetentionPolicy(None, None)
KAFKA_RETENTION_MS = 7 * 24 * 3600 * 1000


def policy_from_configs(configs: Mapping[str, object]) -> RetentionPolicy:
    """A topic's retention from its configs (Kafka's names and defaults; -1: unlimited)."""
    if "delete" not in str(configs.get("cleanup.policy", "delete")):
        return NO_RETENTION
    ms = int(str(configs.get("retention.ms", KAFKA_RETENTION_MS)))
    size = int(str(configs.get("retention.bytes", -1)))
    return RetentionPolicy(None if ms < 0 else ms, None if size < 0 else size)


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class RetentionScheduler:
    def __init__(
        self,
        store: LogStore,
        partitions: Callable[[], list[PartitionReplica]],
        policy_for: Callable[[str], RetentionPolicy],
        trim: Callable[[str, int, int], Awaitable[int]],
        interval_s: float,
        wall_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        """``partitions``: the replicas this node hosts; ``trim(topic, partition, offset)``: an
        awaitable proposal that moves the log start (the broker's ``delete_records``)."""
        self._store = store
        self._partitions = partitions
        self._policy_for = policy_for
        self._trim = trim
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
        """One pass over the partitions led here; how many trims were proposed and applied."""
        trimmed = 0
        for replica in self._partitions():
            if not replica.group.leadership_ready():
                continue
            policy = self._policy_for(replica.meta.topic)
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

    def _target(self, replica: PartitionReplica, policy: RetentionPolicy) -> tuple[int | None, int, int]:
        older_than = None if policy.retention_ms is None else self._wall_ms() - policy.retention_ms
        with self._store.read() as view:
            state = replica.log.read_state(view)
            target = replica.log.retention_target(view, older_than_ms=older_than, keep_bytes=policy.retention_bytes)
        return target, state["log_start_offset"], state["next_offset"]
