"""The worker: runs the tasks of a set of connectors, one thread each, with retries and status.

Delivery (per task, one batch at a time):

* source: ``poll`` → transforms → ``Producer.send`` every record → ``flush`` and check every
  acknowledgement → store the batch's last offset per source partition in the offsets topic →
  ``task.commit``. A crash anywhere before the offsets are stored replays the batch on restart:
  at-least-once, nothing lost.
* sink: the task's consumer (group ``connect-<name>``, auto-commit off) polls a batch →
  transforms → ``put`` → ``flush`` → the consumed positions are committed. A crash before the
  commit re-delivers the batch; sinks make that harmless by writing idempotently (upsert by key).

A task that raises is stopped, marked FAILED in status with its error, and restarted after a
backoff that doubles up to ``restart_backoff_max_ms``. The backoff is reset, and the error cleared
from status, only once the restarted task has made progress (a non-empty batch delivered) or has
run without failing for ``restart_backoff_max_ms``: a task that starts, polls empty and then fails
on every batch (a poison record) keeps backing off instead of restarting at the first interval.
Each task is isolated: its own thread, producer or consumer, so one failing connector never stops
another.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from kraft.apis import Admin, Consumer, Producer

from .api import SinkRecord, SinkTask, SourceTask, SourceTaskContext
from .config import ConnectorSpec
from .envelope import decode_json, to_bytes
from .offsets import DEFAULT_TOPIC as OFFSETS_TOPIC
from .offsets import OffsetStore, partition_key
from .status import DEFAULT_TOPIC as STATUS_TOPIC
from .status import StatusPublisher
from .topics import ensure_internal_topic, ensure_topic
from .transforms import Message, apply_all

log = logging.getLogger(__name__)
EventCallback = Callable[[dict[str, Any]], None]


def _maybe_json(data: Any) -> Any:
    try:
        return decode_json(data)
    except (ValueError, UnicodeDecodeError):
        return data


class TaskRunner:
    """One task of one connector on its own thread, restarted with backoff when it fails."""

    def __init__(self, worker: Worker, spec: ConnectorSpec, task_id: int, config: dict[str, Any]) -> None:
        self.worker = worker
        self.spec = spec
        self.task_id = task_id
        self.config = config
        self.status: dict[str, Any] = {
            "connector": spec.name, "task": task_id, "kind": spec.kind, "class": spec.common["class"],
            "state": "UNASSIGNED", "worker": worker.worker_id, "error": None, "restarts": 0,
            "records": 0, "last_offset": None, "lag": None}
        self._last_status_s = 0.0
        self._backoff_s = spec.common["restart_backoff_ms"] / 1000
        self._started_s = 0.0  # monotonic time of the last (re)start
        self.thread = threading.Thread(target=self._run, name=f"connect-{spec.name}-{task_id}", daemon=True)

    # --- lifecycle --------------------------------------------------------------------------------

    def _run(self) -> None:
        stop = self.worker.stopping
        while not stop.is_set():
            try:
                # The last error stays visible until the restarted task is healthy (see _healthy).
                self._started_s = time.monotonic()
                self._set(state="RUNNING")
                if self.spec.kind == "source":
                    self._run_source()
                else:
                    self._run_sink()
            except Exception as exc:
                if stop.is_set():
                    break
                log.warning("connector %s task %d failed: %s", self.spec.name, self.task_id, exc)
                log.debug("%s", traceback.format_exc())
                self._set(state="FAILED", error=f"{type(exc).__name__}: {exc}", restarts=self.status["restarts"] + 1)
                self._wait_backoff()
                self._backoff_s = min(self._backoff_s * 2, self.spec.common["restart_backoff_max_ms"] / 1000)
                continue
        self._set(state="STOPPED", error=self.status["error"])

    def _wait_backoff(self) -> None:
        """Wait out the backoff (or until the worker stops), still heartbeating the FAILED status
        so readers do not take a long backoff for a dead worker."""
        stop, interval_s = self.worker.stopping, self.spec.common["status_interval_ms"] / 1000
        deadline = time.monotonic() + self._backoff_s
        while (left := deadline - time.monotonic()) > 0 and not stop.wait(min(left, interval_s)):
            self._publish()

    def _set(self, **changes: Any) -> None:
        changed = any(self.status.get(k) != v for k, v in changes.items() if k in ("state", "error"))
        self.status.update(changes)
        if changed:
            self.worker.emit(dict(self.status))
        self._publish(force=changed)

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_status_s >= self.spec.common["status_interval_ms"] / 1000:
            self._last_status_s = now
            self.worker.publish_status(dict(self.status))

    def _healthy(self, progress: bool) -> None:
        """A poll went through. Once the task made ``progress`` (delivered a non-empty batch) or has
        run for ``restart_backoff_max_ms`` since its (re)start, clear the error and start the next
        failure's backoff afresh; before that an empty poll proves nothing (the failure may be
        in the next batch)."""
        common = self.spec.common
        if not progress and time.monotonic() - self._started_s < common["restart_backoff_max_ms"] / 1000:
            return
        self._backoff_s = common["restart_backoff_ms"] / 1000
        if self.status["error"] is not None:
            self._set(error=None)

    # --- source -----------------------------------------------------------------------------------

    def _run_source(self) -> None:
        spec, stop = self.spec, self.worker.stopping
        task = spec.cls.task_class()
        assert isinstance(task, SourceTask)
        task.context = SourceTaskContext(lambda p: self.worker.offsets.get(spec.name, p))
        producer = Producer(self.worker.bootstrap, linger_ms=5)
        known_topics: set[str] = set()
        try:
            # Checked again here: a topic that cannot be created fails this task only.
            for topic in spec.connector().topics():
                self.worker.ensure_topic(topic, spec)
                known_topics.add(topic)
            task.start(self.config)
            while not stop.is_set():
                records = task.poll()
                if not records:
                    self._healthy(progress=False)
                    self._publish()
                    stop.wait(spec.common["poll_interval_ms"] / 1000)
                    continue
                pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
                futures = []
                for r in records:
                    pending[partition_key(r.source_partition)] = (r.source_partition, r.source_offset)
                    msg = apply_all(spec.transforms, Message(r.topic, r.key, r.value))
                    if msg is None:
                        continue
                    if msg.topic not in known_topics:
                        self.worker.ensure_topic(msg.topic, spec)
                        known_topics.add(msg.topic)
                    futures.append(producer.send(msg.topic, value=to_bytes(msg.value), key=to_bytes(msg.key),
                                                 headers=r.headers or None, timestamp_ms=r.timestamp_ms))
                producer.flush()
                for f in futures:
                    f.result()  # raises the typed error of a record kraft did not take
                self.worker.offsets.commit(spec.name, pending)
                task.commit({k: off for k, (_, off) in pending.items()})
                last = records[-1].source_offset
                self.status.update(records=self.status["records"] + len(futures), last_offset=last)
                self._healthy(progress=True)
                self._publish()
        finally:
            _quietly(task.stop)
            _quietly(lambda: producer.close(5))

    # --- sink -------------------------------------------------------------------------------------

    def _run_sink(self) -> None:
        spec, stop = self.spec, self.worker.stopping
        task = spec.cls.task_class()
        assert isinstance(task, SinkTask)
        consumer = Consumer(self.worker.bootstrap, group_id=spec.group_id, client_id=f"connect-{spec.name}",
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            max_poll_records=spec.common["batch_max_records"])
        try:
            task.start(self.config)
            consumer.subscribe(spec.connector().topics())
            while not stop.is_set():
                polled = consumer.poll(timeout_ms=500)
                if not polled:
                    self._healthy(progress=False)
                else:
                    batch = []
                    for r in polled:
                        key, value = (_maybe_json(r.key), _maybe_json(r.value)) if spec.transforms else (r.key, r.value)
                        msg = apply_all(spec.transforms, Message(r.topic, key, value))
                        if msg is not None:
                            batch.append(SinkRecord(msg.topic, r.partition, r.offset, msg.key, msg.value,
                                                    r.timestamp_ms, list(r.headers)))
                    if batch:
                        task.put(batch)
                    task.flush()
                    consumer.commit()
                    self.status["records"] += len(batch)
                    self._healthy(progress=True)
                if time.monotonic() - self._last_status_s >= spec.common["status_interval_ms"] / 1000:
                    self.status["lag"] = _lag(consumer)
                    self._publish()
        finally:
            _quietly(task.stop)
            _quietly(consumer.close)


def _lag(consumer: Consumer) -> int | None:
    try:
        tps = sorted(consumer.assignment())
        ends = consumer.end_offsets(tps)
        return sum(max(0, ends[tp] - consumer.position(tp)) for tp in tps)
    except Exception:
        return None


def _quietly(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception as exc:
        log.warning("while stopping: %s", exc)


class Worker:
    """Runs every task of ``specs`` until :meth:`stop`. ``on_event`` gets each task status change
    (for progress output)."""

    def __init__(self, bootstrap: str, specs: list[ConnectorSpec], *, worker_id: str | None = None,
                 offsets_topic: str = OFFSETS_TOPIC, status_topic: str = STATUS_TOPIC,
                 on_event: EventCallback | None = None) -> None:
        self.bootstrap = bootstrap
        self.specs = specs
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.offsets_topic = offsets_topic
        self.status_topic = status_topic
        self.stopping = threading.Event()
        self._on_event = on_event
        self._admin: Admin | None = None
        self._admin_lock = threading.Lock()
        self._producer: Producer | None = None
        self._status: StatusPublisher | None = None
        self.offsets: OffsetStore
        self.runners: list[TaskRunner] = []

    def start(self) -> None:
        self._admin = Admin(self.bootstrap)
        try:
            ensure_internal_topic(self._admin, self.offsets_topic, "the worker's offsets_topic",
                                  "source connector offsets")
            ensure_internal_topic(self._admin, self.status_topic, "the worker's status_topic",
                                  "connector and task statuses")
        except BaseException:
            _quietly(self._admin.close)
            self._admin = None
            raise
        self._producer = Producer(self.bootstrap, linger_ms=1)
        self._status = StatusPublisher(self._producer, self.status_topic)
        self.offsets = OffsetStore(self.bootstrap, self._producer, self.offsets_topic)
        self.offsets.load()
        for spec in self.specs:
            # Up front so that sinks in this worker find them; a failure here is only logged: the
            # source task tries again and fails alone, visibly, rather than stopping the worker.
            for topic in spec.connector().topics() if spec.kind == "source" else []:
                try:
                    self.ensure_topic(topic, spec)
                except Exception as exc:
                    log.warning("connector %s: topic %s not created: %s", spec.name, topic, exc)
            for i, cfg in enumerate(spec.connector().task_configs(spec.common["tasks_max"])):
                self.runners.append(TaskRunner(self, spec, i, cfg))
        for runner in self.runners:
            runner.thread.start()

    def ensure_topic(self, topic: str, spec: ConnectorSpec) -> None:
        assert self._admin is not None
        with self._admin_lock:
            ensure_topic(self._admin, topic, spec.common["topic_partitions"],
                         spec.common["topic_replication_factor"] or None)

    def emit(self, status: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(status)

    def publish_status(self, status: dict[str, Any]) -> None:
        if self._status is None:
            return
        try:
            self._status.publish(status)
        except Exception as exc:
            log.warning("status not published: %s", exc)

    def statuses(self) -> list[dict[str, Any]]:
        return [dict(r.status) for r in self.runners]

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        for runner in self.runners:
            runner.thread.join(max(0.0, deadline - time.monotonic()))
        producer = self._producer
        if producer is not None:
            _quietly(lambda: producer.close(5))
        if self._admin is not None:
            _quietly(self._admin.close)
