"""``Consumer``: the public, synchronous facade over the fetcher and the group client.

Two ways to get partitions, exclusive of each other:

* ``assign(partitions)`` — manual: exactly these partitions, positions by ``seek`` or
  ``auto_offset_reset``. With a ``group_id`` it may also commit (as an administrator: member "",
  generation -1, which the coordinator accepts only while the group has no members).
* ``subscribe(topics)`` — a member of the consumer group ``group_id``: the coordinator assigns
  the partitions, positions start at the group's committed offsets.

State lives on the client core's loop thread (fetcher, group client, heartbeats). The user's
thread runs the parts that call user code — ``on_revoke`` / ``on_assign`` and ``commit_async``
callbacks — inside ``poll``, ``commit`` and ``close``; the heartbeat task only marks that a
rebalance is needed and pauses fetching. A rebalance (eager protocol), run by the next ``poll``:
``on_revoke(all assigned)`` -> commit the consumed positions (``enable_auto_commit``) with the
current generation -> ``join_group`` (blocking) -> positions from the committed offsets (or
``auto_offset_reset``) -> ``on_assign(new)`` (a ``seek`` in it wins) -> fetch again.

Commits are of consumed positions: the offset of the next record ``poll`` would return, so a
record is committed only once ``poll`` handed it out and was called again (at-least-once).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from kraft.errors import IllegalGeneration, KraftError, RebalanceInProgress, UnknownMemberId

from ..client_core import ClientCore
from ..types import ConsumerRecord, TopicPartition
from .fetcher import EARLIEST, LATEST, Fetcher
from .group import GroupClient

_RESETS = ("earliest", "latest", "none")
RETRY_NEXT_POLL = (RebalanceInProgress, IllegalGeneration, UnknownMemberId)  # the group moved on: rejoin
POLL_SLICE_MS = 1000  # a group member's poll waits in slices of this, marking itself alive between
log = logging.getLogger(__name__)

RebalanceCallback = Callable[[list[TopicPartition]], object]
CommitCallback = Callable[[dict[TopicPartition, int], KraftError | None], object]
Offsets = dict[TopicPartition, int]


class Consumer:
    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        group_id: str | None = None,
        client_id: str = "kraft-consumer",
        auto_offset_reset: str = "earliest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        max_poll_interval_ms: int = 300000,
        partition_assignment_strategy: str = "range",
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        fetch_max_bytes: int = 8 * 1024 * 1024,
        max_partition_fetch_bytes: int = 1024 * 1024,
        max_poll_records: int = 500,
        request_timeout_ms: int = 30000,
        metadata_max_age_ms: int = 30000,
        retry_backoff_ms: int = 50,
        retry_backoff_max_ms: int = 1000,
        connect_timeout_ms: int = 10000,
    ) -> None:
        if auto_offset_reset not in _RESETS:
            raise ValueError(f"auto_offset_reset must be one of {_RESETS}, got {auto_offset_reset!r}")
        if max_poll_records <= 0:
            raise ValueError("max_poll_records must be positive")
        if auto_commit_interval_ms <= 0:
            raise ValueError("auto_commit_interval_ms must be positive")
        self._max_poll_records = max_poll_records
        self._request_timeout_ms = request_timeout_ms
        self._auto_commit = enable_auto_commit and group_id is not None
        self._auto_commit_interval_s = auto_commit_interval_ms / 1000
        self._next_auto_commit_s = time.monotonic() + self._auto_commit_interval_s
        self._mode: str | None = None  # "assign" | "subscribe"
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._joined_once = False
        self._completed: queue.SimpleQueue[tuple[CommitCallback, Offsets, KraftError | None]] = queue.SimpleQueue()
        self._lock = threading.RLock()  # one rebalance / commit sequence at a time (callbacks may re-enter)
        self._closed = False
        self._core = ClientCore(
            bootstrap,
            request_timeout_ms=request_timeout_ms,
            connect_timeout_ms=connect_timeout_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            retry_backoff_ms=retry_backoff_ms,
            retry_backoff_max_ms=retry_backoff_max_ms,
            name="kraft-consumer",
        )
        self._fetcher = Fetcher(
            self._core,
            auto_offset_reset=auto_offset_reset,
            fetch_max_wait_ms=fetch_max_wait_ms,
            fetch_min_bytes=fetch_min_bytes,
            fetch_max_bytes=fetch_max_bytes,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
        )
        self._group: GroupClient | None = None
        if group_id is not None:
            try:
                self._group = GroupClient(
                    self._core, self._fetcher, group_id=group_id, client_id=client_id,
                    session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms,
                    max_poll_interval_ms=max_poll_interval_ms, strategy=partition_assignment_strategy)
            except ValueError:
                self._core.close()
                raise

    # --- assignment and positions -----------------------------------------------------------------

    def subscribe(
        self,
        topics: Iterable[str] | str,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> None:
        """Join the group ``group_id`` as a consumer of ``topics`` (at the next ``poll``).

        A topic that does not exist yet is waited for, as Kafka does: the consumer gets no
        partitions of it, re-checks the metadata about once a second, and rejoins when the topic
        appears (or any subscribed topic's partition count changes), so that the coordinator
        assigns its partitions. ``on_revoke`` / ``on_assign`` get ``list[TopicPartition]`` and run
        on the thread that calls ``poll``. Subscribing again replaces the topics and callbacks.
        """
        group = self._require_group("subscribe")
        names = [topics] if isinstance(topics, str) else list(topics)
        if self._mode == "assign":
            raise ValueError("this consumer uses assign(): call unsubscribe() before subscribe()")
        if not names:
            self.unsubscribe()
            return
        with self._lock:
            self._on_assign, self._on_revoke = on_assign, on_revoke
            self._run(group.subscribe(names))
            self._mode = "subscribe"

    def unsubscribe(self) -> None:
        """Leave the group (revoking and committing as a rebalance would) or drop a manual assignment."""
        with self._lock:
            if self._mode == "subscribe" and self._group is not None:
                self._revoke_and_commit()
                self._run(self._group.leave("unsubscribed"))
                self._run(self._group.unsubscribe())
            self._run(self._fetcher.assign([]))
            self._fetcher_resume()
            self._mode = None
            self._joined_once = False

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Consume exactly these partitions (replacing any previous assignment)."""
        if self._mode == "subscribe":
            raise ValueError("this consumer uses subscribe(): call unsubscribe() before assign()")
        tps = [TopicPartition(*tp) for tp in partitions]
        self._run(self._fetcher.assign(tps))
        self._mode = "assign" if tps else None

    def assignment(self) -> set[TopicPartition]:
        return self._run(self._call(self._fetcher.assignment))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Make the next poll return records of ``tp`` from ``offset``."""
        self._run(self._fetcher.seek(TopicPartition(*tp), offset))

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._run(self._fetcher.seek_to(_tps(partitions), "earliest"))

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._run(self._fetcher.seek_to(_tps(partitions), "latest"))

    def position(self, tp: TopicPartition) -> int:
        """Offset of the next record poll will return for ``tp`` (resolving a pending reset)."""
        return self._run(self._fetcher.position(TopicPartition(*tp), self._request_timeout_ms))

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return self._run(self._fetcher.list_offsets(_tps(partitions) or [], EARLIEST))

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """High watermark (offset of the next record to be written) of each partition."""
        return self._run(self._fetcher.list_offsets(_tps(partitions) or [], LATEST))

    def offsets_for_times(self, partitions: Iterable[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        """Each partition's offset of its first record with a timestamp >= ``timestamp_ms`` (the
        end offset when none has), as Kafka's ``offsetsForTimes`` for one timestamp: seek there to
        read from a moment on."""
        if timestamp_ms < 0:
            raise ValueError(f"timestamp_ms must be >= 0, got {timestamp_ms}")
        return self._run(self._fetcher.list_offsets(_tps(partitions) or [], timestamp_ms))

    # --- commits ----------------------------------------------------------------------------------

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        """Commit synchronously: ``offsets`` ({tp: offset of the next record to read}), by default
        the consumed positions of every assigned partition.

        Raises the coordinator's typed error: ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID mean this
        consumer lost its partitions to a rebalance (the next ``poll`` rejoins)."""
        group = self._require_group("commit")
        with self._lock:
            self._run_commit_callbacks()
            self._run(group.commit(_offsets(offsets)))

    def commit_async(
        self, offsets: dict[TopicPartition, int] | None = None, callback: CommitCallback | None = None
    ) -> Future[Offsets]:
        """Commit without waiting. ``callback(offsets, error_or_None)`` runs on the user's thread
        during a later ``poll``, ``commit`` or ``close``. Commits leave in call order."""
        group = self._require_group("commit_async")
        # The consumed positions are taken now, on this thread: the next poll may hand out buffered
        # records before the loop thread runs the commit, and those must not be committed yet.
        positions = self._fetcher.positions() if offsets is None else None
        future = self._core.submit(group.commit(_offsets(offsets), positions=positions))
        if callback is not None:
            wanted = dict(offsets or {})
            future.add_done_callback(lambda f: self._commit_done(callback, wanted, f))
        return future

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` (the next record to read), or None."""
        group = self._require_group("committed")
        tp = TopicPartition(*tp)
        return self._run(group.fetch_committed([tp])).get(tp)

    # --- records ----------------------------------------------------------------------------------

    def poll(self, timeout_ms: float = 1000, max_records: int | None = None) -> list[ConsumerRecord]:
        """Records from the assigned partitions, waiting up to ``timeout_ms`` for the first one.

        A subscribed consumer joins, rebalances (running its callbacks) and auto-commits here. A
        rebalance that fails with a retriable error (no coordinator yet, say) is logged and tried
        again by the next poll; other errors (e.g. INCONSISTENT_GROUP_PROTOCOL) are raised."""
        if self._closed:
            raise RuntimeError("consumer is closed")
        limit = max_records or self._max_poll_records
        if self._group is None:
            records = self._fetcher.take_buffered(limit)
            return records if records is not None else self._run(self._fetcher.poll(timeout_ms, limit))
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            self._group.last_poll_s = time.monotonic()
            with self._lock:
                self._run_commit_callbacks()
                if self._mode == "subscribe" and not self._try_rebalance():
                    return []
                self._maybe_auto_commit()
            # Waits are sliced so that a long poll still counts as polling for max_poll_interval_ms.
            remaining_ms = max(0.0, (deadline - time.monotonic()) * 1000)
            records = self._fetcher.take_buffered(limit)
            if records is None:
                records = self._run(self._fetcher.poll(min(remaining_ms, POLL_SLICE_MS), limit))
            if records or time.monotonic() >= deadline:
                return records
            # Nothing yet, or the fetcher was paused for a rebalance, which the next round runs.

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """Blocking iteration over records; ends when the consumer is closed."""
        while not self._closed:
            try:
                records = self.poll(1000)
            except RuntimeError:
                if self._closed:
                    return
                raise
            yield from records

    def close(self) -> None:
        """Leave cleanly: ``on_revoke``, commit the consumed positions (``enable_auto_commit``),
        ``leave_group``; then close the connections. Errors of these steps are logged, not raised."""
        if self._closed:
            return
        with self._lock:
            try:
                group = self._group
                if group is not None:
                    if self._mode == "subscribe":
                        self._revoke_and_commit()
                        self._quietly("leave_group", lambda: self._run(group.leave("closed")))
                    elif self._auto_commit:
                        self._quietly("commit on close", lambda: self._run(group.commit()))
                    self._run_commit_callbacks()
            finally:
                self._closed = True
                self._core.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rebalance (user's thread) ----------------------------------------------------------------

    def _try_rebalance(self) -> bool:
        """Rebalance if needed; False when it failed with a retriable or group-membership error
        (logged; the next poll tries again)."""
        try:
            self._maybe_rebalance()
        except KraftError as exc:
            if not exc.retriable and not isinstance(exc, RETRY_NEXT_POLL):
                raise
            log.warning("rebalance of group %s failed, retrying at the next poll: %s",
                        self._group.group_id if self._group else "-", exc)
            return False
        return True

    def _maybe_rebalance(self) -> None:
        group = self._group
        assert group is not None
        if not group.rejoin_needed():
            return
        errors: list[BaseException] = []
        if self._joined_once:
            errors += self._revoke_and_commit()
        assignment = list(self._run(group.rebalance()))
        self._joined_once = True
        if self._on_assign is not None:
            errors += _call_user(self._on_assign, assignment, "on_assign")
        self._run(group.resume())
        group.last_poll_s = time.monotonic()
        if errors:
            raise errors[0]

    def _revoke_and_commit(self) -> list[BaseException]:
        """``on_revoke(all assigned)``, then commit what was consumed with the current generation
        (when still a member). Callback errors are returned, commit errors logged."""
        group = self._group
        assert group is not None
        errors: list[BaseException] = []
        revoked = sorted(self._run(self._call(self._fetcher.assignment)))
        if self._on_revoke is not None and self._joined_once:
            errors += _call_user(self._on_revoke, revoked, "on_revoke")
        if self._auto_commit and self._run(group.in_group()):
            self._quietly("commit before rejoining", lambda: self._run(group.commit()))
        return errors

    def _maybe_auto_commit(self) -> None:
        if not self._auto_commit or time.monotonic() < self._next_auto_commit_s:
            return
        self._next_auto_commit_s = time.monotonic() + self._auto_commit_interval_s
        group = self._group
        assert group is not None
        if self._mode == "subscribe" and not self._run(group.in_group()):
            return
        offsets = self._run(group.pending_offsets())  # consumed before this poll: safe to commit
        if offsets:
            self.commit_async(offsets, callback=_log_auto_commit)

    def _fetcher_resume(self) -> None:
        self._core.call_soon(self._fetcher.resume)

    # --- commit callbacks -------------------------------------------------------------------------

    def _commit_done(self, callback: CommitCallback, offsets: Offsets, future: Future[Offsets]) -> None:
        exc = future.exception() if not future.cancelled() else KraftError("commit cancelled")
        error = exc if exc is None or isinstance(exc, KraftError) else KraftError(f"commit failed: {exc!r}")
        sent = offsets if error is not None or future.cancelled() else future.result()
        self._completed.put((callback, sent, error))

    def _run_commit_callbacks(self) -> None:
        while True:
            try:
                callback, offsets, error = self._completed.get_nowait()
            except queue.Empty:
                return
            try:
                callback(offsets, error)
            except Exception:
                log.exception("commit_async callback raised")

    # --- internals --------------------------------------------------------------------------------

    def _require_group(self, what: str) -> GroupClient:
        if self._group is None:
            raise ValueError(f"{what}() needs a group_id")
        return self._group

    def _quietly(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except KraftError as exc:
            log.warning("%s of group %s failed: %s", what, self._group.group_id if self._group else "-", exc)

    def _run(self, coro: Any) -> Any:
        if self._closed:
            coro.close()
            raise RuntimeError("consumer is closed")
        return self._core.run(coro)

    @staticmethod
    async def _call(fn: Any) -> Any:
        return fn()


def _tps(partitions: Iterable[TopicPartition] | None) -> list[TopicPartition] | None:
    return None if partitions is None else [TopicPartition(*tp) for tp in partitions]


def _offsets(offsets: dict[TopicPartition, int] | None) -> Offsets | None:
    return None if offsets is None else {TopicPartition(*tp): off for tp, off in offsets.items()}


def _call_user(fn: RebalanceCallback, partitions: list[TopicPartition], what: str) -> list[BaseException]:
    try:
        fn(list(partitions))
    except Exception as exc:
        log.exception("%s callback raised", what)
        return [exc]
    return []


def _log_auto_commit(offsets: Offsets, error: KraftError | None) -> None:
    if error is not None:
        log.warning("auto-commit of %d partitions failed: %s", len(offsets), error)
