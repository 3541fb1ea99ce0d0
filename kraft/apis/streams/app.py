"""``StreamsApp``: a program (the DSL of :class:`~.builder.StreamsBuilder`) plus its runtime.

``run()`` blocks until SIGINT/SIGTERM or ``close()``; ``start()`` runs it on a background thread
(embedded use, interactive queries with ``store(name)``). The app id is the consumer group id and
the prefix of every internal topic; instances with the same id split the work.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .builder import StreamsBuilder
from .cache import DEFAULT_CACHE_MAX_BYTES
from .errors import STOP, ErrorHandler, StreamsError, check_handler
from .runtime import StreamRuntime
from .serdes import Serde
from .store_view import StoreView

log = logging.getLogger(__name__)

CREATED, REBALANCING, RUNNING, ERROR, NOT_RUNNING = "CREATED", "REBALANCING", "RUNNING", "ERROR", "NOT_RUNNING"


class StreamsApp(StreamsBuilder):
    def __init__(
        self,
        app_id: str,
        bootstrap: str | list[str],
        state_dir: str | Path = "./state",
        *,
        default_key_serde: Serde = Serde.bytes,
        default_value_serde: Serde = Serde.bytes,
        on_error: ErrorHandler = STOP,
        commit_interval_ms: int = 1000,
        replication_factor: int | None = None,
        consumer_config: dict[str, Any] | None = None,
        producer_config: dict[str, Any] | None = None,
        store_map_size_mb: int = 4096,
        on_state_change: Callable[[str, str], object] | None = None,
        repartition_purge_interval_ms: int = 30000,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
    ) -> None:
        """``on_error``: "stop" (default), "continue" or ``DeadLetter(topic)`` for a record that
        fails to deserialize or whose processing raises. ``replication_factor``: of the topics
        the app creates (None: the cluster default). ``consumer_config`` / ``producer_config``:
        extra keyword arguments of the Consumer / Producer (group id, offsets reset, auto-commit,
        assignment strategy, acks and idempotence are the app's own). ``store_map_size_mb``: the
        most one task's LMDB environment may hold (address space reserved, not disk).
        ``on_state_change(new, old)``: called on every change of ``state`` (CREATED, REBALANCING,
        RUNNING, ERROR, NOT_RUNNING). ``repartition_purge_interval_ms``: how often, at most, the
        records of repartition topics below the committed offsets are deleted (Kafka Streams'
        ``repartition.purge.interval.ms``; 0: after every commit). ``cache_max_bytes``: the record
        cache of this instance (Kafka Streams' ``cache.max.bytes.buffering``, 10 MB): updates of a
        key between commits are forwarded once, at the commit or when the cache is full, and
        ``group_by(...).count()`` sends one repartition record per key and commit; 0 forwards
        every update at once."""
        super().__init__(app_id, default_key_serde, default_value_serde)
        if commit_interval_ms <= 0:
            raise ValueError("commit_interval_ms must be positive")
        self.bootstrap = bootstrap
        self.state_dir = Path(state_dir)
        self.on_error = check_handler(on_error)
        self.commit_interval_ms = commit_interval_ms
        self.replication_factor = replication_factor
        self.consumer_config = dict(consumer_config or {})
        self.producer_config = dict(producer_config or {})
        if store_map_size_mb <= 0:
            raise ValueError("store_map_size_mb must be positive")
        self.store_map_size_mb = store_map_size_mb
        if repartition_purge_interval_ms < 0:
            raise ValueError("repartition_purge_interval_ms must be >= 0")
        self.repartition_purge_interval_ms = repartition_purge_interval_ms
        if cache_max_bytes < 0:
            raise ValueError("cache_max_bytes must be >= 0")
        self.cache_max_bytes = cache_max_bytes
        self.state = CREATED
        self._on_state_change = on_state_change
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runtime: StreamRuntime | None = None
        self._state_changed = threading.Condition()

    # --- running ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Run on this thread until SIGINT/SIGTERM or ``close()``; raises what stopped it."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self._stop.set())
        try:
            self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.error is not None:
            raise self.error

    def start(self) -> None:
        """Run on a background thread; ``state`` / ``error`` tell how it goes."""
        if self._thread is not None or self.state != CREATED:
            raise RuntimeError("a StreamsApp starts once")
        self._thread = threading.Thread(target=self._run, name=f"kraft-streams-{self.app_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._runtime = StreamRuntime(
            self.app_id, self.bootstrap, self.topology, self.state_dir, on_error=self.on_error,
            commit_interval_ms=self.commit_interval_ms, replication_factor=self.replication_factor,
            consumer_config=self.consumer_config, producer_config=self.producer_config,
            on_state=self._set_state, store_map_size_mb=self.store_map_size_mb,
            repartition_purge_interval_ms=self.repartition_purge_interval_ms,
            cache_max_bytes=self.cache_max_bytes)
        self._set_state(REBALANCING)
        try:
            self._runtime.run(self._stop)
        except BaseException as exc:
            log.exception("streams app %s stopped by an error", self.app_id)
            self.error = exc
            self._set_state(ERROR)
            return
        self._set_state(NOT_RUNNING)

    def close(self, timeout_s: float = 60) -> None:
        """Stop processing, commit what was processed, leave the group and close the clients."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise StreamsError(f"streams app {self.app_id} did not stop within {timeout_s} s")

    def __enter__(self) -> StreamsApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_state(self, state: str) -> None:
        with self._state_changed:
            old = self.state
            if old in (ERROR, NOT_RUNNING) or old == state:
                return
            self.state = state
            self._state_changed.notify_all()
        if self._on_state_change is not None:
            try:
                self._on_state_change(state, old)
            except Exception:
                log.exception("on_state_change of %s raised", self.app_id)

    def wait_until_running(self, timeout_s: float = 60) -> None:
        """Block until the app owns its tasks (state RUNNING); raises if it failed instead."""
        deadline = time.monotonic() + timeout_s
        with self._state_changed:
            while self.state != RUNNING:
                if self.state in (ERROR, NOT_RUNNING):
                    raise StreamsError(f"streams app {self.app_id} is {self.state}: {self.error!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamsError(f"streams app {self.app_id} not running after {timeout_s} s")
                self._state_changed.wait(left)

    # --- interactive queries ----------------------------------------------------------------------

    def store(self, name: str) -> StoreView:
        """A read-only view of state store ``name`` on this instance (its tasks' partitions), as of
        each task's last commit."""
        if name not in self.topology.stores:
            raise KeyError(f"no state store {name!r}; stores: {self.topology.stores}")
        return StoreView(name, lambda: self._runtime.task_stores(name) if self._runtime is not None else [],
                         self.topology.window_sizes.get(name))

    def cleanup(self) -> None:
        """Delete this app's local state (``state_dir/<app id>``); not while it runs. The next
        start restores every store from its changelog."""
        if self.state in (REBALANCING, RUNNING):
            raise RuntimeError("cleanup() needs a stopped app")
        shutil.rmtree(self.state_dir / self.app_id, ignore_errors=True)

    def metrics(self) -> dict[str, Any]:
        """Counters of this instance: records processed, changelog records restored, late records
        dropped (by the tasks it holds now), commits, and its current tasks."""
        rt = self._runtime
        if rt is None:
            return {"processed": 0, "restored": 0, "dropped_late": 0, "commits": 0, "tasks": []}
        with rt.tasks_lock:
            tasks = list(rt.tasks.values())
        return {"processed": rt.processed, "restored": rt.restored, "commits": rt.commits,
                "dropped_late": sum(t.ctx.dropped_late for t in tasks), "tasks": sorted(str(t.id) for t in tasks)}

    @property
    def processed(self) -> int:
        """Records consumed and handled by this instance so far."""
        return self._runtime.processed if self._runtime is not None else 0

    @property
    def restored(self) -> int:
        """Changelog records this instance replayed into its local stores so far."""
        return self._runtime.restored if self._runtime is not None else 0
