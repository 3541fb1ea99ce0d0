"""The Raft side of an in-process cluster: every node's groups on one driver thread, messages in memory.

Owns: ``MemoryNetwork`` (one thread, on the real clock, running each node's ``GroupDriver``
iteration in turn and carrying what the groups send to the other nodes) and ``MemoryHost`` (a node's
``NodeHost`` and ``TransportHost`` on it: what ``RaftHost`` is, minus sockets). A pass of the thread:

    run calls queued for the thread -> for each running node: deliver its inbox, then
    GroupDriver.run_iteration (driver calls, ticks, loop hooks, store commit, outbox released),
    then route what its groups queued to the other nodes' inboxes

so, as on the TCP host, nothing a group sent leaves before the store commit that covers it. Messages
are msgpack-encoded on the way, as on the wire (a receiver may rewrite what it gets).
Links: two running nodes are connected unless a fault (``set_faults``, as ``debug_faults`` sets it)
blocks one from the other; groups hear of links going up and down as from the TCP host. A group
can also be cut off from its peers on every node (``isolate``): a test fault no TCP link can
produce, used to leave a partition without a leader under the real election rules.
Must not: know what a group replicates, or sleep as a way to wait (it waits on an event).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import msgpack

from kraft.log.store import LogStore
from kraft.raft.clock import MONOTONIC, Clock
from kraft.raft.driver import DrivenHost, GroupDriver
from kraft.raft.faults import NetworkFaults

log = logging.getLogger(__name__)

T = TypeVar("T")
IDLE_WAIT_MAX_S = 0.5  # the thread re-checks at least this often, woken or not


class MemoryHost(DrivenHost):
    """One node's host on a ``MemoryNetwork`` (a ``NodeHost`` for its replicas and broker)."""

    def __init__(self, network: MemoryNetwork, node_id: int, store: LogStore) -> None:
        self.network = network
        self.node_id = node_id
        self.store = store
        self.clock: Clock = network.clock
        self.driver = GroupDriver(self, store, network.tick_interval_s, signal=network.wake)
        self.faults: NetworkFaults | None = None
        self.inbox: deque[tuple[int, int, bytes]] = deque()  # (from node, gid, msgpack message)
        self._sends: list[tuple[int, int, bytes]] = []  # (to node, gid, msgpack message) this iteration

    # --- NodeHost (groups, outbox, calls: DrivenHost) ---------------------------------------------
    def is_connected(self, peer: int) -> bool:
        return self.network.linked(self.node_id, peer)

    def connected_peers(self) -> dict[int, bool]:
        return {p: self.is_connected(p) for p in self.network.node_ids if p != self.node_id}

    def add_peer(self, peer: int, addr: tuple[str, int]) -> None:
        pass  # every node of the in-memory network reaches every other one already

    def peers_reading(self, name: str) -> set[int]:
        return {p for p in self.network.node_ids if p != self.node_id}  # all run this process's code

    def remove_peer(self, peer: int) -> None:
        pass

    def set_faults(self, faults: NetworkFaults | None) -> None:
        """Driver thread. Blocked peers are disconnected both ways; loss and duplication apply to
        what this node receives. (``delay_s`` is not modelled in process.)"""
        self.faults = faults
        self.network.relink()

    # --- TransportHost ----------------------------------------------------------------------------
    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0,
                early: bool = False) -> None:
        # Sent when the iteration ends either way: within one process no crash falls in between.
        self._sends.append((peer, gid, msgpack.packb(message, use_bin_type=True)))

    def release_early(self) -> None:
        pass

    def can_queue(self, peer: int) -> bool:
        return self.is_connected(peer)

    # --- the network drives -----------------------------------------------------------------------
    def run(self, now: float) -> list[tuple[int, int, bytes]]:
        """Deliver the inbox, run one driver iteration; what the groups sent, to route now."""
        while self.inbox:
            src, gid, frame = self.inbox.popleft()
            copies = 1 if self.faults is None else self.faults.copies()
            for _ in range(copies):
                self.driver.deliver(src, gid, msgpack.unpackb(frame, raw=False, strict_map_key=False))
        self.driver.run_iteration(now)
        sends, self._sends = self._sends, []
        return sends

    def busy(self) -> bool:
        return bool(self.inbox) or self.driver.busy()


class MemoryNetwork:
    """The nodes of one in-process cluster and the thread that drives them."""

    def __init__(self, tick_interval_s: float, clock: Clock = MONOTONIC) -> None:
        self.tick_interval_s = tick_interval_s
        self.clock = clock
        self.hosts: dict[int, MemoryHost] = {}  # running nodes
        self.node_ids: list[int] = []  # every node ever added, running or not
        self.failure: BaseException | None = None  # what stopped the thread, if it failed
        self._links: set[tuple[int, int]] = set()  # (low id, high id) of connected pairs
        self._isolated: set[int] = set()  # gids whose messages are dropped everywhere
        self._calls: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None

    # --- any thread -------------------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="kraft-in-process-raft", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; every node's groups are shut down on it (their stores committed)."""
        self._running = False
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise RuntimeError("the in-process Raft thread did not stop within 10 s")
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run ``fn`` on the driver thread between two passes (no node's store batch is open then)
        and return its result; its exception is raised here."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the in-process Raft thread is not running") from self.failure
        if threading.current_thread() is self._thread:
            return fn()
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as e:
                done.set_exception(e)

        with self._lock:
            self._calls.append(run)
        self.wake()
        return done.result(timeout_s)

    # --- driver thread (or before start) ----------------------------------------------------------
    def add(self, node_id: int, store: LogStore) -> MemoryHost:
        """A running node on ``store`` (connected to every other running node)."""
        if node_id in self.hosts:
            raise ValueError(f"node {node_id} is running already")
        host = MemoryHost(self, node_id, store)
        self.hosts[node_id] = host
        if node_id not in self.node_ids:
            self.node_ids.append(node_id)
        self.relink()
        return host

    def remove(self, node_id: int) -> None:
        """The node stops (a crash between two passes: its store holds every commit, nothing else);
        its links drop and what was in flight to it is lost."""
        host = self.hosts.pop(node_id)
        self.relink()
        host.driver.shutdown()

    def isolate(self, gid: int, isolated: bool = True) -> None:
        """Drop (or stop dropping) every message of group ``gid``, on every node."""
        if isolated:
            self._isolated.add(gid)
            for host in self.hosts.values():
                host.inbox = deque(m for m in host.inbox if m[1] != gid)
        else:
            self._isolated.discard(gid)

    def linked(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self._links

    def relink(self) -> None:
        """Bring links up or down after a node started or stopped or faults changed, and tell the
        groups on both ends, as the TCP host does when a connection opens or closes."""
        wanted = {(a, b) for a in self.hosts for b in self.hosts if a < b and not self._blocked(a, b)}
        for a, b in sorted(self._links - wanted):
            self._links.discard((a, b))
            for here, there in ((a, b), (b, a)):
                host = self.hosts.get(here)
                if host is not None:
                    host.inbox = deque(m for m in host.inbox if m[0] != there)
                    host.driver.peer_disconnected(there)
        for a, b in sorted(wanted - self._links):
            self._links.add((a, b))
            self.hosts[a].driver.peer_connected(b)
            self.hosts[b].driver.peer_connected(a)

    def _blocked(self, a: int, b: int) -> bool:
        fa, fb = self.hosts[a].faults, self.hosts[b].faults
        return (fa is not None and b in fa.blocked) or (fb is not None and a in fb.blocked)

    def _run(self) -> None:
        try:
            while self._running:
                self._wake.clear()
                self._pass()
                if not any(h.busy() for h in self.hosts.values()):
                    self._wake.wait(self._idle_s())
        except BaseException as e:
            # As the TCP host's fail-stop: groups may be ahead of their stores now; nothing more runs.
            self.failure = e
            log.critical("in-process Raft thread failed; every node stops", exc_info=True)
            self._running = False
            return
        for node_id in list(self.hosts):
            self.remove(node_id)

    def _idle_s(self) -> float:
        if not self.hosts:
            return IDLE_WAIT_MAX_S
        next_tick = min(h.driver.next_tick_at() for h in self.hosts.values())
        return min(IDLE_WAIT_MAX_S, max(0.0, next_tick - self.clock.now()))

    def _pass(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, deque()
        for fn in calls:
            fn()
        now = self.clock.now()
        for src, host in list(self.hosts.items()):
            for dst, gid, frame in host.run(now):
                target = self.hosts.get(dst)
                if target is not None and gid not in self._isolated and self.linked(src, dst):
                    target.inbox.append((src, gid, frame))
