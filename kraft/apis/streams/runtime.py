"""The runtime of one app instance: consume → process → produce, and commit.

One thread does everything that touches tasks (the consumer runs rebalance callbacks on it).

Every record sent (output, repartition, dead-letter, changelog) leaves its future in
``_unacked``. Commit (every ``commit_interval_ms``, on rebalance and on close), in this order,
which is what makes the guarantee at-least-once: (0) flush the record cache (:mod:`.cache`): the
coalesced updates are forwarded and whatever they write is sent; (1) send one changelog record per store key
changed since the last commit; (2) ``producer.flush()`` and check every future since the last
commit — one failed write stops the app before anything is committed; (3) commit the consumed
input offsets to the group; (4) commit each task's LMDB transaction with its stores' changelog
checkpoints. A crash anywhere before (3) makes the next owner re-process everything after the
previous commit: outputs and state updates of those records can repeat, none is lost. A crash
between (3) and (4) leaves the local stores at their previous checkpoint, and the restore replays
the changelog records of (1), so nothing is applied twice. An offset commit refused because the
group moved on (this instance was a zombie) drops the tasks without committing their stores: their
local state stays at the previous checkpoint, the changelog is the truth.

Rebalances are eager: ``on_revoke`` commits and closes every task; ``on_assign`` opens the new
tasks' stores and restores them from their changelogs before any of their records is processed.

Repartition topics keep records until they are purged (infinite retention, see :mod:`.topics`):
once offsets of repartition partitions are committed, the records below them are never read again
(a new owner starts at the committed offset), so at most every ``repartition_purge_interval_ms``
after a commit the runtime deletes them (``Admin.delete_records``, as Kafka Streams does), on a
background thread, one request at a time; a failed purge is logged and retried at the next one.
"""

from __future__ import annotations

import fcntl
import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lmdb

from kraft.apis import Admin, Consumer, ConsumerRecord, Producer, RecordMetadata, TopicPartition
from kraft.errors import IllegalGeneration, KraftError, RebalanceInProgress, UnknownMemberId

from .cache import DEFAULT_CACHE_MAX_BYTES, CacheBudget
from .changelog import restore_store
from .errors import CONTINUE, STOP, DeadLetter, ErrorHandler, StreamsError, dead_letter_headers, describe
from .stores import LmdbTaskStores, MemoryTaskStores, remove_task_dir, stale_task_dirs
from .task import Task, TaskId
from .topics import prepare_topics
from .topology import SubTopology, Topology

log = logging.getLogger(__name__)
POLL_TIMEOUT_MS = 100
PURGE_INTERVAL_S = 30  # how often expired window / join entries are deleted (a scan of those stores)
UNACKED_CHECK_RECORDS = 100_000  # sent records between checks of which are acknowledged (bounds memory)
STATE_CLEANUP_DELAY_S = 600  # local state of a task gone this long is deleted (Kafka's state.cleanup.delay.ms)


class StreamRuntime:
    def __init__(self, app_id: str, bootstrap: str | list[str], topology: Topology, state_dir: Path, *,
                 on_error: ErrorHandler, commit_interval_ms: int, replication_factor: int | None,
                 consumer_config: dict[str, Any], producer_config: dict[str, Any],
                 on_state: Callable[[str], None], store_map_size_mb: int = 4096,
                 repartition_purge_interval_ms: int = 30000,
                 cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES) -> None:
        self.app_id = app_id
        self.cache_budget = CacheBudget(cache_max_bytes)  # shared by every task of this instance
        self.bootstrap = bootstrap
        self.topology = topology
        self.subs = topology.subtopologies()
        self.sub_of_topic = {t: sub for sub in self.subs for t in sub.sources}
        self._multi_source = any(len(sub.sources) > 1 for sub in self.subs)
        self.state_dir = state_dir / app_id
        self.on_error = on_error
        self.commit_interval_s = commit_interval_ms / 1000
        self.replication_factor = replication_factor
        self.consumer_config = consumer_config
        self.producer_config = producer_config
        self._on_state = on_state
        self.store_map_size_mb = store_map_size_mb
        self.repartition_topics = frozenset(topology.repartition_topics)
        self.purge_interval_s = repartition_purge_interval_ms / 1000
        self._purgeable: dict[tuple[str, int], int] = {}  # repartition partition -> committed offset
        self._purged: dict[tuple[str, int], int] = {}  # what the last successful purges deleted below
        self._purging: Future[dict[tuple[str, int], int]] | None = None
        self._purger: ThreadPoolExecutor | None = None
        self._admin: Admin | None = None
        self.purges = 0  # repartition partitions purged (one per partition and purge)
        self.tasks: dict[TaskId, Task] = {}
        self.tasks_lock = threading.Lock()
        self._consumed: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset to read
        self._task_of: dict[tuple[str, int], Task] = {}  # (topic, partition) -> its task
        self._unacked: list[Future[RecordMetadata]] = []  # every record sent since the last commit
        self._unacked_check_at = UNACKED_CHECK_RECORDS
        self._send_error: BaseException | None = None
        self._revoke_error: BaseException | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._restorer: Consumer | None = None
        self._lock_file: Any = None
        self.processed = 0
        self.restored = 0  # changelog records replayed into local stores
        self.commits = 0
        self._healthy = True  # False after an error: commit nothing more, so a restart redoes it all

    # --- lifecycle --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._lock_state_dir()
        try:
            dlq = (self.on_error.topic,) if isinstance(self.on_error, DeadLetter) else ()
            self._admin = Admin(self.bootstrap)
            prepare_topics(self._admin, self.topology, self.subs, self.replication_factor, dlq)
            # acks=all and idempotence are the guarantee's: an acknowledged write is replicated and a
            # partition's records (a changelog's above all) keep their order across retries.
            self._producer = Producer(self.bootstrap, **{"linger_ms": 5, **self.producer_config,
                                                         "acks": "all", "enable_idempotence": True})
            self._restorer = Consumer(self.bootstrap, client_id=f"{self.app_id}-restore")
            self._consumer = Consumer(self.bootstrap, **{
                "session_timeout_ms": 10000, "heartbeat_interval_ms": 1000, "max_poll_records": 1000,
                **self.consumer_config,
                "group_id": self.app_id, "client_id": self.app_id, "enable_auto_commit": False,
                "auto_offset_reset": "earliest", "partition_assignment_strategy": "range"})
            self._consumer.subscribe(sorted(self.sub_of_topic), on_assign=self._on_assign, on_revoke=self._on_revoke)
            self._loop(stop)
        except BaseException:
            self._healthy = False
            raise
        finally:
            self._shutdown()
        if self._revoke_error is not None:  # the commit on close failed: nothing was committed
            raise StreamsError(f"the final commit failed: {self._revoke_error!r}") from self._revoke_error

    def _loop(self, stop: threading.Event) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_commit = time.monotonic() + self.commit_interval_s
        next_purge = time.monotonic() + PURGE_INTERVAL_S
        next_repartition_purge = time.monotonic() + self.purge_interval_s
        while not stop.is_set():
            records = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            if self._multi_source and len(records) > 1:
                records = in_time_order(records)
            for record in records:
                self._process(record)
            now_ms = int(time.time() * 1000)
            for task in list(self.tasks.values()):
                try:
                    task.punctuate_wall_clock(now_ms)
                except Exception as exc:
                    raise StreamsError(f"a wall-clock punctuator of task {task.id} raised: {exc!r}") from exc
            if time.monotonic() >= next_purge:
                for task in list(self.tasks.values()):
                    task.purge(self.subs[task.id.subtopology].nodes)
                self._remove_stale_state()
                next_purge = time.monotonic() + PURGE_INTERVAL_S
            if time.monotonic() >= next_commit:
                self.commit()
                next_commit = time.monotonic() + self.commit_interval_s
                if time.monotonic() >= next_repartition_purge and self.purge_repartition_topics():
                    next_repartition_purge = time.monotonic() + self.purge_interval_s

    def _shutdown(self) -> None:
        """Commit what was processed (when the producer is healthy) and close everything."""
        try:
            if self._consumer is not None:
                self._consumer.close()  # runs on_revoke: commit and close the tasks
        except Exception:
            log.exception("closing the consumer of %s", self.app_id)
        finally:
            self._close_tasks()
            if self._purger is not None:  # a purge in flight finishes (bounded by the admin's timeout)
                self._purger.shutdown(wait=True, cancel_futures=True)
            for client in (self._producer, self._restorer, self._admin):
                try:
                    if client is not None:
                        client.close()
                except Exception:
                    log.exception("closing a client of %s", self.app_id)
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def _remove_stale_state(self) -> None:
        owned = {str(task_id) for task_id in self.tasks}
        for path in stale_task_dirs(self.state_dir, owned, time.time(), STATE_CLEANUP_DELAY_S):
            log.info("%s: deleting the local state of task %s (not assigned here for %d s)",
                     self.app_id, path.name, STATE_CLEANUP_DELAY_S)
            remove_task_dir(path)

    def _lock_state_dir(self) -> None:
        # Two live instances sharing one state dir would fight over the same LMDB write locks.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.state_dir / ".lock", "a+")  # noqa: SIM115 - held until shutdown
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            raise StreamsError(f"state dir {self.state_dir} is in use by another instance of {self.app_id}") from exc
        self._lock_file = lock

    # --- processing -------------------------------------------------------------------------------

    def _process(self, record: ConsumerRecord) -> None:
        tp = (record.topic, record.partition)
        task = self._task_of.get(tp)
        if task is None:  # cannot happen: records come only from assigned partitions
            raise StreamsError(f"no task for {describe(record)}")
        try:
            source, key, value, ts = task.deserialize(record)
        except Exception as exc:
            self._failed(record, exc, "deserializing")
        else:
            try:
                task.process(source, record, key, value, ts)
            except Exception as exc:
                self._failed(record, exc, "processing")
        self._consumed[tp] = record.offset + 1
        self.processed += 1

    def _failed(self, record: ConsumerRecord, exc: Exception, what: str) -> None:
        if self._send_error is not None:  # the producer itself failed: not the record's fault
            raise StreamsError(f"a write failed while {what} the record at {describe(record)}: "
                               f"{self._send_error!r}") from self._send_error
        if self.on_error == STOP:
            raise StreamsError(f"{what} the record at {describe(record)} failed: {exc!r}") from exc
        if self.on_error == CONTINUE:
            log.error("%s the record at %s failed, skipped: %r", what, describe(record), exc)
            return
        assert isinstance(self.on_error, DeadLetter)
        log.warning("%s the record at %s failed, sent to %s: %r", what, describe(record), self.on_error.topic, exc)
        self._send(self.on_error.topic, record.key, record.value, record.timestamp_ms, None,
                   dead_letter_headers(record, exc))

    def _send(self, topic: str, key: bytes | None, value: bytes | None, ts: int, partition: int | None,
              headers: list[tuple[str, bytes]] | None) -> Future[RecordMetadata]:
        assert self._producer is not None
        try:
            future = self._producer.send(topic, value=value, key=key, partition=partition, timestamp_ms=ts,
                                         headers=headers)
        except RuntimeError as exc:  # the producer is closed or its sender crashed: fatal
            self._send_error = exc
            raise
        self._unacked.append(future)  # checked at the next commit (no per-record callback: hot path)
        if len(self._unacked) >= self._unacked_check_at:
            self._forget_acknowledged()
        return future

    def _forget_acknowledged(self) -> None:
        """Drop the futures of acknowledged records (raise for a failed one); keep pending ones."""
        pending = []
        for future in self._unacked:
            if not future.done():
                pending.append(future)
                continue
            exc = future.exception()
            if exc is not None:
                if self._send_error is None:
                    self._send_error = exc
                raise StreamsError(f"a write failed: {exc!r}") from exc
        self._unacked = pending
        self._unacked_check_at = len(pending) + UNACKED_CHECK_RECORDS

    # --- commit -----------------------------------------------------------------------------------

    def commit(self) -> None:
        """Flush and check every write since the last commit, then commit the consumed offsets,
        then the tasks' stores with their changelog checkpoints (see the module docstring)."""
        producer, consumer = self._producer, self._consumer
        assert producer is not None and consumer is not None
        for task in self.tasks.values():
            try:
                task.flush_caches()
            except Exception as exc:  # user code downstream of a cached node: no record to blame or skip
                raise StreamsError(f"forwarding the cached updates of task {task.id} failed: {exc!r}") from exc
        last: dict[tuple[TaskId, str], Future[RecordMetadata]] = {}
        for task in self.tasks.values():
            stream_time = max(0, task.ctx.stream_time)  # restored with the records (changelog.py)
            for store, changes in task.stores.take_dirty().items():
                topic = self.topology.changelog_topic(store)
                for key, value in changes.items():
                    last[(task.id, store)] = self._send(topic, key, value, stream_time, task.id.partition, None)
        producer.flush()
        self._check_acknowledged()
        tasks = list(self.tasks.values())
        if self._consumed:
            offsets = {TopicPartition(*tp): offset for tp, offset in self._consumed.items()}
            self._consumed = {}
            try:
                consumer.commit(offsets)
            except (IllegalGeneration, UnknownMemberId, RebalanceInProgress) as exc:
                # The group moved on without us (a zombie for a while): the new owners re-process
                # from the last commit and may have written these changelogs too. Drop the tasks
                # with their stores at the previous checkpoint; a restore replays the changelog.
                log.warning("offset commit of %s refused (%s); dropping its tasks", self.app_id, exc)
                self._close_tasks()
                return
            except KraftError as exc:
                if not exc.retriable:
                    raise
                log.warning("offset commit of %s failed, retrying at the next commit: %s", self.app_id, exc)
                self._consumed = {**{(tp.topic, tp.partition): o for tp, o in offsets.items()}, **self._consumed}
            else:
                self._purgeable.update({(tp.topic, tp.partition): offset for tp, offset in offsets.items()
                                        if tp.topic in self.repartition_topics})
        for task in tasks:
            checkpoints = {store: future.result().offset + 1
                           for (task_id, store), future in last.items() if task_id == task.id}
            task.stores.commit(checkpoints, task.ctx.stream_time)
        self.commits += 1

    # --- purging repartition topics ----------------------------------------------------------------

    def purge_repartition_topics(self) -> bool:
        """Start deleting the records of repartition partitions below their committed offsets (on
        the purge thread); False when the previous purge is still running (this one waits)."""
        if self._purging is not None:
            if not self._purging.done():
                return False
            self._purged.update(self._purging.result())  # _purge catches its errors
            self._purging = None
        todo: dict[str, dict[int, int]] = {}
        for (topic, partition), offset in self._purgeable.items():
            if self._purged.get((topic, partition), -1) < offset:
                todo.setdefault(topic, {})[partition] = offset
        if todo:
            if self._purger is None:
                self._purger = ThreadPoolExecutor(1, thread_name_prefix=f"kraft-streams-purge-{self.app_id}")
            self._purging = self._purger.submit(self._purge, todo)
        return True

    def _purge(self, todo: dict[str, dict[int, int]]) -> dict[tuple[str, int], int]:
        """Delete below ``todo``'s offsets, topic by topic; returns what was deleted. A failure is
        logged: those partitions stay above their ``_purged`` offset, so the next purge asks again."""
        assert self._admin is not None
        done: dict[tuple[str, int], int] = {}
        for topic, offsets in sorted(todo.items()):
            try:
                starts = self._admin.delete_records(topic, offsets)
            except Exception as exc:
                log.warning("%s: purging %s below %s failed: %r", self.app_id, topic, offsets, exc)
                continue
            done.update({(topic, p): o for p, o in offsets.items()})
            self.purges += len(offsets)  # only this thread writes it
            log.debug("%s: purged %s: log starts %s", self.app_id, topic, starts)
        return done

    def _check_acknowledged(self) -> None:
        """Raise if any record sent since the last commit failed (after a flush: all are done)."""
        unacked, self._unacked = self._unacked, []
        self._unacked_check_at = UNACKED_CHECK_RECORDS
        for future in unacked:
            try:
                exc = future.exception(timeout=0)
            except TimeoutError:
                exc = StreamsError("a record was not acknowledged when flush() returned")
            if exc is not None:
                if self._send_error is None:
                    self._send_error = exc
                raise StreamsError(f"a write failed, not committing: {exc!r}") from exc

    # --- rebalance callbacks (on the processing thread, inside poll) ------------------------------

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        try:
            if self.tasks and self._healthy and self._send_error is None:
                self.commit()
        except BaseException as exc:
            # The consumer logs and re-raises this from poll (a rebalance) or swallows it (close):
            # remember it so that run() fails either way.
            self._revoke_error = exc
            self._healthy = False
            raise
        finally:
            self._close_tasks()
            self._on_state("REBALANCING")

    def _close_tasks(self) -> None:
        with self.tasks_lock:
            tasks, self.tasks = self.tasks, {}
        self._task_of = {}
        for task in tasks.values():
            task.close(self.subs[task.id.subtopology].nodes)
        self._consumed.clear()

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        if not self._healthy:  # the commit in on_revoke failed: poll raises that next; restore nothing
            return
        wanted = sorted({TaskId(self.sub_of_topic[tp.topic].id, tp.partition) for tp in partitions})
        for task_id in wanted:
            sub = self.subs[task_id.subtopology]
            task = Task(task_id, sub.sources, self._open_stores(task_id, sub), self._send,
                        cache_budget=self.cache_budget)
            task.ctx.stream_time = task.stores.stream_time()  # windows closed before stay closed
            with self.tasks_lock:
                self.tasks[task_id] = task
            for topic in sub.sources:
                self._task_of[(topic, task_id.partition)] = task
        log.info("%s: assigned tasks %s", self.app_id, [str(t) for t in wanted])
        self._on_state("RUNNING")

    def _open_stores(self, task_id: TaskId, sub: SubTopology) -> Any:
        if not sub.stores:
            return MemoryTaskStores()
        path = self.state_dir / str(task_id)
        try:
            stores = LmdbTaskStores(path, sub.stores, self.store_map_size_mb)
        except lmdb.Error as exc:  # e.g. corrupted by a power loss (LMDB runs without fsync here)
            log.warning("%s: local state of task %s unreadable (%r): deleted, restoring from the changelogs",
                        self.app_id, task_id, exc)
            remove_task_dir(path)
            stores = LmdbTaskStores(path, sub.stores, self.store_map_size_mb)
        assert self._restorer is not None
        try:
            for store in sub.stores:
                tp = TopicPartition(self.topology.changelog_topic(store), task_id.partition)
                self.restored += restore_store(self._restorer, stores, store, tp)
        except BaseException:
            stores.close()
            raise
        return stores

    def task_stores(self, store: str) -> list[Any]:
        with self.tasks_lock:
            return [t.stores for t in self.tasks.values() if store in self.subs[t.id.subtopology].stores]


def in_time_order(records: list[ConsumerRecord]) -> list[ConsumerRecord]:
    """The batch with each partition's records in their order, always taking next the partition
    whose next record has the smallest timestamp (Kafka Streams' choice among a task's inputs):
    a table update is applied before the stream records that come after it in event time."""
    by_partition: dict[tuple[str, int], list[ConsumerRecord]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    if len(by_partition) == 1:
        return records
    return list(heapq.merge(*by_partition.values(), key=lambda r: r.timestamp_ms))
