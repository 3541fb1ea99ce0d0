"""The Raft host of a node: one driver thread, one port, one connection per node pair, every group.

Owns: the listening socket for Raft traffic, a connection to every peer (the lower node id dials the
higher; a higher id not connected to a lower one for ``DIAL_FALLBACK_S`` dials it too, since a node
added after the others started is not in their cluster.ini: they learn its address only once it has
registered, ``add_peer``; a hello from a node id this host does not know is accepted for that reason,
the cluster id check still refusing another cluster's nodes), and the driver thread, whose
iteration is what makes acknowledgements durable:

    poll sockets -> deliver messages to groups -> GroupDriver.run_iteration (driver calls, ticks,
    one store commit with one fsync for every group, outbox released) -> flush sends

Nothing a group queued to send leaves before the journal writes it acknowledges are committed.
The order inside the iteration belongs to ``raft.driver`` (shared with the simulator).
Frames are a 4-byte length and msgpack ``[[gid, message], ...]``: every group's messages to a peer
in one loop iteration go out in one frame (heartbeats coalesced). The first frame each way on a connection is a hello,
``{"hello": node_id, "disk": disk id | None, "cluster": cluster id | None, "pending": [node ids],
"reads": [names]}`` (what this node's disk is: ``kraft.node.identity``, which owns the meaning; what
its code reads, names the node layer gives it, e.g. ``kraft.protocol.batch.READS_COLUMNS``), sent
again whenever that changes; a peer of another cluster is refused. A hello without ``reads`` (a node
from before them) reads none of the names.
Must not: know about partitions, records or clients.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack

from kraft.log.store import LogStore
from kraft.raft.clock import MONOTONIC, Clock
from kraft.raft.driver import DrivenHost, GroupDriver
from kraft.raft.faults import NetworkFaults

log = logging.getLogger(__name__)

LEN = struct.Struct(">I")
MAX_PEER_FRAME_BYTES = 64 * 1024 * 1024
# One read from a peer takes at most this much. Reads go into one buffer the host keeps rather than
# a fresh ``recv(1 MiB)`` per call (14.5 us against 2.3 us per small read in isolation; no difference
# a benchmark of the nodes could tell: BENCHMARKS.md, 2026-12-05).
RECV_BYTES = 1 << 20
# The kept packer's buffer grows to the largest frame it packed; after a frame over this it is
# replaced, so a rare big one (a snapshot's entries) is not held for good.
PACKER_KEEP_BYTES = 8 * 1024 * 1024
FRAME_SPLIT_BYTES = 4 * 1024 * 1024  # a flush cuts a peer's pending messages into frames of about this
PEER_QUEUE_HIGH_BYTES = 32 * 1024 * 1024  # groups stop queueing entries to a peer above this (backpressure)
MAX_PEER_OUTBUF_BYTES = 512 * 1024 * 1024  # last resort: a peer this far behind is cut off
PING_INTERVAL_S = 0.5
DIAL_INTERVAL_S = 0.25
DIAL_TIMEOUT_S = 2.0
FOREIGN_LOG_INTERVAL_S = 60.0  # how often a refused node of another cluster is logged again
DIAL_FALLBACK_S = 2.0  # a higher id dials a lower one it has not been connected to for this long
FAIL_STOP_EXIT_CODE = 70


class PeerConn:
    """One TCP connection to a peer node, with its read and write buffers."""

    def __init__(self, sock: socket.socket, peer: int | None, dialing: bool, now: float) -> None:
        self.sock = sock
        self.peer = peer
        self.dialing = dialing  # non-blocking connect still in progress
        self.dialed = dialing  # this node dialed it (else accepted it)
        self.ready = False  # hello exchanged (dialer: connected and hello queued)
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.pending: list[list[Any]] = []  # [gid, msg] queued this loop iteration, sent after its commit
        self.early: list[list[Any]] = []  # [gid, msg] that may leave before it (leaders' appends)
        self.waiting: set[int] = set()  # groups with a message in pending: their next ones wait too
        self.pending_bytes = 0  # entry bytes in pending and early (what backpressure counts)
        self.dial_started = now
        self.last_recv = now
        self.last_send = now


class RaftHost(DrivenHost):
    def __init__(
        self,
        node_id: int,
        bind: tuple[str, int],
        peers: dict[int, tuple[str, int]],
        store: LogStore,
        *,
        tick_interval_s: float = 0.1,
        peer_timeout_s: float = 5.0,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.node_id = node_id
        self.bind = bind
        self.peer_addrs = {p: a for p, a in peers.items() if p != node_id}
        self.store = store
        self.clock = clock
        self.peer_timeout_s = peer_timeout_s
        self.driver = GroupDriver(self, store, tick_interval_s, signal=self._signal)
        self._recv_buf = bytearray(RECV_BYTES)
        self._recv_view = memoryview(self._recv_buf)
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=False)
        self.conns: dict[int, PeerConn] = {}
        self._sel = selectors.DefaultSelector()
        self._pipe_r, self._pipe_w = os.pipe()
        os.set_blocking(self._pipe_r, False)
        os.set_blocking(self._pipe_w, False)
        self._signalled = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._next_dial = 0.0
        self._foreign_logged: dict[int, float] = {}  # node of another cluster -> when last logged
        self._unconnected_since: dict[int, float] = {}  # lower-id peer -> since when not connected
        self.faults: NetworkFaults | None = None  # test-only network faults (KRAFT_FAULTS=1)
        self._delayed: deque[tuple[float, PeerConn, Any]] = deque()  # frames held by a delay fault
        self.identity: dict[str, Any] = {"disk": None, "cluster": None, "pending": []}  # what our hellos say
        self.peer_hellos: dict[int, dict[str, Any]] = {}  # the latest hello of each peer (any thread reads)
        self.on_hello: Callable[[int, dict[str, Any]], None] | None = None  # driver thread, each hello
        self.reads: tuple[str, ...] = ()  # what our hellos say this node's code reads (set before start)
        self.last_iteration = clock.now()  # when the driver last ran an iteration (liveness)
        self.listener = self._listen()

    # --- lifecycle ------------------------------------------------------------------------------
    def _listen(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.bind)  # raises OSError(EADDRINUSE): the node refuses to start
        sock.listen(64)
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, ("listen", None))
        self._sel.register(self._pipe_r, selectors.EVENT_READ, ("wake", None))
        return sock

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="raft-driver", daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Stop the driver; False if it did not finish in time (it may still hold a transaction)."""
        self._running = False
        self._signal()
        if self._thread is not None:
            self._thread.join(timeout=10)
            return not self._thread.is_alive()
        return True

    # --- API for other threads (groups, outbox, calls: DrivenHost) --------------------------------
    def _signal(self) -> None:
        if not self._signalled:
            self._signalled = True
            try:
                os.write(self._pipe_w, b"x")
            except BlockingIOError:
                pass

    # --- API for the driver thread --------------------------------------------------------------
    def can_queue(self, peer: int) -> bool:
        """Whether a group may queue more log entries to ``peer`` (heartbeats always may)."""
        conn = self.conns.get(peer)
        return conn is not None and conn.ready and len(conn.outbuf) + conn.pending_bytes < PEER_QUEUE_HIGH_BYTES

    def set_faults(self, faults: NetworkFaults | None) -> None:
        """Driver thread. A blocked peer is disconnected and neither dialled nor accepted until
        unblocked: a network partition as the groups see it."""
        self.faults = faults
        if faults is None:
            return
        for peer in list(self.conns):
            if peer in faults.blocked:
                self._close(self.conns[peer])

    def _blocked(self, peer: int | None) -> bool:
        return self.faults is not None and peer in self.faults.blocked

    def is_connected(self, peer: int) -> bool:
        conn = self.conns.get(peer)
        return conn is not None and conn.ready

    def connected_peers(self) -> dict[int, bool]:
        return {p: self.is_connected(p) for p in self.peer_addrs}

    def peers_reading(self, name: str) -> set[int]:
        """Any thread: the peers whose latest hello (on this connection or an earlier one) says their
        code reads ``name``; a peer not heard from since this node started is not among them."""
        return {p for p, hello in list(self.peer_hellos.items()) if name in hello["reads"]}

    def add_peer(self, peer: int, addr: tuple[str, int]) -> None:
        """Driver thread: dial ``peer`` at ``addr`` from now on (a node the metadata registry knows and
        cluster.ini does not; a changed address replaces the old one)."""
        if peer == self.node_id or self.peer_addrs.get(peer) == addr:
            return
        log.info("peer %d is at %s:%d", peer, *addr)
        self.peer_addrs[peer] = addr

    def remove_peer(self, peer: int) -> None:
        """Driver thread: forget ``peer`` (a decommissioned node that left): its connection is closed and
        it is no longer dialled (if it still runs and dials, it is accepted as any unknown node is)."""
        if self.peer_addrs.pop(peer, None) is None:
            return
        log.info("peer %d left the cluster: no longer connecting to it", peer)
        self._unconnected_since.pop(peer, None)
        conn = self.conns.get(peer)
        if conn is not None:
            self._close(conn)

    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0,
                early: bool = False) -> None:
        conn = self.conns.get(peer)
        if conn is not None and conn.ready:
            if early and gid not in conn.waiting:
                conn.early.append([gid, message])
            else:
                conn.pending.append([gid, message])
                conn.waiting.add(gid)
            conn.pending_bytes += size_hint

    def release_early(self) -> None:
        """Write the leaders' appends now, so the followers' fsyncs run while this node's does."""
        for conn in list(self.conns.values()):
            if conn.early and conn.ready:
                early, conn.early = conn.early, []
                self._frame_messages(conn, early)
                self._write(conn)

    # --- the driver loop ------------------------------------------------------------------------
    def _run(self) -> None:
        while self._running:
            try:
                self._iteration()
            except BaseException:
                # Fail-stop. Groups' in-memory Raft state (terms, votes, journal tails, commit
                # indexes) is already ahead of what the store holds after an abort, and replies queued
                # this iteration acknowledge writes that were not committed. Continuing could ack
                # lost writes; a restart reloads the truth from disk.
                log.critical("raft driver failed; stopping the node", exc_info=True)
                logging.shutdown()
                os._exit(FAIL_STOP_EXIT_CODE)
        self._shutdown()

    def _iteration(self) -> None:
        now = self.clock.now()
        wake_at = min(self.driver.next_tick_at(), self._next_dial, self._delayed[0][0] if self._delayed else now + 1)
        timeout = 0.0 if self.driver.busy() else max(0.0, wake_at - now)
        events = self._sel.select(timeout)
        started = self.clock.now()  # the work from here on: the wait above is not the loop's
        for key, mask in events:
            kind, conn = key.data
            if kind == "listen":
                self._accept()
            elif kind == "wake":
                self._drain_wake()
            elif mask & selectors.EVENT_WRITE and conn.dialing:
                self._finish_dial(conn)
            else:
                if mask & selectors.EVENT_READ:
                    self._read(conn)
                if mask & selectors.EVENT_WRITE and conn.sock.fileno() >= 0:
                    self._write(conn)
        now = self.clock.now()
        while self._delayed and self._delayed[0][0] <= now:
            _, conn, frame = self._delayed.popleft()
            if conn.sock.fileno() >= 0:
                self._deliver(conn, frame)
        if now >= self._next_dial:
            self._next_dial = now + DIAL_INTERVAL_S
            self._dial_missing()
            self._check_peer_timeouts(now)
        self._signalled = False  # a call queued from here on signals again
        self.last_iteration = now
        self.driver.run_iteration(now)
        self._flush(now)
        stats = self.driver.stats
        if stats is not None:
            stats.loop_iteration.observe(self.clock.now() - started)

    def _shutdown(self) -> None:
        self.driver.shutdown()
        for conn in list(self.conns.values()):
            self._close(conn, notify=False)
        self._sel.close()
        self.listener.close()
        os.close(self._pipe_r)
        os.close(self._pipe_w)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._pipe_r, 4096):
                pass
        except BlockingIOError:
            pass

    # --- connections ----------------------------------------------------------------------------
    def _dial_missing(self) -> None:
        now = self.clock.now()
        for peer, addr in self.peer_addrs.items():
            conn = self.conns.get(peer)
            if conn is not None and conn.dialing and now - conn.dial_started > DIAL_TIMEOUT_S:
                self._close(conn, notify=False)  # a SYN into a silent network: try again
            if peer in self.conns or self._blocked(peer):
                self._unconnected_since.pop(peer, None)
                continue
            if peer < self.node_id and now - self._unconnected_since.setdefault(peer, now) < DIAL_FALLBACK_S:
                continue  # the lower id dials; the higher one waits for it (unless it may not know us)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                log.warning("cannot open a socket to peer %d: %s", peer, e)
                return
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = sock.connect_ex(addr)
            except OSError as e:  # e.g. the peer's host name does not resolve
                log.warning("cannot dial peer %d at %s: %s", peer, addr, e)
                sock.close()
                continue
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                continue
            conn = PeerConn(sock, peer, dialing=True, now=now)
            self.conns[peer] = conn
            self._sel.register(sock, selectors.EVENT_WRITE, ("peer", conn))

    def _finish_dial(self, conn: PeerConn) -> None:
        try:
            err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as e:
            err = e.errno or -1
        if err:
            self._close(conn, notify=False)
            return
        conn.dialing = False
        conn.outbuf += self._hello()
        self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, ("peer", conn))
        self._mark_ready(conn)

    def _hello(self) -> bytes:
        return self._frame({"hello": self.node_id, **self.identity, "reads": list(self.reads)})

    def set_identity(self, disk_id: str | None, cluster_id: str | None, pending: list[int]) -> None:
        """Driver thread: what this node's hellos say from now on; connected peers hear it at once."""
        self.identity = {"disk": disk_id, "cluster": cluster_id, "pending": pending}
        for conn in self.conns.values():
            if conn.ready:
                conn.outbuf += self._hello()  # the loop's flush writes it

    def _on_hello(self, conn: PeerConn, frame: dict[str, Any]) -> bool:
        """Record a peer's hello; False (and the connection closed) for a peer of another cluster."""
        assert conn.peer is not None
        theirs, ours = frame.get("cluster"), self.identity.get("cluster")
        if theirs is not None and ours is not None and theirs != ours:
            now = self.clock.now()
            if now - self._foreign_logged.get(conn.peer, float("-inf")) >= FOREIGN_LOG_INTERVAL_S:
                # It dials again every DIAL_INTERVAL_S: say so once a minute, not four times a second.
                self._foreign_logged[conn.peer] = now
                log.error("node %d belongs to cluster %s, this node to cluster %s: refusing its connection "
                          "(and its reconnections, logged once a minute)", conn.peer, theirs, ours)
            self._close(conn)
            return False
        reads = frame.get("reads")
        hello = {"disk": frame.get("disk"), "cluster": theirs, "pending": list(frame.get("pending") or []),
                 "reads": frozenset(r for r in reads if isinstance(r, str)) if isinstance(reads, list) else frozenset()}
        self.peer_hellos[conn.peer] = hello
        if self.on_hello is not None:
            self.on_hello(conn.peer, hello)
        return True

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: the peer retries its dial
                log.warning("cannot accept a peer connection: %s", e)
                return
            conn = PeerConn(sock, None, dialing=False, now=self.clock.now())
            self._sel.register(sock, selectors.EVENT_READ, ("peer", conn))

    def _mark_ready(self, conn: PeerConn) -> None:
        conn.ready = True
        assert conn.peer is not None
        self.driver.peer_connected(conn.peer)

    def _close(self, conn: PeerConn, *, notify: bool = True) -> None:
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        was_ready = conn.ready
        conn.ready = False
        if conn.peer is not None and self.conns.get(conn.peer) is conn:
            del self.conns[conn.peer]
            if was_ready and notify:
                self.driver.peer_disconnected(conn.peer)

    def _check_peer_timeouts(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if conn.ready and now - conn.last_recv > self.peer_timeout_s:
                log.warning("peer %s silent for %.1fs: closing its connection", conn.peer, now - conn.last_recv)
                self._close(conn)

    # --- bytes in -------------------------------------------------------------------------------
    def _read(self, conn: PeerConn) -> None:
        try:
            n = conn.sock.recv_into(self._recv_buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not n:
            self._close(conn)
            return
        conn.last_recv = self.clock.now()
        conn.inbuf += self._recv_view[:n]
        pos = 0
        buf = conn.inbuf
        # Frames are unpacked from a view of the buffer (msgpack copies what it returns), not from
        # copies of them: a frame holds megabytes of entries. The view is released before the
        # buffer is cut.
        view = memoryview(buf)
        try:
            while len(buf) - pos >= 4:
                (size,) = LEN.unpack_from(buf, pos)
                if size > MAX_PEER_FRAME_BYTES:
                    raise ValueError(f"peer frame of {size} bytes")
                if len(buf) - pos - 4 < size:
                    break
                frame = msgpack.unpackb(view[pos + 4 : pos + 4 + size], raw=False, strict_map_key=False)
                pos += 4 + size
                self._on_frame(conn, frame)
                if conn.sock.fileno() < 0:
                    return
        except Exception:
            log.exception("bad frame from peer %s: closing", conn.peer)
            self._close(conn)
            return
        finally:
            view.release()
        del buf[:pos]

    def _on_frame(self, conn: PeerConn, frame: Any) -> None:
        if conn.peer is None:
            peer = frame.get("hello") if isinstance(frame, dict) else None
            # A node id not in peer_addrs may be a node added later (see the module docstring).
            if not isinstance(peer, int) or peer == self.node_id or self._blocked(peer):
                log.warning("connection from an invalid or blocked node %r: closing", peer)
                self._close(conn, notify=False)
                return
            old = self.conns.get(peer)
            if old is not None and old.dialed and self.node_id < peer:
                # Both dialed at once (a higher id dials too, see the module docstring): the lower
                # id's connection stands on both sides, or each would close the one the other keeps.
                self._close(conn, notify=False)
                return
            conn.peer = peer
            if not self._on_hello(conn, frame):
                return  # a node of another cluster: the connection it would replace stays
            if old is not None:
                self._close(old)
            self.conns[peer] = conn
            conn.outbuf += self._hello()
            self._mark_ready(conn)
            return
        if isinstance(frame, dict):
            if "hello" in frame:
                self._on_hello(conn, frame)
            return
        if self.faults is not None and self.faults.delay_s:
            # The same delay for every frame keeps each peer's order, as one slow TCP link would.
            self._delayed.append((self.clock.now() + self.faults.delay_s, conn, frame))
            return
        self._deliver(conn, frame)

    def _deliver(self, conn: PeerConn, frame: Any) -> None:
        assert conn.peer is not None
        for gid, message in frame:
            for _ in range(1 if self.faults is None else self.faults.copies()):
                self.driver.deliver(conn.peer, gid, message)

    # --- bytes out ------------------------------------------------------------------------------
    @staticmethod
    def _frame(obj: Any) -> bytes:
        body: bytes = msgpack.packb(obj, use_bin_type=True)
        return LEN.pack(len(body)) + body

    def _frame_into(self, out: bytearray, obj: Any) -> None:
        """Append ``obj``'s frame to ``out`` through the host's one packer, whose buffer stays
        allocated, instead of a fresh buffer, a fresh result and the length prefix's copy per frame
        (0.8 ms against 0.03 ms per 520 KB frame in isolation; in the nodes no difference a benchmark
        could tell: BENCHMARKS.md, 2026-12-05)."""
        packer = self._packer
        size = 0
        try:
            packer.pack(obj)
            with packer.getbuffer() as body:
                size = len(body)
                out += LEN.pack(size)
                out += body
        finally:
            packer.reset()
            if size > PACKER_KEEP_BYTES:  # a rare big frame: do not hold its buffer for good
                self._packer = msgpack.Packer(use_bin_type=True, autoreset=False)

    def _flush(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if not conn.ready:
                continue
            if conn.early or conn.pending:  # early: queued after release_early (a driver call)
                self._frame_pending(conn)
            elif now - conn.last_send > PING_INTERVAL_S and not conn.outbuf:
                self._frame_into(conn.outbuf, [])  # keeps the peer's silence timer quiet
            if conn.outbuf:
                self._write(conn)

    def _frame_pending(self, conn: PeerConn) -> None:
        messages = conn.early + conn.pending
        conn.early, conn.pending, conn.pending_bytes = [], [], 0
        conn.waiting.clear()
        self._frame_messages(conn, messages)

    def _frame_messages(self, conn: PeerConn, messages: list[list[Any]]) -> None:
        """Messages into frames of about FRAME_SPLIT_BYTES (the receiver caps frame size)."""
        chunk: list[list[Any]] = []
        chunk_bytes = 0
        for item in messages:
            entries = item[1].get("entries")
            size = sum(len(e[0]) for e in entries) if entries else 0
            if chunk and chunk_bytes + size > FRAME_SPLIT_BYTES:
                self._frame_into(conn.outbuf, chunk)
                chunk, chunk_bytes = [], 0
            chunk.append(item)
            chunk_bytes += size
        if chunk:
            self._frame_into(conn.outbuf, chunk)

    def _write(self, conn: PeerConn) -> None:
        if not conn.outbuf:
            return
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        conn.last_send = self.clock.now()
        del conn.outbuf[:sent]
        if len(conn.outbuf) > MAX_PEER_OUTBUF_BYTES:
            log.warning("peer %s is not reading: closing its connection", conn.peer)
            self._close(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        try:
            self._sel.modify(conn.sock, events, ("peer", conn))
        except (KeyError, ValueError):
            pass
