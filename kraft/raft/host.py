"""The Raft host of a node: one driver thread, one port, one connection per node pair, every group.

Owns: the listening socket for Raft traffic, a connection to every peer (the lower node id dials the
higher), the driver loop, and its order of work, which is what makes acknowledgements durable:

    poll sockets -> deliver messages to groups -> tick groups -> run driver calls
    -> commit LMDB (one fsync for every group) -> release acks -> flush sends

Nothing a group queued to send leaves before the journal writes it acknowledges are committed.
Frames are a 4-byte length and msgpack ``[[gid, message], ...]``: every group's messages to a peer
in one loop iteration go out in one frame (heartbeats coalesced). The first frame on a connection is
``{"hello": node_id}``.
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
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack

from kraft.log.store import LogStore
from kraft.raft.faults import NetworkFaults
from kraft.raft.group import RaftGroup
from kraft.raft.transport import MuxTransport

log = logging.getLogger(__name__)

LEN = struct.Struct(">I")
MAX_PEER_FRAME_BYTES = 64 * 1024 * 1024
FRAME_SPLIT_BYTES = 4 * 1024 * 1024  # a flush cuts a peer's pending messages into frames of about this
PEER_QUEUE_HIGH_BYTES = 32 * 1024 * 1024  # groups stop queueing entries to a peer above this (backpressure)
MAX_PEER_OUTBUF_BYTES = 512 * 1024 * 1024  # last resort: a peer this far behind is cut off
PING_INTERVAL_S = 0.5
DIAL_INTERVAL_S = 0.25
DIAL_TIMEOUT_S = 2.0
FOLLOWER_TICK_EVERY = 3  # full ticks
FAIL_STOP_EXIT_CODE = 70


class PeerConn:
    """One TCP connection to a peer node, with its read and write buffers."""

    def __init__(self, sock: socket.socket, peer: int | None, dialing: bool) -> None:
        self.sock = sock
        self.peer = peer
        self.dialing = dialing  # non-blocking connect still in progress
        self.ready = False  # hello exchanged (dialer: connected and hello queued)
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.pending: list[list[Any]] = []  # [gid, msg] queued this loop iteration
        self.pending_bytes = 0  # entry bytes in pending (what backpressure counts)
        now = time.monotonic()
        self.dial_started = now
        self.last_recv = now
        self.last_send = now


class RaftHost:
    def __init__(
        self,
        node_id: int,
        bind: tuple[str, int],
        peers: dict[int, tuple[str, int]],
        store: LogStore,
        *,
        tick_interval_s: float = 0.1,
        peer_timeout_s: float = 5.0,
    ) -> None:
        self.node_id = node_id
        self.bind = bind
        self.peer_addrs = {p: a for p, a in peers.items() if p != node_id}
        self.store = store
        self.tick_interval_s = tick_interval_s
        self.peer_timeout_s = peer_timeout_s
        self.groups: dict[int, RaftGroup] = {}
        self.transports: dict[int, MuxTransport] = {}
        self.conns: dict[int, PeerConn] = {}
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._woken: set[int] = set()
        self._calls: deque[Callable[[], None]] = deque()
        self._after_commit: list[Callable[[], None]] = []
        self._pipe_r, self._pipe_w = os.pipe()
        os.set_blocking(self._pipe_r, False)
        os.set_blocking(self._pipe_w, False)
        self._signalled = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._driver_ident = threading.get_ident()  # the constructing thread until the driver starts
        self._next_full_tick = 0.0
        self._full_ticks = 0
        self._next_dial = 0.0
        self._dirty: set[int] = set()
        self.on_loop: list[Callable[[], None]] = []  # driver-thread hooks, run every iteration
        self.faults: NetworkFaults | None = None  # test-only network faults (KRAFT_FAULTS=1)
        self._delayed: deque[tuple[float, PeerConn, Any]] = deque()  # frames held by a delay fault
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

    # --- API for other threads ------------------------------------------------------------------
    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the driver thread, in the next loop iteration."""
        with self._lock:
            self._calls.append(fn)
        self._signal()

    def wake(self, gid: int) -> None:
        with self._lock:
            self._woken.add(gid)
        self._signal()

    def _signal(self) -> None:
        if not self._signalled:
            self._signalled = True
            try:
                os.write(self._pipe_w, b"x")
            except BlockingIOError:
                pass

    # --- API for the driver thread --------------------------------------------------------------
    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once what this loop iteration wrote is committed (and synced)."""
        if threading.get_ident() == self._driver_ident:
            self._after_commit.append(fn)
        else:  # e.g. pysyncobj failing a submit at once (queue full) on the caller's thread
            self.call(lambda: self._after_commit.append(fn))

    def can_queue(self, peer: int) -> bool:
        """Whether a group may queue more log entries to ``peer`` (heartbeats always may)."""
        conn = self.conns.get(peer)
        return conn is not None and conn.ready and len(conn.outbuf) + conn.pending_bytes < PEER_QUEUE_HIGH_BYTES

    def set_faults(self, faults: NetworkFaults | None) -> None:
        """Driver thread. A blocked peer is disconnected and neither dialled nor accepted until
        unblocked: a network partition as the groups see it."""
        self.faults = faults
        for peer in list(self.conns) if faults is not None else []:
            if peer in faults.blocked:
                self._close(self.conns[peer])

    def _blocked(self, peer: int | None) -> bool:
        return self.faults is not None and peer in self.faults.blocked

    def is_connected(self, peer: int) -> bool:
        conn = self.conns.get(peer)
        return conn is not None and conn.ready

    def connected_peers(self) -> dict[int, bool]:
        return {p: self.is_connected(p) for p in self.peer_addrs}

    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0) -> None:
        conn = self.conns.get(peer)
        if conn is not None and conn.ready:
            conn.pending.append([gid, message])
            conn.pending_bytes += size_hint

    def add_group(self, gid: int, build: Callable[[Callable[..., MuxTransport]], RaftGroup]) -> RaftGroup:
        """Create a group; ``build(transport_factory)`` constructs the RaftGroup."""

        def factory(sync_obj: Any, self_node: Any, other_nodes: Any) -> MuxTransport:
            t = MuxTransport(self, gid, sync_obj, self_node, other_nodes)
            self.transports[gid] = t
            return t

        group = build(factory)
        self.groups[gid] = group
        transport = self.transports[gid]
        for peer in transport.nodes:
            if self.is_connected(peer):
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

    # --- the driver loop ------------------------------------------------------------------------
    def _run(self) -> None:
        self._driver_ident = threading.get_ident()
        while self._running:
            try:
                self._iteration()
            except BaseException:
                # Fail-stop. Groups' in-memory Raft state (terms, votes, journal tails, commit
                # indexes) is already ahead of what LMDB holds after an abort, and replies queued
                # this iteration acknowledge writes that were not committed. Continuing could ack
                # lost writes; a restart reloads the truth from disk.
                log.critical("raft driver failed; stopping the node", exc_info=True)
                logging.shutdown()
                os._exit(FAIL_STOP_EXIT_CODE)
        self._shutdown()

    def _iteration(self) -> None:
        now = time.monotonic()
        busy = bool(self._dirty or self._calls or self._woken)
        wake_at = min(self._next_full_tick, self._next_dial, self._delayed[0][0] if self._delayed else now + 1)
        timeout = 0.0 if busy else max(0.0, wake_at - now)
        for key, mask in self._sel.select(timeout):
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
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, conn, frame = self._delayed.popleft()
            if conn.sock.fileno() >= 0:
                self._deliver(conn, frame)
        with self._lock:
            calls, self._calls = self._calls, deque()
            self._dirty |= self._woken
            self._woken = set()
            self._signalled = False
        for fn in calls:
            try:
                fn()
            except Exception:
                log.exception("driver call failed")
        if now >= self._next_dial:
            self._next_dial = now + DIAL_INTERVAL_S
            self._dial_missing()
            self._check_peer_timeouts(now)
        if now >= self._next_full_tick:
            self._next_full_tick = now + self.tick_interval_s
            self._full_ticks += 1
            if self._full_ticks % FOLLOWER_TICK_EVERY == 0:
                to_tick = list(self.groups)
            else:
                # Leaders owe heartbeats every tick; an idle follower only checks its election
                # deadline, for which every third tick is precise enough (timeouts are seconds).
                to_tick = [gid for gid, g in self.groups.items() if gid in self._dirty or g.is_leader()]
        else:
            to_tick = list(self._dirty)
        self._dirty = set()  # ticks below may mark groups again for the next iteration
        for gid in to_tick:
            group = self.groups.get(gid)
            if group is None:
                continue
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
        self.store.commit()
        acks, self._after_commit = self._after_commit, []
        for fn in acks:
            try:
                fn()
            except Exception:
                log.exception("after-commit callback failed")
        self._flush(now)

    def _shutdown(self) -> None:
        self.store.commit()
        for gid in list(self.groups):
            self.remove_group(gid)
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
        now = time.monotonic()
        for peer, addr in self.peer_addrs.items():
            conn = self.conns.get(peer)
            if conn is not None and conn.dialing and now - conn.dial_started > DIAL_TIMEOUT_S:
                self._close(conn, notify=False)  # a SYN into a silent network: try again
            if peer < self.node_id or peer in self.conns or self._blocked(peer):
                continue  # the lower id dials; the higher one waits for it
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
            conn = PeerConn(sock, peer, dialing=True)
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
        conn.outbuf += self._frame({"hello": self.node_id})
        self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, ("peer", conn))
        self._mark_ready(conn)

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
            conn = PeerConn(sock, None, dialing=False)
            self._sel.register(sock, selectors.EVENT_READ, ("peer", conn))

    def _mark_ready(self, conn: PeerConn) -> None:
        conn.ready = True
        assert conn.peer is not None
        for transport in list(self.transports.values()):
            transport.peer_connected(conn.peer)
        for gid in self.groups:
            self._dirty.add(gid)

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
                for transport in list(self.transports.values()):
                    transport.peer_disconnected(conn.peer)

    def _check_peer_timeouts(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if conn.ready and now - conn.last_recv > self.peer_timeout_s:
                log.warning("peer %s silent for %.1fs: closing its connection", conn.peer, now - conn.last_recv)
                self._close(conn)

    # --- bytes in -------------------------------------------------------------------------------
    def _read(self, conn: PeerConn) -> None:
        try:
            data = conn.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.last_recv = time.monotonic()
        conn.inbuf += data
        pos = 0
        buf = conn.inbuf
        try:
            while len(buf) - pos >= 4:
                (size,) = LEN.unpack_from(buf, pos)
                if size > MAX_PEER_FRAME_BYTES:
                    raise ValueError(f"peer frame of {size} bytes")
                if len(buf) - pos - 4 < size:
                    break
                frame = msgpack.unpackb(bytes(buf[pos + 4 : pos + 4 + size]), raw=False, strict_map_key=False)
                pos += 4 + size
                self._on_frame(conn, frame)
                if conn.sock.fileno() < 0:
                    return
        except Exception:
            log.exception("bad frame from peer %s: closing", conn.peer)
            self._close(conn)
            return
        del buf[:pos]

    def _on_frame(self, conn: PeerConn, frame: Any) -> None:
        if conn.peer is None:
            peer = frame.get("hello") if isinstance(frame, dict) else None
            if not isinstance(peer, int) or peer not in self.peer_addrs or self._blocked(peer):
                log.warning("connection from unknown or blocked node %r: closing", peer)
                self._close(conn, notify=False)
                return
            old = self.conns.get(peer)
            if old is not None:
                self._close(old)
            conn.peer = peer
            self.conns[peer] = conn
            self._mark_ready(conn)
            return
        if self.faults is not None and self.faults.delay_s:
            # The same delay for every frame keeps each peer's order, as one slow TCP link would.
            self._delayed.append((time.monotonic() + self.faults.delay_s, conn, frame))
            return
        self._deliver(conn, frame)

    def _deliver(self, conn: PeerConn, frame: Any) -> None:
        for gid, message in frame:
            transport = self.transports.get(gid)
            if transport is None:
                continue  # this node does not host that group (yet): the leader retries
            for _ in range(1 if self.faults is None else self.faults.copies()):
                try:
                    transport.deliver(conn.peer, message)
                except Exception:
                    log.exception("group %d failed on a message from %s", gid, conn.peer)
            self._dirty.add(gid)

    # --- bytes out ------------------------------------------------------------------------------
    @staticmethod
    def _frame(obj: Any) -> bytes:
        body = msgpack.packb(obj, use_bin_type=True)
        return LEN.pack(len(body)) + body

    def _flush(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if not conn.ready:
                continue
            if conn.pending:
                self._frame_pending(conn)
            elif now - conn.last_send > PING_INTERVAL_S and not conn.outbuf:
                conn.outbuf += self._frame([])  # keeps the peer's silence timer quiet
            if conn.outbuf:
                self._write(conn)

    def _frame_pending(self, conn: PeerConn) -> None:
        """Pending messages into frames of about FRAME_SPLIT_BYTES (the receiver caps frame size)."""
        pending, conn.pending, conn.pending_bytes = conn.pending, [], 0
        chunk: list[list[Any]] = []
        chunk_bytes = 0
        for item in pending:
            entries = item[1].get("entries")
            size = sum(len(e[0]) for e in entries) if entries else 0
            if chunk and chunk_bytes + size > FRAME_SPLIT_BYTES:
                conn.outbuf += self._frame(chunk)
                chunk, chunk_bytes = [], 0
            chunk.append(item)
            chunk_bytes += size
        if chunk:
            conn.outbuf += self._frame(chunk)

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
        conn.last_send = time.monotonic()
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
