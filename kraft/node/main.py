"""A kraft node process: wiring of store, Raft host, replicas, broker and the client server.

Owns: start-up order (refuse to start on a bad config or a port in use, with a clear message),
the asyncio loop of the client server, and shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from kraft.config import ClusterConfig
from kraft.errors import ConfigError
from kraft.log.lmdb_store import LmdbStore
from kraft.node.broker import Broker
from kraft.node.context import NodeServices
from kraft.node.kafka.server import KafkaServer
from kraft.node.replicas import ReplicaManager
from kraft.node.retention import RetentionScheduler
from kraft.node.server import ClientServer
from kraft.raft.group import GroupTimers
from kraft.raft.host import RaftHost
from kraft.topic_config import LogConfig

log = logging.getLogger("kraft.node")


class Node:
    def __init__(self, config: ClusterConfig, node_id: int) -> None:
        self.config = config
        self.node_id = node_id
        me = config.node(node_id)
        self.store = LmdbStore(config.node_data_dir(node_id), fsync=config.fsync == "always",
                               map_size_mb=config.lmdb_map_size_mb)
        peers = {n.id: (n.host, n.raft_port) for n in config.nodes.values()}
        try:
            self.host = RaftHost(node_id, (me.host, me.raft_port), peers, self.store,
                                 tick_interval_s=config.tick_interval_ms / 1000,
                                 peer_timeout_s=config.peer_timeout_ms / 1000)
        except OSError as e:
            self.store.close()
            raise ConfigError(f"node {node_id}: cannot listen on raft_port {me.raft_address}: {e.strerror}") from e
        timers = GroupTimers(config.heartbeat_interval_ms / 1000, config.election_timeout_min_ms / 1000,
                             config.election_timeout_max_ms / 1000)
        self.broker: Broker | None = None
        self.replicas = ReplicaManager(node_id, self.host, self.store, timers, config.node_ids,
                                       on_appended=self._on_appended,
                                       announce={"id": node_id, "host": me.host, "client_port": me.client_port,
                                                 "raft_port": me.raft_port, "rack": me.rack,
                                                 "kafka_port": me.kafka_port})
        self.store.commit()
        self.broker = Broker(config, node_id, self.host, self.replicas)
        self.retention = RetentionScheduler(self.store, lambda: list(self.replicas.partitions.values()),
                                            self._log_config, self.broker.delete_records, self.broker.compact,
                                            config.log_retention_check_interval_ms / 1000)
        services = NodeServices.of(self.broker)
        self.server = ClientServer(services, me.host, me.client_port, config.max_frame_bytes,
                                   config.max_connections, config.max_in_flight_requests,
                                   config.max_connection_buffer_bytes)
        self.kafka_server = None if me.kafka_port is None else KafkaServer(
            services, me.host, me.kafka_port, config.max_frame_bytes, config.max_connections,
            config.max_in_flight_requests, config.max_connection_buffer_bytes)

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
        self.host.start()
        log.info("node %d serving clients on %s (Kafka protocol on %s), raft on %s", self.node_id,
                 me.client_address, me.kafka_port or "no port", me.raft_address)
        retention = asyncio.create_task(self.retention.run())
        await stop.wait()
        retention.cancel()
        await self.server.close()
        if self.kafka_server is not None:
            await self.kafka_server.close()

    def close(self) -> None:
        if self.host.stop():
            self.store.close()  # else the driver may still hold a write transaction: leave it to exit


def run_node(config: ClusterConfig, node_id: int) -> None:
    """Run one node in the foreground until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
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
