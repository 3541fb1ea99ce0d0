"""The group client: a consumer's side of the group protocol, on the client core's loop thread.

Owns the coordinator address (found with ``find_coordinator``, cached, found again after
NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a lost connection), the :class:`Membership`, the
:class:`Subscription`, the :class:`CommitTracker`, and the background heartbeat task. It speaks
``join_group``, ``heartbeat``, ``leave_group``, ``offset_commit`` and ``offset_fetch``
(docs/native-protocol.md, "Consumer groups").

What it must not do: call user code. Rebalance callbacks run on the user's thread, in
``Consumer.poll``, which drives a rebalance through :meth:`GroupClient.rebalance`. The heartbeat
task only *notices* that a rebalance is needed: it marks the membership and pauses the fetcher.

Every method runs on the loop thread, except that the user's thread writes ``last_poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kraft.errors import IllegalGeneration, InvalidRequest, KraftError, RebalanceInProgress, UnknownMemberId

from ..client_core import Address, ClientCore, error_from_result
from ..types import TopicPartition
from .fetcher import Fetcher
from .membership import (
    COORDINATOR_ERRORS,
    NO_GENERATION,
    NO_MEMBER_ID,
    Action,
    Membership,
    parse_assignment,
)
from .subscription import CommitTracker, Subscription

log = logging.getLogger(__name__)
T = TypeVar("T")

STRATEGIES = ("range", "roundrobin", "sticky")
MISSING_TOPIC_CHECK_MS = 1000  # metadata refresh interval while a subscribed topic does not exist
LEAVE_TIMEOUT_MS = 5000  # a leave is a courtesy: the session timeout removes the member anyway
# What join() answers by joining again (as a new member for the first two).
_JOIN_AGAIN: tuple[type[KraftError], ...] = (UnknownMemberId, IllegalGeneration, RebalanceInProgress,
                                             *COORDINATOR_ERRORS)


class GroupClient:
    def __init__(
        self,
        core: ClientCore,
        fetcher: Fetcher,
        *,
        group_id: str,
        client_id: str,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        max_poll_interval_ms: int,
        strategy: str,
    ) -> None:
        if not group_id:
            raise ValueError("group_id must be a non-empty string")
        if strategy not in STRATEGIES:
            raise ValueError(f"partition_assignment_strategy must be one of {STRATEGIES}, got {strategy!r}")
        if not 0 < heartbeat_interval_ms < session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be positive and below session_timeout_ms")
        if max_poll_interval_ms <= 0:
            raise ValueError("max_poll_interval_ms must be positive")
        self._core = core
        self._fetcher = fetcher
        self.group_id = group_id
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.strategy = strategy
        self.membership = Membership()
        self.subscription: Subscription | None = None
        self.commits = CommitTracker()
        self.last_poll_s = time.monotonic()  # written by the user's thread (a float store is atomic)
        self._coordinator: Address | None = None
        self._finding: asyncio.Future[Address] | None = None
        self._commit_lock: asyncio.Lock | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self._missing_checked_s = float("-inf")

    # --- subscription -----------------------------------------------------------------------------

    async def subscribe(self, topics: list[str]) -> None:
        new = Subscription.of(topics)
        if self.subscription is None or new.topics != self.subscription.topics:
            self.subscription = new
            self._rejoin("subscription changed")
        if self._heartbeats is None:
            self._heartbeats = asyncio.ensure_future(self._heartbeat_loop())

    async def unsubscribe(self) -> None:
        self.subscription = None
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None

    def rejoin_needed(self) -> bool:
        """Read on the user's thread, every ``poll``, without crossing to the loop thread (which
        sets the flag): a stale False is a poll just before the loop thread's change, and a member
        that must rejoin pauses the fetcher in the same step, so no record leaves after it."""
        return self.subscription is not None and self.membership.rejoin_needed

    async def in_group(self) -> bool:
        return self.membership.in_group

    # --- coordinator ------------------------------------------------------------------------------

    async def coordinator(self) -> Address:
        """The coordinator's address, asking any node with ``find_coordinator`` when not cached."""
        if self._coordinator is not None:
            return self._coordinator
        if self._finding is None:
            self._finding = asyncio.ensure_future(self._find_coordinator())
            self._finding.add_done_callback(self._found)
        return await asyncio.shield(self._finding)

    async def _find_coordinator(self) -> Address:
        answer = await self._core.request_any("find_coordinator", {"group_id": self.group_id})
        try:
            address = (str(answer["host"]), int(answer["port"]))
        except (KeyError, TypeError, ValueError):
            raise KraftError(f"malformed find_coordinator answer {answer!r}") from None
        self._coordinator = address
        return address

    def _found(self, fut: asyncio.Future[Address]) -> None:
        self._finding = None
        if not fut.cancelled():
            fut.exception()  # retrieved: the caller that awaits it raises it

    def forget_coordinator(self) -> None:
        self._coordinator = None

    async def send(self, api: str, body: dict[str, Any], timeout_ms: float | None = None) -> dict[str, Any]:
        """One request to the coordinator; a coordinator error forgets it (and is raised)."""
        address = await self.coordinator()
        try:
            return await self._core.request(address, api, body, timeout_ms)
        except COORDINATOR_ERRORS:
            if self._coordinator == address:
                self._coordinator = None
            raise

    async def retrying(self, op: Callable[[], Awaitable[T]], timeout_ms: float | None = None) -> T:
        """``op`` again after coordinator errors (finding the coordinator anew) until ``timeout_ms``
        (default ``request_timeout_ms``); any other error is raised at once."""
        deadline = time.monotonic() + (timeout_ms or self._core.request_timeout_ms) / 1000
        attempt = 0
        while True:
            try:
                return await op()
            except COORDINATOR_ERRORS:
                attempt += 1
                delay = self._core.backoff_s(attempt)
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)

    # --- joining ----------------------------------------------------------------------------------

    async def rebalance(self) -> tuple[TopicPartition, ...]:
        """Join (blocking until the coordinator completes the rebalance) and set the positions of
        the new assignment from the committed offsets. The fetcher stays paused: the caller runs
        ``on_assign`` and then :meth:`resume`."""
        self._fetcher.pause()
        await self._fetcher.assign([])
        assignment = await self.join()
        try:
            committed = await self.fetch_committed(list(assignment))
        except KraftError:
            self._rejoin("could not read the committed offsets of the new assignment")
            raise
        await self._fetcher.assign(list(assignment))
        for tp, offset in committed.items():
            if offset is not None:
                await self._fetcher.seek(tp, offset)
        self.commits = CommitTracker()
        self.commits.known(committed)
        return assignment

    async def resume(self) -> None:
        """Let the fetcher run again, unless a new rebalance started meanwhile."""
        if self.membership.stable:
            self._fetcher.resume()

    async def join(self) -> tuple[TopicPartition, ...]:
        """``join_group`` until it succeeds; coordinator errors and lost connections find the
        coordinator again, UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION join as a new member,
        REBALANCE_IN_PROGRESS (a join of ours that a newer one superseded) joins again."""
        if self.subscription is None:
            raise KraftError("join without a subscription")
        m = self.membership
        m.joining = True
        try:
            deadline = time.monotonic() + self._core.request_timeout_ms / 1000
            attempt = 0
            while True:
                try:
                    return await self._join_once()
                except _JOIN_AGAIN as exc:
                    if isinstance(exc, UnknownMemberId | IllegalGeneration):
                        m.member_id, m.generation = NO_MEMBER_ID, NO_GENERATION
                    attempt += 1
                    delay = self._core.backoff_s(attempt)
                    if time.monotonic() + delay > deadline:
                        raise
                    log.debug("join_group of %s failed (%s); retrying", self.group_id, exc)
                    await asyncio.sleep(delay)
        finally:
            m.joining = False

    async def _join_once(self) -> tuple[TopicPartition, ...]:
        subscription = self.subscription
        assert subscription is not None
        with contextlib.suppress(KraftError):
            await self._core.refresh_metadata()  # partition counts as of this join
        counts = {t: self._core.metadata.partition_count(t) for t in subscription.topics}
        m = self.membership
        body = {
            "group_id": self.group_id,
            "member_id": m.member_id,
            "client_id": self.client_id,
            "topics": list(subscription.topics),
            "session_timeout_ms": self.session_timeout_ms,
            "rebalance_timeout_ms": self.max_poll_interval_ms,
            "strategy": self.strategy,
        }
        # The coordinator holds the answer until the rebalance completes: up to the rebalance timeout.
        answer = await self.send("join_group", body, self.max_poll_interval_ms + self._core.request_timeout_ms)
        try:
            member_id, generation = str(answer["member_id"]), int(answer["generation"])
            assignment = parse_assignment(answer["assignment"])
        except (KeyError, TypeError, ValueError):
            raise KraftError(f"malformed join_group answer {answer!r}") from None
        m.joined(member_id, generation, assignment)
        if self.subscription is subscription:
            self.subscription = subscription.joined(counts)
        log.debug("%s joined %s: generation %d, %d partitions", member_id, self.group_id, generation,
                  len(assignment))
        return assignment

    async def leave(self, reason: str) -> None:
        """``leave_group`` (one attempt, errors ignored) and forget the membership."""
        m = self.membership
        member_id = m.member_id
        m.left(reason)
        self._fetcher.pause()
        if member_id == NO_MEMBER_ID:
            return
        try:
            await self.send("leave_group", {"group_id": self.group_id, "member_id": member_id}, LEAVE_TIMEOUT_MS)
        except KraftError as exc:
            log.debug("leave_group of %s failed: %s", self.group_id, exc)

    def _rejoin(self, reason: str) -> None:
        self.membership.request_rejoin(reason)
        self._fetcher.pause()

    # --- offsets ----------------------------------------------------------------------------------

    async def fetch_committed(self, partitions: list[TopicPartition] | None) -> dict[TopicPartition, int | None]:
        """Committed offset of each partition (None: nothing committed); ``None`` asks for all."""
        if partitions is not None and not partitions:
            return {}
        body = {"group_id": self.group_id, "partitions": None if partitions is None else [
            {"topic": tp.topic, "partition": tp.partition} for tp in partitions]}
        answer = await self.retrying(lambda: self.send("offset_fetch", body))
        out: dict[TopicPartition, int | None] = dict.fromkeys(partitions or ())
        try:
            for item in answer["offsets"]:
                offset = int(item["offset"])
                out[TopicPartition(item["topic"], int(item["partition"]))] = offset if offset >= 0 else None
        except (KeyError, TypeError, ValueError):
            raise KraftError(f"malformed offset_fetch answer {answer!r}") from None
        return out

    async def pending_offsets(self) -> dict[TopicPartition, int]:
        """Consumed positions not committed yet (what an auto-commit sends)."""
        return self.commits.pending(self._fetcher.positions())

    async def commit(self, offsets: dict[TopicPartition, int] | None = None, *,
                     positions: dict[TopicPartition, int | None] | None = None) -> dict[TopicPartition, int]:
        """Commit ``offsets`` (default: the consumed positions not committed yet, of ``positions``
        when given: the positions as of a caller's call, before a later ``poll`` moved them on);
        the offsets sent.

        Commits leave one at a time, in call order, so an older commit cannot overwrite a newer
        one. A subscribed consumer commits with its member id and generation; one that assigned
        its partitions itself commits as an administrator ("" / -1)."""
        if offsets is None:
            offsets = self.commits.pending(positions) if positions is not None else await self.pending_offsets()
        for tp, offset in offsets.items():
            if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                raise ValueError(f"commit offset of {tp.topic}/{tp.partition} must be an int >= 0, got {offset!r}")
        if not offsets:
            return {}
        # The identity of the generation the offsets were consumed in, fixed now: a commit that
        # waits behind others must not leave with the next generation's identity.
        m = self.membership
        if self.subscription is not None and not m.in_group:
            raise UnknownMemberId(f"not a member of group {self.group_id} (rejoins on the next poll)")
        identity = m.commit_identity() if self.subscription is not None else (NO_MEMBER_ID, NO_GENERATION)
        if self._commit_lock is None:
            self._commit_lock = asyncio.Lock()
        tracker = self.commits  # a rebalance replaces it: this commit's answer is not news for the next
        async with self._commit_lock:
            await self.retrying(lambda: self._commit_once(offsets, *identity, tracker))
        return offsets

    async def _commit_once(self, offsets: dict[TopicPartition, int], member_id: str, generation: int,
                           tracker: CommitTracker) -> None:
        body = {"group_id": self.group_id, "member_id": member_id, "generation": generation,
                "offsets": [{"topic": tp.topic, "partition": tp.partition, "offset": off}
                            for tp, off in offsets.items()]}
        try:
            answer = await self.send("offset_commit", body)
        except KraftError as exc:
            self._commit_failed(exc, member_id, generation)
            raise
        first: KraftError | None = None
        done: dict[TopicPartition, int] = {}
        for result in answer.get("results", []):
            tp = TopicPartition(result.get("topic"), result.get("partition"))
            err = error_from_result(result)
            if err is None and tp in offsets:
                done[tp] = offsets[tp]
            elif err is not None and first is None:
                first = err
        tracker.committed(done)
        if first is not None:
            self._commit_failed(first, member_id, generation)
            raise first
        if len(done) != len(offsets):
            raise InvalidRequest(f"offset_commit answered {len(done)} of {len(offsets)} partitions")

    def _commit_failed(self, exc: KraftError, member_id: str, generation: int) -> None:
        m = self.membership
        if self.subscription is None or (m.member_id, m.generation) != (member_id, generation):
            return  # a manual-assignment commit, or the membership moved on meanwhile
        if m.failed(exc) is Action.REJOIN:
            self._fetcher.pause()

    # --- heartbeats -------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_ms / 1000)
            try:
                await self.heartbeat_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any surprise; the next tick tries again
                log.exception("heartbeat of group %s failed", self.group_id)

    async def heartbeat_once(self) -> None:
        m = self.membership
        if m.joining or not m.in_group:
            await self._check_metadata()
            return
        idle_ms = (time.monotonic() - self.last_poll_s) * 1000
        if idle_ms > self.max_poll_interval_ms:
            log.warning("poll() not called for %.0f ms (max_poll_interval_ms %d): leaving group %s",
                        idle_ms, self.max_poll_interval_ms, self.group_id)
            await self.leave("max_poll_interval_ms exceeded")
            return
        body = {"group_id": self.group_id, "member_id": m.member_id, "generation": m.generation}
        try:
            await self.send("heartbeat", body, self.session_timeout_ms)
        except KraftError as exc:
            if (m.member_id, m.generation) == (body["member_id"], body["generation"]) and not m.joining:
                action = m.failed(exc)
                if action is Action.REJOIN:
                    self._fetcher.pause()
                log.debug("heartbeat of %s: %s -> %s", self.group_id, exc, action.value)
            return
        await self._check_metadata()

    async def _check_metadata(self) -> None:
        """Rejoin when a subscribed topic's partition count changed since the last join (e.g. a
        topic the group waits for was created)."""
        s = self.subscription
        if s is None or not s.counts or self.membership.rejoin_needed:
            return
        now = time.monotonic()
        stale = self._core.metadata_is_stale()
        if stale or (s.missing() and (now - self._missing_checked_s) * 1000 >= MISSING_TOPIC_CHECK_MS):
            self._missing_checked_s = now
            try:
                await self._core.refresh_metadata()
            except KraftError:
                return
        counts = {t: self._core.metadata.partition_count(t) for t in s.topics}
        if s.changed(counts) and not self.membership.joining:
            self._rejoin("partitions of the subscribed topics changed")


__all__ = ["STRATEGIES", "GroupClient"]
