"""A kraft node process: wiring of store, Raft host, replicas, broker and the client server.

Owns: start-up order (refuse to start on a bad config or a port in use, with a clear message; a
node whose disk is empty waits until its peers' hellos tell whether it founds a new cluster or
rejoins one, ``kraft.node.identity``), the asyncio loop of the client server, and shutdown on
SIGTERM/SIGINT. The Raft driver thread runs from the identity decision on; the replicas are built on
it, since it is the store's one writer from then on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_LATEST

from kraft.config import ClusterConfig
from kraft.console.app import Console
from kraft.console.cluster import ConsoleCluster
from kraft.errors import ConfigError
from kraft.log.entry import READS_KAFKA_SETS
from kraft.log.lmdb_store import LmdbStore
from kraft.node import exposition, health, identity, logs
from kraft.node.batch_format import every_node_reads
from kraft.node.broker import Broker
from kraft.node.cluster_nodes import replicating_nodes
from kraft.node.context import NodeServices
from kraft.node.group_lag import GroupLagSource
from kraft.node.http import HttpServer, Request, Response, Routes
from kraft.node.kafka.server import KafkaServer
from kraft.node.listener import Listener
from kraft.node.metadata_members import initial_members
from kraft.node.metrics import NodeCollector, StoreUsage, registry
from kraft.node.observe import NodeObserver
from kraft.node.replicas import ReplicaManager
from kraft.node.retention import RetentionScheduler
from kraft.node.samples import SampleRing, sample_of
from kraft.node.server import ClientServer
from kraft.node.stats import NodeStats
from kraft.protocol.batch import READS_COLUMNS
from kraft.raft.group import GroupTimers
from kraft.raft.host import RaftHost
from kraft.raft.throttle import LearnerThrottle
from kraft.state.produce_sets import ProduceSets
from kraft.topic_config import LogConfig

log = logging.getLogger("kraft.node")

T = TypeVar("T")
IDENTITY_WAIT_REPORT_S = 5.0  # how often a node waiting for its peers says so
LOOP_BEAT_S = 1.0  # how often the asyncio loop tells the observer it turns (liveness)
CLOSE_CONNECTIONS_S = 5.0  # a stop waits this long for open client connections' requests, then cuts them


class Node:
    def __init__(self, config: ClusterConfig, node_id: int) -> None:
        self.config = config
        self.node_id = node_id
        me = config.node(node_id)
        self.stats = NodeStats()
        self.store = LmdbStore(config.node_data_dir(node_id), fsync=config.fsync == "always",
                               map_size_mb=config.lmdb_map_size_mb)
        self.store.on_commit = self.stats.raft.store_committed
        peers = {n.id: (n.host, n.raft_port) for n in config.nodes.values()}
        try:
            self.host = RaftHost(node_id, (me.host, me.raft_port), peers, self.store,
                                 tick_interval_s=config.tick_interval_ms / 1000,
                                 peer_timeout_s=config.peer_timeout_ms / 1000)
        except OSError as e:
            self.store.close()
            raise ConfigError(f"node {node_id}: cannot listen on raft_port {me.raft_address}: {e.strerror}") from e
        self.host.driver.stats = self.stats.raft
        self.host.reads = (READS_COLUMNS, READS_KAFKA_SETS)  # said in every hello (kraft.node.batch_format)
        timers = GroupTimers(config.heartbeat_interval_ms / 1000, config.election_timeout_min_ms / 1000,
                             config.election_timeout_max_ms / 1000,
                             LearnerThrottle(config.reassignment_throttle_bytes_per_s), stats=self.stats.raft)
        self.broker: Broker | None = None
        own = identity.load(self.store)
        empty = identity.disk_empty(self.store)
        self.store.commit()  # the driver thread writes from here on
        self.host.start()
        try:
            start, hellos = self._decide_start(own, empty)
            self.identity = identity.starting_identity(node_id, start, own, identity.new_disk_id(), hellos)
            if start is identity.Start.NEW_CLUSTER:
                log.info("node %d founds the cluster (empty data directories on nodes %s)", node_id,
                         sorted([node_id, *self.identity.pending]))
            self.replicas = self._on_driver(lambda: self._build_replicas(timers))
        except BaseException:
            self.close()
            raise
        self.broker = Broker(config, node_id, self.host, self.replicas, self.stats.traffic, self.stats.raft)
        self.retention = RetentionScheduler(self.store, lambda: list(self.replicas.partitions.values()),
                                            self._log_config, self.broker.delete_records, self.broker.compact,
                                            config.log_retention_check_interval_ms / 1000,
                                            compact_interval_s=config.log_cleaner_backoff_ms / 1000)
        self.group_lag = GroupLagSource(self.broker, config.group_lag_refresh_ms / 1000)
        services = NodeServices.of(self.broker)
        self.server = ClientServer(services, me.host, me.client_port, config.max_frame_bytes,
                                   config.max_connections, config.max_in_flight_requests,
                                   config.max_connection_buffer_bytes, stats=self.stats.requests)
        self.kafka_server = None if me.kafka_port is None else KafkaServer(
            services, me.host, me.kafka_port, config.max_frame_bytes, config.max_connections,
            config.max_in_flight_requests, config.max_connection_buffer_bytes, self.stats.requests,
            max_fetch_sessions=config.max_fetch_sessions)
        self.observer = NodeObserver(node_id, self.host, self.replicas, self.broker.coordinator, self._listeners,
                                     lambda: StoreUsage(*self.store.usage()), lambda: self.host.last_iteration,
                                     lambda: self.group_lag.current)
        self.http: HttpServer | None = None
        self.samples = SampleRing()  # per-second counters for the console's charts (asyncio loop writes)
        self.console: ConsoleCluster | None = None

    def _listeners(self) -> list[Listener]:
        return [self.server] + ([self.kafka_server] if self.kafka_server is not None else [])

    def routes(self) -> Routes:
        """The HTTP paths this node serves (a console adds its own to them)."""
        collector = NodeCollector(self.observer.snapshot, self.stats, per_partition=self.config.metrics_per_partition)
        metrics_registry = registry(collector)

        def metrics(_request: Request) -> Response:
            return Response(200, exposition.generate(metrics_registry), CONTENT_TYPE_LATEST)

        routes = Routes()
        routes.add("/metrics", metrics)
        routes.add("/health/live", lambda _request: health.live(self.observer.liveness()))
        routes.add("/health/ready", lambda _request: health.ready(self.observer.readiness()))
        me = self.config.node(self.node_id)
        # The console reads the cluster through kraft's own clients, pointed at this node.
        self.console = ConsoleCluster(me.client_address, self.config.http_addresses(), self.samples.rates, self.node_id)
        Console(self.console, read_only=self.config.console_read_only).add_routes(routes)
        return routes

    def _peer_hellos(self) -> dict[int, identity.PeerHello]:
        return {p: identity.PeerHello(h.get("disk"), h.get("cluster"), tuple(h.get("pending") or ()))
                for p, h in list(self.host.peer_hellos.items()) if self.host.is_connected(p)}

    def _decide_start(self, own: identity.NodeIdentity | None,
                      empty: bool) -> tuple[identity.Start, dict[int, identity.PeerHello]]:
        """How this node starts; with an empty disk, wait until enough peers have said hello."""
        waiting_since = reported = time.monotonic()
        metadata_voters, _ = initial_members(self.config.node_ids, self.config.metadata_voters)
        while True:
            peers = self._peer_hellos()
            start = identity.decide_start(self.node_id, own, empty, peers, len(self.config.nodes), metadata_voters)
            if start is identity.Start.REJOIN:
                log.warning("node %d starts with an empty data directory while its cluster exists (peers %s hold "
                            "data): a lost or replaced disk, or a node started after the others formed the "
                            "cluster. It joins every group as a non-voting learner and votes once caught up.",
                            self.node_id, sorted(p for p, h in peers.items() if h.disk_id))
            if start is not identity.Start.WAIT:
                return start, peers
            now = time.monotonic()
            if now - reported >= IDENTITY_WAIT_REPORT_S:
                reported = now
                log.warning("node %d has an empty data directory; waiting %.0fs so far for peers to tell a new "
                            "cluster (a majority answering, all empty, among them a majority of the metadata "
                            "voters %s) from a lost disk (any peer with data): %d of %d other nodes answered (%s)",
                            self.node_id, now - waiting_since, metadata_voters, len(peers),
                            len(self.config.nodes) - 1, sorted(peers))
            time.sleep(0.05)

    def _on_driver(self, build: Callable[[], T]) -> T:
        """Run ``build`` on the Raft driver thread (the store's writer) and return what it returns."""
        done = threading.Event()
        result: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(build())
            except BaseException as e:
                failure.append(e)
            finally:
                done.set()

        self.host.call(run)
        done.wait()
        if failure:
            raise failure[0]
        return result[0]

    def _build_replicas(self, timers: GroupTimers) -> ReplicaManager:
        me = self.config.node(self.node_id)
        self._set_identity(self.identity)
        self.host.on_hello = self._on_peer_hello
        built: list[ReplicaManager] = []

        def sets_readable() -> bool:  # the driver thread, which owns the metadata view
            return bool(built) and every_node_reads(
                self.node_id, replicating_nodes(self.config, built[0].metadata.view),
                self.host.peers_reading(READS_KAFKA_SETS))

        replicas = ReplicaManager(self.node_id, self.host, self.store, timers, self.config.node_ids,
                                  on_appended=self._on_appended,
                                  announce={"id": self.node_id, "host": me.host, "client_port": me.client_port,
                                            "raft_port": me.raft_port, "rack": me.rack, "kafka_port": me.kafka_port,
                                            "http_port": me.http_port},
                                  disk_id=self.identity.disk_id, rejoining=self.identity.rejoining,
                                  on_rejoined=self._rejoined,
                                  leader_balance_interval_s=self.config.leader_balance_interval_ms / 1000,
                                  metadata_voters=self.config.metadata_voters,
                                  metadata_voter_replace_s=self.config.metadata_voter_replace_ms / 1000,
                                  produce_sets=ProduceSets(self.config.max_record_bytes, sets_readable,
                                                           self.stats.raft.joined))
        built.append(replicas)
        self.host.on_loop.append(lambda: self._note_cluster_id(replicas))
        return replicas

    def _set_identity(self, new: identity.NodeIdentity) -> None:
        """Driver thread: persist ``new`` (in this iteration's commit) and say it in hellos."""
        self.identity = new
        identity.save(self.store, new)
        self.host.set_identity(new.disk_id, new.cluster_id, list(new.pending))

    def _on_peer_hello(self, peer: int, hello: dict[str, object]) -> None:
        if hello.get("disk") is not None and peer in self.identity.pending:
            self._set_identity(self.identity.heard(peer))

    def _note_cluster_id(self, replicas: ReplicaManager) -> None:
        """Driver thread: once this node's metadata has the cluster's id, its identity keeps it, so its
        hellos carry it and a node of another cluster is refused (``kraft.raft.host``)."""
        cluster_id = replicas.metadata.view.cluster_id
        if cluster_id is not None and self.identity.cluster_id is None:
            log.info("node %d belongs to cluster %s", self.node_id, cluster_id)
            self._set_identity(identity.with_cluster(self.identity, cluster_id))

    def _rejoined(self) -> None:
        """Driver thread: every group here has promoted this node; new groups start as voters."""
        self._set_identity(identity.NodeIdentity(self.node_id, self.identity.disk_id, self.identity.cluster_id))

    def _log_config(self, topic: str) -> LogConfig | None:
        if self.broker is None or topic not in self.replicas.metadata.view.topics:
            return None
        return self.broker.log_config(topic)

    def _on_appended(self, gids: set[int]) -> None:
        if self.broker is not None:  # the replicas start before the broker exists
            self.broker.on_appended(gids)

    async def serve(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        assert self.broker is not None
        self.broker.bind_loop(loop)
        me = self.config.node(self.node_id)
        try:
            await self.server.start()
        except OSError as e:
            raise ConfigError(f"node {self.node_id}: cannot listen on client_port {me.client_address}: "
                              f"{e.strerror}") from e
        if self.kafka_server is not None:
            try:
                await self.kafka_server.start()
            except OSError as e:
                raise ConfigError(f"node {self.node_id}: cannot listen on kafka_port {me.host}:{me.kafka_port}: "
                                  f"{e.strerror}") from e
        if me.http_port is not None:
            try:
                self.http = HttpServer(me.host, me.http_port, self.routes())
            except OSError as e:
                raise ConfigError(f"node {self.node_id}: cannot listen on http_port {me.http_address}: "
                                  f"{e.strerror}") from e
            self.http.start()
        log.info("node %d serving clients on %s (Kafka protocol on %s), raft on %s, HTTP on %s", self.node_id,
                 me.client_address, me.kafka_port or "no port", me.raft_address, me.http_address or "no port")
        retention = asyncio.create_task(self.retention.run())
        beat = asyncio.create_task(self._beat())
        group_lag = asyncio.create_task(self.group_lag.run())
        await stop.wait()
        await self._stop_serving(retention, beat, group_lag)

    async def _beat(self) -> None:
        while True:
            self.observer.beat()
            self.samples.add(sample_of(self.stats, int(time.time() * 1000)))  # the loop writes those counters
            await asyncio.sleep(LOOP_BEAT_S)

    async def _stop_serving(self, *background: asyncio.Task[None]) -> None:
        """The client side of a stop, one log line per phase: listeners and background tasks first,
        then open connections (their requests get ``CLOSE_CONNECTIONS_S`` to finish)."""
        listeners = self._listeners()
        open_connections = sum(lst.connections for lst in listeners)
        log.info("stopping node %d: closing the client listeners and %d open connections", self.node_id,
                 open_connections)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.broker is not None:
            self.broker.coordinator.stop()
        closing = [asyncio.create_task(lst.close()) for lst in listeners]
        _done, pending = await asyncio.wait(closing, timeout=CLOSE_CONNECTIONS_S)
        if pending:
            log.warning("stopping node %d: client connections still busy after %.0f s; cutting them",
                        self.node_id, CLOSE_CONNECTIONS_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("stopping node %d: client connections closed", self.node_id)

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        if self.console is not None:
            self.console.close()
            self.console = None
        groups = len(self.host.groups)
        log.info("stopping node %d: stopping the Raft driver and its %d groups", self.node_id, groups)
        if self.host.stop():
            self.store.close()  # else the driver may still hold a write transaction: leave it to exit
            log.info("stopped node %d", self.node_id)
        else:
            log.warning("stopping node %d: the Raft driver did not stop in time; exiting without closing the store "
                        "(committed data is safe: LMDB commits are atomic)", self.node_id)


def run_node(config: ClusterConfig, node_id: int) -> None:
    """Run one node in the foreground until SIGTERM/SIGINT."""
    logs.configure(config.log_format)
    node = Node(config, node_id)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await node.serve(stop)

    try:
        asyncio.run(main())
    finally:
        node.close()
