"""Changelog topics: restoring a task's stores before it processes, and the topics themselves.

A store's changelog partition p holds every committed change of the store in task p, in order
(key bytes, value bytes; a None value deletes). A local store whose checkpoint c is within the
changelog's [begin, end] is current up to c, so restoring reads only [c, end): a restart on the
same machine replays nothing or the little written since. No checkpoint, or one outside the
changelog's range (the topic was recreated or truncated), means wipe and replay from the start.
Changelog records carry their task's stream time as timestamp, so a restore brings it back too.
"""

from __future__ import annotations

import logging
import time

from kraft.apis import Consumer, TopicPartition
from kraft.errors import KraftError

from .errors import StreamsError
from .stores import TaskStores

log = logging.getLogger(__name__)
RESTORE_POLL_MS = 500
RESTORE_TIMEOUT_S = 300
RETRY_BACKOFF_S = 0.5


def restore_store(consumer: Consumer, stores: TaskStores, store: str, tp: TopicPartition,
                  timeout_s: float = RESTORE_TIMEOUT_S) -> int:
    """Bring ``store`` up to the end of its changelog partition ``tp``; returns records replayed.
    Retriable errors (a leader moving, say) are retried until ``timeout_s``: what was restored
    so far is committed with its checkpoint, so a retry goes on from there."""
    deadline = time.monotonic() + timeout_s
    replayed = 0
    while True:
        try:
            return replayed + _restore_once(consumer, stores, store, tp, deadline)
        except KraftError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            log.warning("restoring %s from %s: %s; retrying", store, tp, exc)
            time.sleep(RETRY_BACKOFF_S)  # sleep-ok: back-off before retrying a retriable error


def _restore_once(consumer: Consumer, stores: TaskStores, store: str, tp: TopicPartition, deadline: float) -> int:
    begin = consumer.beginning_offsets([tp])[tp]
    end = consumer.end_offsets([tp])[tp]
    checkpoint = stores.checkpoint(store)
    if checkpoint is None or not begin <= checkpoint <= end:
        if checkpoint is not None:
            log.warning("store %s: checkpoint %d outside changelog %s range [%d, %d]: full restore",
                        store, checkpoint, tp, begin, end)
        stores.wipe(store)
        start = begin
    else:
        start = checkpoint
    if start >= end:
        if checkpoint is None:
            stores.restore(store, [], end)
        return 0
    consumer.assign([tp])
    consumer.seek(tp, start)
    position, replayed = start, 0
    while position < end:
        if time.monotonic() > deadline:
            raise StreamsError(f"restoring {store} from {tp} did not reach offset {end} in {RESTORE_TIMEOUT_S} s")
        records = [r for r in consumer.poll(timeout_ms=RESTORE_POLL_MS) if r.offset < end]
        if records:
            position = min(records[-1].offset + 1, end)
            # A changelog record's timestamp is its task's stream time when it was written.
            stores.restore(store, [(r.key or b"", r.value) for r in records], position,
                           max(r.timestamp_ms for r in records))
            replayed += len(records)
    consumer.assign([])
    log.info("restored store %s from %s: %d records [%d, %d)", store, tp, replayed, start, end)
    return replayed
