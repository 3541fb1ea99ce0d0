"""What the console reads from and does to the cluster, through kraft's own public clients.

Owns: ``ConsoleCluster``, which holds one ``Admin`` and one ``Producer`` (made on first use,
thread-safe, pointed at ``bootstrap``: on a node, the node itself), makes a ``Consumer`` per
message-browser read, scrapes each node's ``/metrics`` and ``/health/ready`` (nodes with an HTTP
address: the one it announced in the node registry, else the config's) for CPU, memory and
versions, and reads other nodes' throughput samples (``/console/api/samples``). It returns plain
frozen values the pages render.
Must not: import node internals (the console works the same from a node and from ``kraft
console``), render markup, or decide what a read-only console may do (``kraft.console.app`` does).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from kraft.apis import Admin, Consumer, Producer
from kraft.apis.connect.status import read_status
from kraft.apis.types import (
    ConfigEntry,
    ConsumerRecord,
    GroupDescription,
    NodeDescription,
    TopicDescription,
    TopicPartition,
)
from kraft.errors import GroupIdNotFound, KraftError, UnknownTopicOrPartition
from kraft.metrics_client import NodeFigures, http_addresses, scrape
from kraft.node.samples import Rate

REQUEST_TIMEOUT_MS = 10_000  # a page waits this long for the cluster, then says what failed
SCRAPE_TIMEOUT_S = 2.0
BROWSE_LIMIT_MAX = 500  # records one browser page shows
BROWSE_SCAN_MAX = 20_000  # records one filtered read looks through before it stops
BROWSE_TIME_S = 5.0  # and the time it may take
INTERNAL_SUFFIXES = ("-changelog", "-repartition")

StartKind = Literal["start", "end", "offset", "timestamp"]


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: int
    host: str
    port: int
    rack: str | None
    http: str | None  # its HTTP address, when known (a config names it)
    figures: NodeFigures | None  # None: no HTTP address to ask
    partitions_led: int
    replicas: int


@dataclass(frozen=True, slots=True)
class Overview:
    cluster_id: str | None
    controller: int | None
    nodes: list[NodeRow]
    topics: int
    partitions: int
    under_replicated: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    description: TopicDescription

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.description.partitions), default=0)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes or 0 for p in self.description.partitions)

    @property
    def under_replicated(self) -> int:
        return sum(1 for p in self.description.partitions if p.under_replicated)

    @property
    def records(self) -> int:
        return sum(max(0, p.high_watermark - (p.log_start_offset or 0)) for p in self.description.partitions)


@dataclass(frozen=True, slots=True)
class Browse:
    """One read of the message browser."""

    topic: str
    partition: int
    log_start: int
    end: int  # the end offset when the read began
    first_offset: int  # where the read started
    next_offset: int  # where a next page starts
    records: list[ConsumerRecord]
    scanned: int  # records looked at (more than shown when filtered)
    stopped_early: bool  # the scan limit or time ran out before the end


@dataclass(frozen=True, slots=True)
class StreamsApp:
    app_id: str
    group: GroupDescription | None  # None: the group has no members or commits (yet)
    internal_topics: list[str] = field(default_factory=list)


class ConsoleCluster:
    def __init__(self, bootstrap: str, http_nodes: Mapping[int, str] | None = None,
                 own_rates: Callable[[int], list[Rate]] | None = None, own_node: int | None = None) -> None:
        self.bootstrap = bootstrap
        self.http_nodes = dict(http_nodes or {})  # node id -> HOST:PORT of its HTTP listener, from a config
        self.own_rates = own_rates  # on a node: its sample ring, read without HTTP
        self.own_node = own_node
        self._lock = threading.Lock()
        self._admin: Admin | None = None
        self._producer: Producer | None = None

    # --- clients ----------------------------------------------------------------------------------
    @property
    def admin(self) -> Admin:
        with self._lock:
            if self._admin is None:
                self._admin = Admin(self.bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
            return self._admin

    @property
    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self.bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS,
                                          max_block_ms=REQUEST_TIMEOUT_MS, allow_auto_create_topics=False)
            return self._producer

    def close(self) -> None:
        with self._lock:
            admin, producer, self._admin, self._producer = self._admin, self._producer, None, None
        if producer is not None:
            producer.close(timeout_s=5)
        if admin is not None:
            admin.close()

    # --- overview ---------------------------------------------------------------------------------
    def overview(self) -> Overview:
        cluster = self.admin.describe_cluster()
        topics = self.topics()
        led: dict[int, int] = {}
        hosted: dict[int, int] = {}
        under = []
        for row in topics:
            for p in row.description.partitions:
                if p.leader is not None:
                    led[p.leader] = led.get(p.leader, 0) + 1
                for r in p.replicas:
                    hosted[r] = hosted.get(r, 0) + 1
                if p.under_replicated:
                    under.append((row.name, p.partition))
        http = http_addresses(cluster.nodes, self.http_nodes)
        figures = self.node_figures(http)
        nodes = [NodeRow(n.node_id, n.host, n.port, n.rack, http.get(n.node_id), figures.get(n.node_id),
                         led.get(n.node_id, 0), hosted.get(n.node_id, 0)) for n in cluster.nodes]
        return Overview(cluster.cluster_id, cluster.controller, nodes, len(topics),
                        sum(len(t.description.partitions) for t in topics), under)

    def http_addresses(self, nodes: list[NodeDescription] | None = None) -> dict[int, str]:
        """Node id -> its HTTP listener: what ``nodes`` (else a fresh ``describe_cluster``) announced,
        over the config's; the config's alone when the cluster does not answer."""
        if nodes is None:
            try:
                nodes = self.admin.describe_cluster().nodes
            except KraftError:
                nodes = []
        return http_addresses(nodes, self.http_nodes)

    def node_figures(self, http: Mapping[int, str] | None = None) -> dict[int, NodeFigures]:
        """Each node's key figures from its /metrics (nodes with an HTTP address), asked in parallel."""
        http = self.http_addresses() if http is None else http
        if not http:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(http))) as pool:
            futures = {n: pool.submit(scrape, address, n, SCRAPE_TIMEOUT_S) for n, address in http.items()}
            return {n: f.result() for n, f in futures.items()}

    def throughput(self, since_ms: int = 0) -> dict[int, list[Rate]]:
        """Per node, its per-second rates since ``since_ms`` from its own sample ring."""
        out: dict[int, list[Rate]] = {}
        if self.own_rates is not None and self.own_node is not None:
            out[self.own_node] = self.own_rates(since_ms)
        others = {n: a for n, a in self.http_addresses().items() if n not in out}
        if others:
            with ThreadPoolExecutor(max_workers=min(8, len(others))) as pool:
                futures = {n: pool.submit(_rates_of, a, since_ms) for n, a in others.items()}
                for n, f in futures.items():
                    rates = f.result()
                    if rates is not None:
                        out[n] = rates
        return out

    # --- topics -----------------------------------------------------------------------------------
    def topics(self) -> list[TopicRow]:
        out = []
        for name in self.admin.list_topics():
            try:
                out.append(TopicRow(name, self.admin.describe_topic(name)))
            except UnknownTopicOrPartition:
                continue  # deleted between the list and the describe
        return out

    def topic(self, name: str) -> tuple[TopicDescription, dict[str, ConfigEntry]]:
        return self.admin.describe_topic(name), self.admin.describe_configs(name)

    def create_topic(self, name: str, partitions: int | None, replication_factor: int | None,
                     configs: Mapping[str, str]) -> None:
        self.admin.create_topic(name, partitions, replication_factor, config=dict(configs))

    def alter_configs(self, topic: str, set_: Mapping[str, str], delete: list[str]) -> None:
        self.admin.alter_configs(topic, set=dict(set_), delete=delete)

    def add_partitions(self, topic: str, total: int) -> None:
        self.admin.create_partitions(topic, total)

    def delete_topic(self, name: str) -> None:
        self.admin.delete_topic(name)

    # --- messages ---------------------------------------------------------------------------------
    def browse(self, topic: str, partition: int, start: StartKind, value: int, *, limit: int,
               needle: str = "", matches: Callable[[str, ConsumerRecord], bool] | None = None) -> Browse:
        """Up to ``limit`` records of one partition from ``start`` (``value``: the offset or the
        timestamp in ms), those ``matches(needle, record)`` keeps; ``end`` shows the last ``limit``."""
        limit = max(1, min(limit, BROWSE_LIMIT_MAX))
        tp = TopicPartition(topic, partition)
        consumer = Consumer(self.bootstrap, enable_auto_commit=False, request_timeout_ms=REQUEST_TIMEOUT_MS,
                            client_id="kraft-console", fetch_max_wait_ms=100)
        try:
            consumer.assign([tp])
            log_start = consumer.beginning_offsets([tp])[tp]
            end = consumer.end_offsets([tp])[tp]
            if start == "start":
                first = log_start
            elif start == "end":
                first = max(log_start, end - limit)
            elif start == "timestamp":
                first = consumer.offsets_for_times([tp], value)[tp]
            else:
                first = min(max(value, log_start), end)
            records: list[ConsumerRecord] = []
            scanned = 0
            position = first
            deadline = time.monotonic() + BROWSE_TIME_S
            if first < end:
                consumer.seek(tp, first)
            while position < end and len(records) < limit:
                if scanned >= BROWSE_SCAN_MAX or time.monotonic() > deadline:
                    break
                for record in consumer.poll(timeout_ms=200):
                    if record.offset >= end:
                        continue
                    scanned += 1
                    position = record.offset + 1
                    if (matches is None or matches(needle, record)) and len(records) < limit:
                        records.append(record)
                position = max(position, consumer.position(tp))  # across compacted gaps
            next_offset = records[-1].offset + 1 if len(records) >= limit else min(position, end)
            return Browse(topic, partition, log_start, end, first, next_offset, records, scanned,
                          next_offset < end and len(records) < limit)
        finally:
            consumer.close()

    def produce(self, topic: str, partition: int | None, key: bytes | None, value: bytes | None,
                headers: list[tuple[str, bytes]]) -> tuple[int, int]:
        """One record, acknowledged; its (partition, offset)."""
        meta = self.producer.send(topic, value=value, key=key, headers=headers, partition=partition).result(
            timeout=REQUEST_TIMEOUT_MS / 1000 + 5)
        return meta.partition, meta.offset

    # --- groups -----------------------------------------------------------------------------------
    def groups(self) -> list[GroupDescription]:
        out = []
        for group_id in self.admin.list_groups():
            try:
                out.append(self.admin.describe_group(group_id))
            except GroupIdNotFound:
                continue
        return out

    def group(self, group_id: str) -> GroupDescription:
        return self.admin.describe_group(group_id)

    def reset_offsets(self, group_id: str, topic: str, to: str | int) -> dict[TopicPartition, int]:
        return self.admin.reset_offsets(group_id, topic, to=to)

    # --- connect and streams ----------------------------------------------------------------------
    def connect_status(self) -> list[dict[str, object]]:
        return read_status(self.bootstrap)

    def streams_apps(self) -> list[StreamsApp]:
        """Streams apps: the groups whose id prefixes internal topics (``<app>-<name>-changelog`` or
        ``-repartition``), or whose members use the app id as client id (an app with no state)."""
        topics = [t for t in self.admin.list_topics() if t.endswith(INTERNAL_SUFFIXES)]
        apps: dict[str, StreamsApp] = {}
        for group in self.groups():
            internal = [t for t in topics if t.startswith(group.group_id + "-")]
            if internal or (group.members and all(m.client_id == group.group_id for m in group.members)):
                apps[group.group_id] = StreamsApp(group.group_id, group, internal)
        return sorted(apps.values(), key=lambda a: a.app_id)


def _rates_of(address: str, since_ms: int) -> list[Rate] | None:
    """A node's rates from its ``/console/api/samples``; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{address}/console/api/samples?since_ms={since_ms}",
                                    timeout=SCRAPE_TIMEOUT_S) as answer:
            body = json.loads(answer.read())
        return [Rate(**r) for r in body["rates"]]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return None
