"""An in-process kraft cluster built from the real parts, for client tests (kraft's and yours)::

    with InProcessCluster(nodes=3) as cluster:
        cluster.create_topic("orders", partitions=6)
        producer = Producer(cluster.bootstrap)
        ...
        cluster.fail_next("produce", "orders", 0)          # NOT_LEADER_OR_FOLLOWER once
        cluster.set_leader("orders", 0, 2)                  # a real leadership transfer
        cluster.drop_next_answer("produce")                 # append, but lose the answer
        cluster.delete_records("orders", 0, 100)            # the log starts at 100 on every replica

What it is: ``nodes`` real nodes in this process — each the real ``ClientServer`` (native protocol,
on its own 127.0.0.1 port, so clients are real clients over TCP), handlers, ``Broker``, group
coordinator, ``ReplicaManager``, Raft groups and state machines, on a ``MemoryStore``. Their Raft
groups talk over an in-memory network driven by one thread on the real clock
(``kraft.testing.memory_raft``), with short timers (heartbeats every 50 ms, elections after
300-600 ms) so leaders settle fast. Every rule a client meets is the node's own: topic names and
defaults, placement, leaders and their hand-back to the preferred replica, commits by a majority,
idempotent producers (ids, sequences, retries of recent batches), fetch budgets and long polls,
offsets by timestamp, consumer groups (rounds, generations, commits), errors and their codes.

What it is not: durable (memory only), a Kafka-protocol listener (native protocol only), or the
TCP Raft transport (no peer sockets, peer timeouts or backpressure: ``tests/cluster`` and
``kraft.testing.local_cluster`` run real node processes for that); one Python process, so never a
measure of speed. Faults are test-only hooks: a request or its answer failed or lost in front of the
real handler dispatch (``fail_next``, ``fail_next_request``, ``drop_next``, ``drop_next_answer``),
client connections cut, a node crashed and restarted from its store (``node_down``/``node_up``), and
a partition left without a leader by cutting its group's messages (``set_leader(..., None)``).

Control methods may be called from any thread except the cluster's own; each waits until what it
did is visible to clients (a created topic has its leaders, a moved leader is known by every node).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from kraft.config import BatchFormat, ClusterConfig, NodeConfig
from kraft.errors import (
    GroupIdNotFound,
    KraftError,
    LeaderNotAvailable,
    NotLeader,
    UnknownTopicOrPartition,
    error_for_code,
)
from kraft.log.memory_store import MemoryStore
from kraft.node.broker import Broker
from kraft.node.context import HandlerContext, NodeServices
from kraft.node.replicas import ReplicaManager
from kraft.node.server import ClientServer
from kraft.protocol.batch import BatchHeader, decode_batch, encode_batch, verify_batch
from kraft.protocol.frames import DEFAULT_MAX_FRAME_BYTES
from kraft.raft.group import GroupTimers
from kraft.raft.outbox import Applied, Outcome
from kraft.raft.throttle import LearnerThrottle
from kraft.state.metadata import METADATA_GID, encode_command
from kraft.state.produce_sets import ProduceSets
from kraft.testing.memory_raft import MemoryHost, MemoryNetwork
from kraft.testing.request_faults import RequestFaults

T = TypeVar("T")
Record = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]

# cluster.ini keys whose in-process defaults differ from a node's: fast elections and ticks.
IN_PROCESS_DEFAULTS = {
    "heartbeat_interval_ms": 50,
    "election_timeout_min_ms": 300,
    "election_timeout_max_ms": 600,
    "tick_interval_ms": 10,
}
SETTLE_TIMEOUT_S = 10.0  # how long a control method waits for the cluster to show what it did
POLL_S = 0.002
PUSH_EVERY_S = 0.1  # how often a waiting control method asks Raft again (a transfer, an election)
APPEND_TIMEOUT_MS = 5000

class _Server(ClientServer):
    """The real ClientServer, keeping its connections so that a test can cut them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writers: set[asyncio.StreamWriter] = set()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await super().serve_connection(reader, writer)
        finally:
            self.writers.discard(writer)

    def abort_connections(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()


@dataclass
class _Node:
    node_id: int
    port: int
    store: MemoryStore
    host: MemoryHost
    replicas: ReplicaManager
    broker: Broker
    server: _Server


@dataclass(frozen=True)
class _Replica:
    """One replica of a group as its node sees it (read on the Raft thread)."""

    node_id: int
    term: int
    leader: int | None
    leads: bool
    ready: bool


def _leader_of(replicas: list[_Replica]) -> int | None:
    """The leader of the newest term any replica is in, if that replica leads it."""
    if not replicas:
        return None
    term = max(r.term for r in replicas)
    return next((r.node_id for r in replicas if r.leads and r.term == term), None)


def _settled_on(replicas: list[_Replica], node_id: int) -> bool:
    """``node_id`` leads, has applied its predecessors' entries, and every replica follows it."""
    mine = next((r for r in replicas if r.node_id == node_id), None)
    return (mine is not None and mine.leads and mine.ready
            and all(r.term == mine.term and r.leader == node_id for r in replicas))


def _listening_socket(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class InProcessCluster:
    """``nodes`` real nodes (ids 1..n) in this process. ``start()`` or use as a context manager.

    ``default_partitions`` and ``default_replication_factor`` are the cluster's defaults for new
    topics (the replication factor is capped at the number of nodes, as cluster.ini's is);
    ``max_record_bytes`` (None: a node's default) and ``max_frame_bytes`` are the nodes' limits;
    ``batch_format`` is the record batch layout the cluster tells producers to write. Any other
    integer key of cluster.ini's ``[cluster]`` section may be given, e.g.
    ``group_initial_rebalance_delay_ms=100``.
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        default_partitions: int = 1,
        default_replication_factor: int = 3,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        host: str = "127.0.0.1",
        max_record_bytes: int | None = None,
        batch_format: BatchFormat = "columns",
        **cluster_config: int | bool,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        settable = {f.name for f in dataclasses.fields(ClusterConfig) if f.type in ("int", "bool")}
        settable -= {"replication_factor", "partitions", "max_record_bytes", "max_frame_bytes"}
        unknown = sorted(set(cluster_config) - settable)
        if unknown:
            raise TypeError(f"unknown cluster settings {unknown}; known: {sorted(settable)}")
        self.host = host
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self.max_frame_bytes = max_frame_bytes
        self.max_record_bytes = max_record_bytes
        self.batch_format: BatchFormat = batch_format
        self._settings = {**IN_PROCESS_DEFAULTS, **cluster_config}
        self._ids = list(range(1, nodes + 1))
        self._ports: dict[int, int] = {}
        self._nodes: dict[int, _Node] = {}  # running nodes
        self._stores: dict[int, MemoryStore] = {}  # every node's tables, kept across node_down/node_up
        self.faults = RequestFaults()
        self.requests = self.faults.requests
        self.commits = self.faults.commits
        self.config: ClusterConfig | None = None
        self._network: MemoryNetwork | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._append_leaders: dict[tuple[str, int], int] = {}

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> InProcessCluster:
        if self._loop is not None:
            raise RuntimeError("the cluster was started already")
        socks = {i: _listening_socket(self.host) for i in self._ids}
        self._ports = {i: s.getsockname()[1] for i, s in socks.items()}
        try:
            self.config = self._make_config()
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._loop.run_forever, name="kraft-in-process-loop",
                                                 daemon=True)
            self._loop_thread.start()
            self._network = MemoryNetwork(self.config.tick_interval_ms / 1000)
            self._network.start()
            self._stores = {i: MemoryStore(fsync=False) for i in self._ids}
            self._boot(socks)  # every node in one pass: none elects a leader before the others exist
            self._settle(METADATA_GID, self._ids[0], self._controller_known)
            self._wait(lambda: all(n.replicas.metadata.view.cluster_id for n in self._nodes.values()),
                       "the cluster's id on every node")
        except BaseException:
            for sock in socks.values():
                sock.close()
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node, the Raft thread and the loop; raises if the Raft thread had failed."""
        if self._loop is None or self._loop_thread is None:
            return
        loop = self._loop
        if loop.is_running():
            self._on_loop(self._close_servers(list(self._nodes.values())))
        if self._network is not None:
            self._network.stop()
        self._nodes.clear()
        if loop.is_running():
            self._on_loop(_cancel_tasks())
            loop.call_soon_threadsafe(loop.stop)
        self._loop_thread.join(timeout=10)
        loop.close()
        self._loop = None
        failure = self._network.failure if self._network is not None else None
        if failure is not None:
            raise RuntimeError("the in-process Raft thread failed") from failure

    def __enter__(self) -> InProcessCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bootstrap(self) -> str:
        return ",".join(self.address(i) for i in self._ids)

    @property
    def node_ids(self) -> list[int]:
        return list(self._ids)

    @property
    def cluster_id(self) -> str | None:
        """The id the metadata group gave this cluster when it started."""
        node = self._nodes.get(self._any_node())
        return None if node is None else node.replicas.metadata.view.cluster_id

    def address(self, node_id: int) -> str:
        return f"{self.host}:{self._ports[node_id]}"

    # --- topics and leaders -----------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int | None = None, replication_factor: int | None = None) -> None:
        """Create a topic through the controller (the real checks: name, counts, placement) and wait
        until each partition's preferred replica leads and every node knows it."""
        body: dict[str, Any] = {"name": name}
        if partitions is not None:
            body["partitions"] = partitions
        if replication_factor is not None:
            body["replication_factor"] = replication_factor
        self._dispatch(self._any_node(), "create_topic", body)
        self.wait_for_leaders(name)

    def create_partitions(self, name: str, total: int) -> None:
        """Grow a topic to ``total`` partitions through the controller (the real checks and
        placement) and wait until every node knows them and each new partition's preferred replica
        (if running) leads. Clients see them at their next metadata refresh."""
        self._dispatch(self._controller_node(), "create_partitions", {"topic": name, "total": total})
        self.wait_for_metadata()
        self.wait_for_leaders(name)

    def wait_for_leaders(self, topic: str) -> None:
        """Wait until every node hosts its replicas of ``topic``, each partition's preferred replica
        (if running) leads, and every node knows it: what ``create_topic`` waits for, for a topic a
        client created (a node answers a create before the new partitions have elected leaders)."""
        self._wait(lambda: all(self._topic_size(n, topic) is not None for n in self._nodes),
                   f"every node to know topic {topic!r}")
        size = self._topic_size(self._any_node(), topic)
        assert size is not None
        for p in range(size):
            preferred = self._assignment(topic, p)[0]
            self._lead(topic, p, preferred if preferred in self._nodes else None)

    def wait_for_metadata(self) -> None:
        """Wait until every running node has applied what the metadata group has committed so far: a
        node answers a client's create or delete once a majority has it, the others apply it a
        heartbeat later."""
        controller = self._controller_node()
        network = self._require_network()
        committed = network.call(lambda: self._nodes[controller].replicas.meta_group.commit_index())
        self._wait(lambda: network.call(
            lambda: all(n.replicas.meta_group.last_applied() >= committed for n in list(self._nodes.values()))),
            "every node to apply the metadata committed so far")

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until no node hosts its partitions any more."""
        self._dispatch(self._any_node(), "delete_topic", {"name": name})
        self._wait(lambda: all(self._topic_size(n, name) is None for n in self._nodes),
                   f"every node to drop topic {name!r}")
        self._append_leaders = {k: v for k, v in self._append_leaders.items() if k[0] != name}

    def leader(self, topic: str, partition: int) -> int | None:
        """The partition's Raft leader (None while it has none)."""
        return _leader_of(self._group_replicas(self._gid(topic, partition)))

    def set_leader(self, topic: str, partition: int, leader: int | None) -> None:
        """Move a partition's leadership to ``leader`` (one of its replicas) by a Raft transfer, and
        wait until it leads and every node knows. ``None`` cuts the group's messages until the next
        ``set_leader``: the leader steps down (it hears from no majority) and no election can
        succeed, so the replicas answer LEADER_NOT_AVAILABLE; it needs two or more replicas.
        As on a real node, a leader other than the preferred replica hands back to it within seconds."""
        gid = self._gid(topic, partition)
        replicas = self._assignment(topic, partition)
        network = self._require_network()
        if leader is None:
            if len(replicas) < 2:
                raise ValueError(f"{topic}/{partition} has one replica: it leads while its node runs "
                                 f"(use node_down, or a replication factor of 2 or more)")
            network.call(lambda: network.isolate(gid))
            self._wait(lambda: all(r.leader is None for r in self._group_replicas(gid)),
                       f"{topic}/{partition} to have no leader")
            self._append_leaders.pop((topic, partition), None)
            return
        if leader not in replicas:
            raise ValueError(f"node {leader} holds no replica of {topic}/{partition} (replicas {replicas})")
        if leader not in self._nodes:
            raise ValueError(f"node {leader} is down")
        network.call(lambda: network.isolate(gid, False))
        self._lead(topic, partition, leader)

    @property
    def controller(self) -> int | None:
        """The metadata group's leader: the controller of topics and the coordinator of every group."""
        return _leader_of(self._group_replicas(METADATA_GID))

    def set_controller(self, node_id: int) -> None:
        """Move the metadata group's leadership (and with it the group coordinator) to ``node_id``."""
        if node_id not in self._nodes:
            raise ValueError(f"node {node_id} is not running")
        self._settle(METADATA_GID, node_id, self._controller_known)

    # --- request and connection faults ------------------------------------------------------------

    def fail_next(self, api: str, topic: str, partition: int, error_code: int = NotLeader.code,
                  times: int = 1) -> None:
        """Answer the next ``times`` ``api`` requests ("produce", "fetch" or "list_offsets") for that
        partition with ``error_code``, without handling that part of them."""
        self.faults.fail_partition(api, topic, partition, error_code, times)

    def fail_next_request(self, api: str, error_code: int, times: int = 1) -> None:
        """Answer the next ``times`` ``api`` requests as a whole with ``error_code``, unhandled."""
        self.faults.fail_request(api, error_code, times)

    def drop_next(self, api: str, times: int = 1) -> None:
        """Never answer (nor handle) the next ``times`` ``api`` requests (to exercise request timeouts)."""
        self.faults.drop(api, times)

    def drop_next_answer(self, api: str, times: int = 1) -> None:
        """Handle the next ``times`` ``api`` requests (a produce appends) but never answer them: a
        lost answer, as when a leader dies after committing. ``times=0`` answers again from now."""
        self.faults.lose_answers(api, times)

    def drop_connections(self, node_id: int | None = None) -> None:
        """Abort every client connection (of one node, or all): in-flight requests are lost."""
        async def drop() -> None:
            for node in list(self._nodes.values()):
                if node_id is None or node.node_id == node_id:
                    node.server.abort_connections()
        self._on_loop(drop())

    def node_down(self, node_id: int) -> None:
        """Crash a node: it stops listening, its connections drop, its Raft groups stop (their
        peers see it gone); its store keeps what it committed. ``node_up`` restarts it from there."""
        node = self._nodes.pop(node_id, None)
        if node is None:
            raise ValueError(f"node {node_id} is not running")
        self._on_loop(self._close_servers([node]))
        network = self._require_network()
        network.call(lambda: network.remove(node_id))
        self._append_leaders = {k: v for k, v in self._append_leaders.items() if v != node_id}

    def node_up(self, node_id: int) -> None:
        """Restart a crashed node on its port from its store, and wait until each of its groups
        knows a leader."""
        if node_id in self._nodes or node_id not in self._stores:
            raise ValueError(f"node {node_id} is not down")
        sock = _listening_socket(self.host, self._ports[node_id])
        try:
            self._stores[node_id].crash()  # a restart: only committed data (all of it, between passes)
        except BaseException:
            sock.close()
            raise
        self._boot({node_id: sock})
        node = self._nodes[node_id]
        self._wait(lambda: self._require_network().call(
            lambda: all(g.leader_id() is not None for g in node.host.groups.values())),
            f"node {node_id}'s groups to find their leaders")

    # --- data -------------------------------------------------------------------------------------

    def append(self, topic: str, partition: int, values: list[bytes | None], key: bytes | None = None,
               timestamp_ms: int | None = None) -> int:
        """Produce one batch to the partition's leader (no client, no request faults, no counting);
        returns its base offset."""
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        batch = encode_batch([(ts, key, v, []) for v in values])
        body = {"acks": -1, "timeout_ms": APPEND_TIMEOUT_MS,
                "entries": [{"topic": topic, "partition": partition, "batch": batch}]}
        return int(self._at_leader(topic, partition, "produce", body, "results")["base_offset"])

    def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Delete the partition's records below ``before_offset`` (-1: the high watermark) through its
        leader's real ``delete_records`` handler, as ``append`` produces (retrying a leader change);
        returns the new log start. Whole batches go from every replica's log; a log start inside a
        batch keeps it, and readers skip the records below."""
        body = {"topic": topic, "partitions": [{"partition": partition, "offset": before_offset}]}
        return int(self._at_leader(topic, partition, "delete_records", body, "partitions")["low_watermark"])

    def _at_leader(self, topic: str, partition: int, api: str, body: dict[str, Any], results: str) -> dict[str, Any]:
        """One partition's answer to ``api`` from its leader, retried (a leader change, no leader yet)
        until it succeeds or fails for good."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last: KraftError = LeaderNotAvailable(f"{topic}/{partition} has no leader")
        while time.monotonic() < deadline:
            leader = self._append_leaders.get((topic, partition))
            if leader is None or leader not in self._nodes:
                leader = self.leader(topic, partition)
            if leader is not None:
                result: dict[str, Any] = self._dispatch(leader, api, body)[results][0]
                if result["error_code"] == 0:
                    self._append_leaders[(topic, partition)] = leader
                    return result
                last = error_for_code(result["error_code"], result.get("message") or "")
                if not last.retriable:
                    raise last
                self._append_leaders.pop((topic, partition), None)
            time.sleep(POLL_S)
        raise last

    def records(self, topic: str, partition: int) -> list[Record]:
        """Every committed record of a partition from its log start (offset, timestamp_ms, key, value,
        headers)."""
        start = self.log_start_offset(topic, partition)
        out: list[Record] = []
        for base, batch in self._batches(topic, partition):
            # A log start inside a batch keeps the batch; its records below the start are gone.
            out.extend(r for r in decode_batch(batch, base) if r[0] >= start)
        return out

    def batch_headers(self, topic: str, partition: int) -> list[tuple[int, BatchHeader]]:
        """(base offset, header) of every committed batch of a partition: producer ids and sequences."""
        return [(base, verify_batch(batch)) for base, batch in self._batches(topic, partition)]

    def high_watermark(self, topic: str, partition: int) -> int:
        """The partition's end offset: the most any running replica has applied (all committed)."""
        gid = self._gid(topic, partition)

        def read() -> int:
            ends = [0]
            for node in list(self._nodes.values()):
                replica = node.replicas.partitions.get(gid)
                if replica is not None:
                    with node.store.read() as view:
                        ends.append(int(replica.log.read_state(view)["next_offset"]))
            return max(ends)

        return self._require_network().call(read)

    def log_start_offset(self, topic: str, partition: int) -> int:
        """The partition's first offset kept: the most any running replica has applied."""
        gid = self._gid(topic, partition)

        def read() -> int:
            starts = [0]
            for node in list(self._nodes.values()):
                replica = node.replicas.partitions.get(gid)
                if replica is not None:
                    with node.store.read() as view:
                        starts.append(int(replica.log.read_state(view)["log_start_offset"]))
            return max(starts)

        return self._require_network().call(read)

    # --- consumer groups --------------------------------------------------------------------------

    def committed(self, group_id: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets, as the metadata group replicated them."""
        def read() -> dict[tuple[str, int], int]:
            group = self._nodes[self._controller_node()].replicas.metadata.groups.get(group_id)
            return dict(group.offsets) if group is not None else {}
        return self._require_network().call(read)

    def member_count(self, group_id: str) -> int:
        """How many members the group coordinator has in the group now."""
        while True:
            try:
                answer = self._dispatch(self._controller_node(), "describe_group", {"group_id": group_id})
            except GroupIdNotFound:
                return 0
            except KraftError as e:
                if not e.retriable:
                    raise
                self._settle(METADATA_GID, self._controller_node(), self._controller_known)
                continue
            return len(answer["members"])

    def bump_generation(self, group_id: str) -> None:
        """Record a newer generation of the group in the metadata group, as a new coordinator would,
        without its members (or this coordinator) knowing: their next commit is refused with
        ILLEGAL_GENERATION by the replicated state's rule, and they rejoin."""
        network = self._require_network()
        outcome: list[Outcome] = []

        def submit() -> None:
            replicas = self._nodes[self._controller_node()].replicas
            group = replicas.metadata.groups.get(group_id)
            generation = (group.generation if group is not None else 0) + 1
            payload = encode_command("group_generation", group=group_id, generation=generation)
            replicas.meta_group.submit(payload, outcome.append)

        network.call(submit)
        self._wait(lambda: bool(outcome), f"group {group_id!r}'s new generation to commit")
        if not isinstance(outcome[0], Applied):
            raise RuntimeError(f"the new generation of group {group_id!r} was refused: {outcome[0]}")

    # --- internals: nodes -------------------------------------------------------------------------

    def _make_config(self) -> ClusterConfig:
        nodes = {i: NodeConfig(i, self.host, self._ports[i], 0) for i in self._ids}
        # Any: the integer settings are checked against ClusterConfig's int fields in __init__.
        limits: dict[str, Any] = {} if self.max_record_bytes is None else {"max_record_bytes": self.max_record_bytes}
        return ClusterConfig(path=None, data_dir=Path(os.devnull), nodes=nodes, fsync="never",
                             batch_format=self.batch_format,
                             replication_factor=self.default_replication_factor,
                             partitions=self.default_partitions, max_frame_bytes=self.max_frame_bytes,
                             **limits, **cast(dict[str, Any], self._settings))

    def _boot(self, socks: dict[int, socket.socket]) -> None:
        """Build nodes over their stores (on the Raft thread, which owns the stores' writes, in one
        call) and start serving on their sockets (which they own from then on)."""
        network = self._require_network()
        nodes = network.call(lambda: [self._build(i, self._stores[i]) for i in list(socks)])

        self._nodes.update({node.node_id: node for node in nodes})

        async def serve() -> None:
            for node in nodes:
                node.broker.bind_loop(asyncio.get_running_loop())
                await node.server.start(socks.pop(node.node_id))

        self._on_loop(serve())

    def _build(self, node_id: int, store: MemoryStore) -> _Node:
        config = self.config
        assert config is not None and self._network is not None
        host = self._network.add(node_id, store)
        timers = GroupTimers(config.heartbeat_interval_ms / 1000, config.election_timeout_min_ms / 1000,
                             config.election_timeout_max_ms / 1000,
                             LearnerThrottle(config.reassignment_throttle_bytes_per_s))
        broker: list[Broker] = []
        replicas = ReplicaManager(
            node_id, host, store, timers, config.node_ids,
            on_appended=lambda gids: broker[0].on_appended(gids) if broker else None,
            announce={"id": node_id, "host": self.host, "client_port": self._ports[node_id], "raft_port": 0,
                      "rack": None, "kafka_port": None},
            preferred_election_delay_s=0.0,
            leader_balance_interval_s=config.leader_balance_interval_ms / 1000,
            produce_sets=ProduceSets(config.max_record_bytes, lambda: True),  # every node runs this code
        )
        store.commit()
        broker.append(Broker(config, node_id, host, replicas))
        server = _Server(NodeServices.of(broker[0]), self.host, self._ports[node_id], config.max_frame_bytes,
                         config.max_connections, config.max_in_flight_requests, config.max_connection_buffer_bytes,
                         interceptor=self.faults)
        return _Node(node_id, self._ports[node_id], store, host, replicas, broker[0], server)

    @staticmethod
    async def _close_servers(nodes: list[_Node]) -> None:
        for node in nodes:
            await node.server.close()
            node.server.abort_connections()
            node.broker.coordinator.stop()

    def _require_network(self) -> MemoryNetwork:
        if self._network is None or self._loop is None:
            raise RuntimeError("the cluster is not running")
        return self._network

    def _any_node(self) -> int:
        controller = self.controller
        if controller is not None and controller in self._nodes:
            return controller
        if not self._nodes:
            raise RuntimeError("every node is down")
        return next(iter(self._nodes))

    def _controller_node(self) -> int:
        controller = self.controller
        if controller is None or controller not in self._nodes:
            self._wait(lambda: self.controller in self._nodes, "a controller")
            controller = self.controller
        assert controller is not None
        return controller

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the cluster is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SETTLE_TIMEOUT_S + 5)

    def _dispatch(self, node_id: int, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """A request handled by a node's real handlers, past the request faults and counters."""
        node = self._nodes[node_id]
        ctx = HandlerContext(node.server.services, self.host)
        return self._on_loop(node.server.dispatch(ctx, api, dict(body)))

    # --- internals: reading and settling ----------------------------------------------------------

    def _wait(self, condition: Callable[[], object], what: str, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"in-process cluster: timed out waiting for {what}")
            time.sleep(POLL_S)

    def _topic_size(self, node_id: int, topic: str) -> int | None:
        """How many partitions ``node_id`` knows ``topic`` to have, once it hosts each of its
        replicas there (None: it does not know the topic, or has not created them all yet)."""
        def read() -> int | None:
            node = self._nodes.get(node_id)
            t = node.replicas.metadata.view.topics.get(topic) if node is not None else None
            if node is None or t is None:
                return None
            mine = [p.gid for p in t.partitions if node_id in p.replicas]
            return len(t.partitions) if all(g in node.replicas.partitions for g in mine) else None
        return self._require_network().call(read)

    def _gid(self, topic: str, partition: int) -> int:
        return self._partition_meta(topic, partition)[0]

    def _assignment(self, topic: str, partition: int) -> list[int]:
        return self._partition_meta(topic, partition)[1]

    def _partition_meta(self, topic: str, partition: int) -> tuple[int, list[int]]:
        def read() -> tuple[int, list[int]] | None:
            for node in list(self._nodes.values()):
                t = node.replicas.metadata.view.topics.get(topic)
                if t is not None and 0 <= partition < len(t.partitions):
                    p = t.partitions[partition]
                    return p.gid, list(p.replicas)
            return None
        found = self._require_network().call(read)
        if found is None:
            raise UnknownTopicOrPartition(f"{topic}/{partition} does not exist")
        return found

    def _group_replicas(self, gid: int) -> list[_Replica]:
        def read() -> list[_Replica]:
            out = []
            for node in list(self._nodes.values()):
                g = node.host.groups.get(gid)
                if g is not None:
                    out.append(_Replica(node.node_id, g.current_term(), g.leader_id(), g.is_leader(),
                                        g.leadership_ready()))
            return out
        return self._require_network().call(read)

    def _push(self, gid: int, target: int) -> None:
        """Raft thread: ask the group's leader to hand over to ``target`` (it does once ``target``
        is caught up), or, with no leader, make ``target`` stand for election now."""
        groups = {n.node_id: n.host.groups.get(gid) for n in list(self._nodes.values())}
        replicas = [_Replica(i, g.current_term(), g.leader_id(), g.is_leader(), g.leadership_ready())
                    for i, g in groups.items() if g is not None]
        leader = _leader_of(replicas)
        mine = groups.get(target)
        if mine is None:
            return
        if leader is None:
            mine.bring_election_forward(0.0)
        elif leader != target:
            group = groups[leader]
            assert group is not None
            group.hand_over_to(target)

    def _settle(self, gid: int, target: int, known: Callable[[int, int], bool]) -> None:
        """Make ``target`` lead group ``gid`` and wait until ``known(node, target)`` on every node."""
        network = self._require_network()
        last_push = 0.0

        def led() -> bool:
            nonlocal last_push
            if _settled_on(self._group_replicas(gid), target):
                return True
            if time.monotonic() - last_push > PUSH_EVERY_S:
                last_push = time.monotonic()
                network.call(lambda: self._push(gid, target))
            return False

        self._wait(led, f"node {target} to lead group {gid}")
        self._wait(lambda: all(known(n, target) for n in list(self._nodes)), f"every node to know node {target} "
                   f"leads group {gid}")

    def _lead(self, topic: str, partition: int, target: int | None) -> None:
        """Make ``target`` (None: any replica) lead the partition; wait until every node says so."""
        gid = self._gid(topic, partition)
        if target is None:
            self._wait(lambda: self.leader(topic, partition) is not None, f"a leader of {topic}/{partition}")
            target = self.leader(topic, partition)
            assert target is not None

        def known(node_id: int, leader: int) -> bool:
            answer = self._dispatch(node_id, "metadata", {"topics": [topic]})["topics"][0]
            return bool(answer["error_code"] == 0 and answer["partitions"][partition]["leader"] == leader)

        self._settle(gid, target, known)
        self._append_leaders[(topic, partition)] = target

    def _controller_known(self, node_id: int, controller: int) -> bool:
        return bool(self._dispatch(node_id, "metadata", {"topics": []})["controller"] == controller)

    def _batches(self, topic: str, partition: int) -> list[tuple[int, bytes]]:
        """Every committed batch, from the running replica that has applied the most."""
        gid = self._gid(topic, partition)

        def read() -> list[tuple[int, bytes]]:
            best: list[tuple[int, bytes]] = []
            best_end = -1
            for node in list(self._nodes.values()):
                replica = node.replicas.partitions.get(gid)
                if replica is None:
                    continue
                with node.store.read() as view:
                    end = int(replica.log.read_state(view)["next_offset"])
                    if end > best_end:
                        best_end, best = end, replica.log.read(view, 0, 1 << 62) if end else []
            return best

        return self._require_network().call(read)


async def _cancel_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["InProcessCluster"]
