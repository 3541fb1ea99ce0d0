"""What every client object shares: the event-loop thread, connections, metadata, retries.

One :class:`ClientCore` per Admin/Producer/Consumer. It runs an asyncio loop on one background
thread; public (synchronous) calls cross into it with :meth:`ClientCore.run`. On the loop side it
keeps one :class:`~kraft.apis.connection.Connection` per node address, an immutable
:class:`ClusterMetadata` snapshot (replaced whole on refresh, so any thread may read it), and
:meth:`ClientCore.retrying` — the one retry policy: retriable errors refresh metadata and back off
until a deadline, anything else is raised as its typed kraft error.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kraft.errors import (
    KraftConnectionError,
    KraftError,
    LeaderNotAvailable,
    RequestTimedOut,
    error_for_code,
)
from kraft.protocol.frames import DEFAULT_MAX_FRAME_BYTES

from .connection import Connection

T = TypeVar("T")
ANY_NODE_TIMEOUT_MIN_MS = 1000  # a request any node can answer moves on from a silent one after this
Address = tuple[str, int]


def parse_bootstrap(bootstrap: str | list[str] | tuple[str, ...]) -> list[Address]:
    """``"host:port[,host:port]"`` (or a list of ``host:port``) as ``[(host, port)]``."""
    items = bootstrap.split(",") if isinstance(bootstrap, str) else list(bootstrap)
    out: list[Address] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"bootstrap address {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("bootstrap list is empty")
    return out


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None
    http_port: int | None = None  # its HTTP listener (absent in answers of nodes from before it was said)


@dataclass(frozen=True, slots=True)
class PartitionMeta:
    partition: int
    leader: int | None
    replicas: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicMeta:
    name: str
    partitions: tuple[PartitionMeta, ...]  # index == partition number


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    """One answer of the ``metadata`` API, as an immutable snapshot."""

    nodes: dict[int, NodeInfo] = field(default_factory=dict)
    controller: int | None = None
    topics: dict[str, TopicMeta] = field(default_factory=dict)
    fetched_at: float = float("-inf")  # time.monotonic()
    cluster_id: str | None = None  # None before a new cluster has its id (or from a node of before ids)
    metadata_voters: tuple[int, ...] = ()  # the metadata group's, as the answering node knows it
    metadata_learners: tuple[int, ...] = ()
    # The cluster's batch_format is "columns" (kraft.protocol.batch): producers write record batches
    # in columns; else (rows, or a node from before columns, which does not say) in rows.
    columns: bool = False

    def leader_for(self, topic: str, partition: int) -> int | None:
        meta = self.topics.get(topic)
        if meta is None or not 0 <= partition < len(meta.partitions):
            return None
        return meta.partitions[partition].leader

    def partition_count(self, topic: str) -> int | None:
        meta = self.topics.get(topic)
        return len(meta.partitions) if meta is not None else None

    @classmethod
    def from_response(cls, body: dict[str, Any], now: float) -> ClusterMetadata:
        try:
            nodes = {
                n["id"]: NodeInfo(n["id"], n["host"], n["port"], n.get("rack"), _port_or_none(n.get("http_port")))
                for n in body["nodes"]
            }
            topics = {}
            for t in body["topics"]:
                if t.get("error_code", 0) != 0:
                    continue
                parts = sorted(
                    (PartitionMeta(p["partition"], p.get("leader"), tuple(p.get("replicas") or ()))
                     for p in t["partitions"]),
                    key=lambda p: p.partition,
                )
                if [p.partition for p in parts] != list(range(len(parts))):
                    continue  # partitions not dense: an inconsistent answer, wait for the next one
                topics[t["name"]] = TopicMeta(t["name"], tuple(parts))
        except (KeyError, TypeError, AttributeError) as exc:
            raise KraftError(f"malformed metadata response: {exc!r}") from None
        cluster_id = body.get("cluster_id")
        return cls(nodes, body.get("controller"), topics, now, cluster_id if isinstance(cluster_id, str) else None,
                   _ids(body.get("metadata_voters")), _ids(body.get("metadata_learners")),
                   body.get("batch_format") == "columns")


def _port_or_none(value: object) -> int | None:
    """A port from an answer: absent (nodes of before it was said), null, or not a port: none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536 else None


def _ids(value: object) -> tuple[int, ...]:
    """A list of node ids from an answer (absent from nodes of before ``metadata_voters``: none)."""
    if not isinstance(value, list):
        return ()
    return tuple(sorted(v for v in value if isinstance(v, int)))


class ClientCore:
    """Loop thread + connections + metadata cache for one client object."""

    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        request_timeout_ms: int = 30000,
        connect_timeout_ms: int = 10000,
        metadata_max_age_ms: int = 30000,
        retry_backoff_ms: int = 50,
        retry_backoff_max_ms: int = 1000,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        name: str = "kraft-client",
    ) -> None:
        self.bootstrap = parse_bootstrap(bootstrap)
        self.request_timeout_ms = request_timeout_ms
        self.connect_timeout_ms = connect_timeout_ms
        self.metadata_max_age_ms = metadata_max_age_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.retry_backoff_max_ms = retry_backoff_max_ms
        self.max_frame_bytes = max_frame_bytes
        self.metadata = ClusterMetadata()
        self._rng = random.Random()
        self._conns: dict[Address, Connection] = {}
        self._opening: dict[Address, asyncio.Future[Connection]] = {}
        self._refreshing: asyncio.Future[ClusterMetadata] | None = None
        self._closed = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name=name, daemon=True)
        self._thread.start()

    # --- crossing the thread boundary -------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the loop; the caller gets a concurrent Future."""
        if self._closed:
            coro.close()
            raise RuntimeError("client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("ClientCore.run called from its own loop thread")
        return self.submit(coro).result(timeout_s)

    def call_soon(self, fn: Callable[..., object], *args: object) -> None:
        if not self._closed:
            self.loop.call_soon_threadsafe(fn, *args)

    def close(self) -> None:
        """Close every connection and stop the loop thread. Idempotent."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self.run(self._close_connections(), timeout_s=5)
        self._closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
            if not self.loop.is_running():
                self.loop.close()

    async def _close_connections(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)

    # --- loop side: connections and requests ------------------------------------------------------

    async def connection(self, address: Address) -> Connection:
        """The open connection to ``address``, opening it (once, even if asked concurrently)."""
        conn = self._conns.get(address)
        if conn is not None and not conn.closed:
            return conn
        opening = self._opening.get(address)
        if opening is None:
            opening = asyncio.ensure_future(
                Connection.open(
                    *address, connect_timeout_ms=self.connect_timeout_ms, max_frame_bytes=self.max_frame_bytes
                )
            )
            self._opening[address] = opening
            opening.add_done_callback(lambda fut: self._opened(address, fut))
        # shield: one caller giving up must not cancel the open the others wait for.
        return await asyncio.shield(opening)

    def _opened(self, address: Address, fut: asyncio.Future[Connection]) -> None:
        self._opening.pop(address, None)
        if fut.cancelled() or fut.exception() is not None:
            return
        conn = fut.result()
        if self._closed:
            conn.close()
        else:
            self._conns[address] = conn

    def node_address(self, node_id: int) -> Address:
        node = self.metadata.nodes.get(node_id)
        if node is None:
            raise LeaderNotAvailable(f"node {node_id} is not in the cluster metadata")
        return node.host, node.port

    async def request(
        self, address: Address, api: str, body: dict[str, Any], timeout_ms: float | None = None
    ) -> dict[str, Any]:
        """One request to ``address``; a non-zero frame error_code is raised as its kraft error."""
        conn = await self.connection(address)
        code, answer = await conn.request(api, body, timeout_ms or self.request_timeout_ms)
        if code != 0:
            raise _error_from(code, answer)
        return answer

    async def request_node(
        self, node_id: int, api: str, body: dict[str, Any], timeout_ms: float | None = None
    ) -> dict[str, Any]:
        return await self.request(self.node_address(node_id), api, body, timeout_ms)

    async def request_any(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """Ask known nodes, then the bootstrap list, until one answers. Connection errors and
        silence skip on: a paused node accepts connections but never answers, and any node can
        answer what this is used for (metadata), so each gets a share of the request timeout."""
        known = [(n.host, n.port) for n in self.metadata.nodes.values()]
        self._rng.shuffle(known)
        candidates = list(dict.fromkeys([*known, *self.bootstrap]))
        per_node_ms = max(ANY_NODE_TIMEOUT_MIN_MS, self.request_timeout_ms / max(1, len(candidates)))
        last: KraftError = KraftConnectionError("no node address to try")
        for address in candidates:
            try:
                return await self.request(address, api, body, timeout_ms=per_node_ms)
            except (KraftConnectionError, RequestTimedOut) as exc:
                last = exc
        raise last

    # --- loop side: metadata ----------------------------------------------------------------------

    async def refresh_metadata(self) -> ClusterMetadata:
        """Fetch fresh metadata (all topics); concurrent callers share one request."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._fetch_metadata())
            self._refreshing.add_done_callback(self._refresh_done)
        return await asyncio.shield(self._refreshing)

    def _refresh_done(self, fut: asyncio.Future[ClusterMetadata]) -> None:
        self._refreshing = None
        if not fut.cancelled():
            fut.exception()  # mark retrieved: a failed background refresh is not an error to log

    def request_refresh(self) -> None:
        """Start a metadata refresh in the background (loop thread only)."""
        if self._refreshing is None and not self._closed:
            self._refreshing = asyncio.ensure_future(self._fetch_metadata())
            self._refreshing.add_done_callback(self._refresh_done)

    async def _fetch_metadata(self) -> ClusterMetadata:
        body = await self.request_any("metadata", {"topics": None})
        self.metadata = ClusterMetadata.from_response(body, time.monotonic())
        return self.metadata

    def metadata_is_stale(self) -> bool:
        return (time.monotonic() - self.metadata.fetched_at) * 1000 > self.metadata_max_age_ms

    async def fresh_metadata(self) -> ClusterMetadata:
        """The cached metadata, refreshed first if older than ``metadata_max_age_ms``."""
        if self.metadata_is_stale():
            await self.refresh_metadata()
        return self.metadata

    # --- loop side: retry policy ------------------------------------------------------------------

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter, ``retry_backoff_ms`` doubling up to the max."""
        base = min(self.retry_backoff_max_ms, self.retry_backoff_ms * (2 ** max(0, attempt - 1)))
        return base * self._rng.uniform(0.8, 1.2) / 1000

    async def retrying(
        self,
        op: Callable[[], Awaitable[T]],
        timeout_ms: float | None = None,
        final: tuple[type[KraftError], ...] = (),
    ) -> T:
        """Run ``op`` until it succeeds, a non-retriable error (or one of ``final``), or
        ``timeout_ms`` (default: ``request_timeout_ms``) runs out; then the last error is raised."""
        deadline = time.monotonic() + (timeout_ms or self.request_timeout_ms) / 1000
        attempt = 0
        while True:
            try:
                return await op()
            except KraftError as exc:
                attempt += 1
                delay = self.backoff_s(attempt)
                if not exc.retriable or isinstance(exc, final) or time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                with contextlib.suppress(KraftError):
                    await self.refresh_metadata()


def _error_from(code: int, body: dict[str, Any]) -> KraftError:
    message = body.get("message", "") if isinstance(body, dict) else ""
    details = {k: v for k, v in body.items() if k != "message"} if isinstance(body, dict) else {}
    return error_for_code(code, str(message), **details)


def error_from_result(result: dict[str, Any]) -> KraftError | None:
    """The error of one per-partition result (``error_code`` + ``message``), or None on success."""
    code = result.get("error_code", 0)
    if not code:
        return None
    return error_for_code(code, str(result.get("message") or ""))


__all__ = [
    "ClientCore",
    "ClusterMetadata",
    "NodeInfo",
    "PartitionMeta",
    "TopicMeta",
    "error_from_result",
    "parse_bootstrap",
]
