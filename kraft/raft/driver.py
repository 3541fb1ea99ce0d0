"""The order of work of a node's Raft groups in one driver-loop iteration, without sockets.

Owns: the groups a node hosts and their transports, which groups to tick (woken, messaged, leaders
every tick, idle followers every third, quiescent groups only when woken or messaged), calls queued
for the driver thread, and the durability
order of an iteration:

    run driver calls -> tick groups -> loop hooks -> reclaim a slice of discarded rows
    -> send the early messages (leaders' AppendEntries) -> commit the store (one fsync for every
    group) -> release the outbox (outcomes, "appended") -> the caller sends the rest

Leaders' AppendEntries leave before the fsync (Raft's "the leader writes to its disk in parallel",
§10.2.1 of Ongaro's thesis): the followers' fsyncs overlap the leader's, so a commit costs one
fsync on its critical path fewer. Safe because a leader counts its own copy of an entry only when
a follower's acknowledgement of it is handled, which is always an iteration after the one that
appended and fsynced it, and because what those messages carry as committed is clamped to the
leader's stored log (``RaftGroup._send_append``).

A reclaim slice rides along with a commit the iteration makes anyway (appends, applies); alone it
gets a commit of its own at most every ``RECLAIM_ALONE_EVERY_S``. Deleting discarded rows needs no
fsync of its own (after a crash the rows are deleted again), and under load every extra fsync queues
in front of the appends' fsyncs: a 1 GB removal in back-to-back slices made about 100 extra commits
per node in 0.4 s and doubled the produce p99 while it lasted.

The caller sends the rest of what groups queued only after ``run_iteration`` returns, so nothing a
group sent acknowledges a write the disk does not hold yet. The RaftHost runs this over TCP; the simulator
and the in-process test cluster (kraft.testing.memory_raft) run it over in-memory networks, with
the same order.
Must not: touch sockets, sleep, or read a clock itself (``now`` comes in).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from kraft.raft.group import RaftGroup
from kraft.raft.outbox import Outbox
from kraft.raft.stats import RaftStats
from kraft.raft.transport import MuxTransport, TransportHost

log = logging.getLogger(__name__)

FOLLOWER_TICK_EVERY = 3  # full ticks
# The reclaim budget of one iteration, over all groups: rows of discarded log deleted, a journal
# row counting 1 more per 4 KiB of it (kraft.raft.journal.RECLAIM_ROW_BYTES), so about 2,000 index rows
# or 8 MiB of batches per iteration (a compaction pass: 100 batches, COMPACTION_ROWS_PER_BATCH).
RECLAIM_ROWS_PER_ITERATION = 2_000
# At most one reclaim slice per this many seconds with a commit of its own (none to ride along
# with): about 400 MB/s of 64 KiB batches on an idle node.
RECLAIM_ALONE_EVERY_S = 0.02
SHUTDOWN_REPORT_GROUPS = 500  # a stop says how far it got every this many groups


class Committable(Protocol):
    def has_writes(self) -> bool: ...

    def commit(self) -> bool: ...


class GroupDriver:
    def __init__(self, host: TransportHost, store: Committable, tick_interval_s: float,
                 signal: Callable[[], None] = lambda: None) -> None:
        self.host = host
        self.store = store
        self.tick_interval_s = tick_interval_s
        self._signal = signal  # wakes whoever waits for the next iteration (the host's poll)
        self.groups: dict[int, RaftGroup] = {}
        self.transports: dict[int, MuxTransport] = {}
        self.outbox = Outbox()
        self.on_loop: list[Callable[[], None]] = []  # driver-thread hooks, run every iteration
        self._lock = threading.Lock()
        self._woken: set[int] = set()
        self._calls: deque[Callable[[], None]] = deque()
        self._dirty: set[int] = set()
        self._reclaiming: set[int] = set()  # groups with discarded rows left to delete
        # Whether left-over background work wakes the loop (``next_tick_at``); the simulator turns it
        # off to model slow background work, spread over simulated time.
        self.reclaim_wakes_loop = True
        self._next_lone_reclaim = 0.0
        self._next_full_tick = 0.0
        self._full_ticks = 0
        self.stats: RaftStats | None = None  # the node's Raft counters: appends per store commit

    # --- any thread -------------------------------------------------------------------------------
    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the driver thread, in the next iteration."""
        with self._lock:
            self._calls.append(fn)
        self._signal()

    def wake(self, gid: int) -> None:
        with self._lock:
            self._woken.add(gid)
        self._signal()

    # --- driver thread ----------------------------------------------------------------------------
    def busy(self) -> bool:
        """Work is waiting: the next iteration must not sleep."""
        return bool(self._dirty or self._calls or self._woken)

    def next_tick_at(self) -> float:
        """When the loop must run next without a message: a full tick, or a reclaim slice."""
        if self._reclaiming and self.reclaim_wakes_loop:
            return min(self._next_full_tick, self._next_lone_reclaim)
        return self._next_full_tick

    def add_group(self, gid: int, build: Callable[[Callable[..., MuxTransport]], RaftGroup]) -> RaftGroup:
        """Create a group; ``build(transport_factory)`` constructs the RaftGroup."""

        def factory(sync_obj: Any, self_node: Any, other_nodes: Any) -> MuxTransport:
            t = MuxTransport(self.host, gid, sync_obj, self_node, other_nodes)
            self.transports[gid] = t
            return t

        group = build(factory)
        self.groups[gid] = group
        transport = self.transports[gid]
        for peer in transport.nodes:
            if self.host.is_connected(peer):
                transport.peer_connected(peer)
        self._dirty.add(gid)
        return group

    def remove_group(self, gid: int) -> RaftGroup | None:
        group = self.groups.pop(gid, None)
        self.transports.pop(gid, None)
        if group is not None:
            try:
                group.destroy()
            except Exception:
                log.exception("destroying group %d", gid)
        return group

    def deliver(self, peer: int, gid: int, message: dict[str, Any]) -> None:
        """A message from ``peer`` to group ``gid`` (dropped if this node does not host it: the
        sender retries)."""
        transport = self.transports.get(gid)
        if transport is None:
            return
        try:
            transport.deliver(peer, message)
        except Exception:
            log.exception("group %d failed on a message from %s", gid, peer)
        self._dirty.add(gid)

    def peer_connected(self, peer: int) -> None:
        for transport in list(self.transports.values()):
            transport.peer_connected(peer)
        self._dirty.update(self.groups)

    def peer_disconnected(self, peer: int) -> None:
        for transport in list(self.transports.values()):
            transport.peer_disconnected(peer)
        self._dirty.update(self.groups)  # quiescent groups woke: tick them

    def run_iteration(self, now: float) -> None:
        """One iteration after messages were delivered; the caller flushes sends afterwards."""
        with self._lock:
            calls, self._calls = self._calls, deque()
            self._dirty |= self._woken
            self._woken = set()
        for fn in calls:
            try:
                fn()
            except Exception:
                log.exception("driver call failed")
        if now >= self._next_full_tick:
            self._next_full_tick = now + self.tick_interval_s
            self._full_ticks += 1
            if self._full_ticks % FOLLOWER_TICK_EVERY == 0:
                to_tick = [gid for gid, g in self.groups.items() if gid in self._dirty or not g.quiescent]
            else:
                # Leaders owe heartbeats every tick; an idle follower only checks its election
                # deadline, for which every third tick is precise enough (timeouts are seconds).
                to_tick = [gid for gid, g in self.groups.items()
                           if gid in self._dirty or (g.is_leader() and not g.quiescent)]
        else:
            to_tick = list(self._dirty)
        self._dirty = set()  # ticks below may mark groups again for the next iteration
        ticked: list[RaftGroup] = []
        for gid in to_tick:
            group = self.groups.get(gid)
            if group is None:
                continue
            ticked.append(group)
            try:
                group.doTick(0)
                if group.needs_tick():
                    self._dirty.add(gid)
            except Exception:
                log.exception("group %d tick failed", gid)
        for hook in self.on_loop:
            try:
                hook()
            except Exception:
                log.exception("driver hook failed")
        self._reclaim(ticked, now)
        self.host.release_early()
        appended = 0
        for group in ticked:
            appended += group.journal.take_appended()
        if self.store.commit() and self.stats is not None and appended:
            self.stats.appends_per_commit.observe(appended)
        for group in ticked:
            group.note_durable()
        self.outbox.release()

    def _reclaim(self, ticked: list[RaftGroup], now: float) -> None:
        """Delete a bounded slice of discarded log rows (bounded in rows and bytes): a retention pass
        of gigabytes is spread over many iterations, so appends and fetches keep their latency."""
        self._reclaiming.update(g.gid for g in ticked if g.reclaim_pending)
        if not self._reclaiming:
            return
        if not self.store.has_writes():
            if now < self._next_lone_reclaim:
                return
            self._next_lone_reclaim = now + RECLAIM_ALONE_EVERY_S
        budget = RECLAIM_ROWS_PER_ITERATION
        for gid in list(self._reclaiming):
            group = self.groups.get(gid)
            if group is not None:
                try:
                    budget -= group.reclaim(budget)
                except Exception:
                    log.exception("group %d: reclaiming discarded rows failed", gid)
                    group.reclaim_pending = False
                if group.reclaim_pending:
                    break  # out of budget
            self._reclaiming.discard(gid)

    def shutdown(self) -> None:
        self.store.commit()
        gids = list(self.groups)
        for n, gid in enumerate(gids, 1):
            self.remove_group(gid)
            if n % SHUTDOWN_REPORT_GROUPS == 0 and n < len(gids):
                log.info("stopping: %d of %d Raft groups closed", n, len(gids))


class DrivenHost:
    """What every host of a ``GroupDriver`` (the RaftHost over TCP, the in-process test network)
    exposes of it to the node: its groups, outbox, loop hooks, and calls onto its thread."""

    driver: GroupDriver

    @property
    def groups(self) -> dict[int, RaftGroup]:
        return self.driver.groups

    @property
    def transports(self) -> dict[int, MuxTransport]:
        return self.driver.transports

    @property
    def outbox(self) -> Outbox:
        return self.driver.outbox

    @property
    def on_loop(self) -> list[Callable[[], None]]:
        return self.driver.on_loop

    def add_group(self, gid: int, build: Callable[[Callable[..., MuxTransport]], RaftGroup]) -> RaftGroup:
        return self.driver.add_group(gid, build)

    def remove_group(self, gid: int) -> RaftGroup | None:
        return self.driver.remove_group(gid)

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the driver thread, in the next iteration (any thread)."""
        self.driver.call(fn)

    def wake(self, gid: int) -> None:
        self.driver.wake(gid)
