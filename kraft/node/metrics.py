"""A node's Prometheus metrics: what ``/metrics`` answers, built at scrape time.

Owns: the metric names, help texts, labels and units (Prometheus conventions: ``kraft_`` prefix,
base units in the name, ``_total`` counters, histograms for latencies and sizes), and
``NodeCollector``, a custom collector that turns one ``NodeSnapshot`` (the node's state, read when
scraped: ``kraft.node.observe``) and the node's ``NodeStats`` (what its hot paths counted) into
metric families; ``registry`` puts it with prometheus_client's process collector (CPU, memory, open
files) in a registry of its own. Per-partition series (``metrics_per_partition``) can be left out;
node-wide sums are always there.
Must not: read Raft groups, the store or sockets (the snapshot is all it sees), or update anything:
a scrape only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kraft.histogram import Histogram
from kraft.node.exposition import TextFamily
from kraft.node.stats import FRONT_ENDS, NodeStats


@dataclass(frozen=True, slots=True)
class PartitionSample:
    """One partition replica this node hosts, as it stands at the scrape."""

    topic: str
    partition: int
    leader: int | None  # as this replica knows it
    leads: bool  # this node leads it
    under_replicated: bool  # leader only: some replica is not a voter it hears from
    follower_lag: Mapping[int, int]  # leader only: node -> entries it lacks
    log_start_offset: int
    log_end_offset: int  # the high watermark: the next offset to be written
    size_bytes: int
    learner: bool  # this replica is a learner (catching up after a move or a lost disk)
    quiescent: bool = False  # idle: its group neither ticks nor sends until written to


@dataclass(frozen=True, slots=True)
class GroupLag:
    """A consumer group's lag on a partition (its end offset minus the committed one), on the coordinator."""

    group: str
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """The node's LMDB environment (``env.info()``/``env.stat()``)."""

    map_size_bytes: int
    page_size_bytes: int
    pages_used: int  # pages up to the last one written (the rest of the map is untouched)

    @property
    def used_bytes(self) -> int:
        return self.pages_used * self.page_size_bytes

    @property
    def pages_free(self) -> int:
        return max(0, self.map_size_bytes // self.page_size_bytes - self.pages_used)


@dataclass(frozen=True, slots=True)
class ListenerSample:
    front_end: str
    connections: int
    accepted: int
    refused: int


@dataclass(frozen=True, slots=True)
class FetchSessionSample:
    """The Kafka listener's fetch session cache (KIP-227)."""

    open: int
    created: int
    evicted: int
    refused: int
    incremental: int


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """The state of a node at one scrape."""

    node_id: int
    partitions: Sequence[PartitionSample]
    metadata_leader: bool
    offline_partitions: int | None  # metadata leader only (it judges every partition's leader)
    store: StoreUsage | None
    listeners: Sequence[ListenerSample] = ()
    group_lag: Sequence[GroupLag] = ()
    group_lag_age_s: float | None = None  # coordinator only: how old the end offsets of ``group_lag`` are
    groups: int = 0  # consumer groups with members (coordinator only)
    group_members: int = 0
    rebalances: int = 0  # generations completed by this node as coordinator
    producer_ids_issued: int = 0
    peers_connected: Mapping[int, bool] = field(default_factory=dict)
    fetch_sessions: FetchSessionSample | None = None  # None: no Kafka listener


def _histogram(name: str, doc: str, labels: Sequence[str],
               series: Iterable[tuple[Sequence[str], Histogram]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for values, hist in series:
        buckets, _count, total = hist.cumulative()
        family.add_metric(list(values), buckets, total)
    return family


class NodeCollector(Collector):
    """Every kraft metric of one node, from ``snapshot()`` and ``stats`` at each scrape."""

    def __init__(self, snapshot: Callable[[], NodeSnapshot], stats: NodeStats, *, per_partition: bool = True) -> None:
        self.snapshot = snapshot
        self.stats = stats
        self.per_partition = per_partition

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration (and no scrape just for that)

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        yield from self._requests()
        yield from self._traffic()
        yield from self._raft(snap)
        yield from self._partitions(snap)
        yield from self._groups(snap)
        yield from self._node(snap)

    # --- requests and traffic -------------------------------------------------------------------
    def _requests(self) -> Iterator[Metric]:
        req = self.stats.requests
        apis = sorted(req.apis.items())
        total = CounterMetricFamily("kraft_requests", "Requests answered, by front end (kraft native | kafka) and API",
                                    labels=["front_end", "api"])
        errs = CounterMetricFamily("kraft_request_errors", "Requests answered with an error, by error name",
                                   labels=["front_end", "api", "error"])
        versions = CounterMetricFamily("kraft_request_versions",
                                       "Kafka-protocol requests by API and version (what clients negotiated)",
                                       labels=["front_end", "api", "version"])
        for (front_end, api), stats in apis:
            total.add_metric([front_end, api], stats.requests)
            for error, n in sorted(stats.errors.items()):
                errs.add_metric([front_end, api, error], n)
            for version, n in sorted(stats.versions.items()):
                versions.add_metric([front_end, api, str(version)], n)
        yield total
        yield errs
        yield versions
        yield _histogram("kraft_request_duration_seconds", "Time from a request's arrival to its answer",
                         ["front_end", "api"], ((key, stats.latency) for key, stats in apis))
        yield _histogram("kraft_request_size_bytes",
                         "Sizes of produce requests and of fetch answers (kind: produce | fetch)",
                         ["front_end", "kind"], sorted(req.sizes.items()))
        in_flight = GaugeMetricFamily("kraft_requests_in_flight", "Requests received and not answered yet",
                                      labels=["front_end"])
        for front_end in FRONT_ENDS:
            in_flight.add_metric([front_end], req.in_flight[front_end])
        yield in_flight

    def _traffic(self) -> Iterator[Metric]:
        topics = sorted(self.stats.traffic.topics.items())
        families = [
            ("kraft_topic_bytes_in", "Record batch bytes produced to the topic's partitions this node leads",
             "bytes_in"),
            ("kraft_topic_records_in", "Records produced to the topic's partitions this node leads", "records_in"),
            ("kraft_topic_bytes_out", "Record batch bytes fetched by clients from this node", "bytes_out"),
            ("kraft_topic_records_out", "Records fetched by clients from this node", "records_out"),
        ]
        for name, doc, attr in families:
            family = CounterMetricFamily(name, doc, labels=["topic"])
            for topic, counts in topics:
                family.add_metric([topic], getattr(counts, attr))
            yield family

    # --- Raft -------------------------------------------------------------------------------------
    def _raft(self, snap: NodeSnapshot) -> Iterator[Metric]:
        raft = self.stats.raft
        yield GaugeMetricFamily("kraft_raft_groups_led", "Partition Raft groups this node leads",
                                value=sum(1 for p in snap.partitions if p.leads))
        yield GaugeMetricFamily("kraft_raft_groups_quiescent",
                                "Partition Raft groups hosted here that are quiescent (idle: no ticks, no heartbeats)",
                                value=sum(1 for p in snap.partitions if p.quiescent))
        yield GaugeMetricFamily("kraft_raft_metadata_leader", "1 if this node leads the metadata group",
                                value=int(snap.metadata_leader))
        yield CounterMetricFamily("kraft_raft_elections", "Elections a replica on this node stood in (any group)",
                                  value=raft.elections_started)
        yield CounterMetricFamily("kraft_raft_leaderships_won", "Elections won by a replica on this node",
                                  value=raft.leaderships_won)
        yield _histogram("kraft_raft_commit_duration_seconds",
                         "Proposals (produce batches, metadata changes): submit to committed, applied and durable",
                         [], [((), raft.commit_latency)])
        yield CounterMetricFamily("kraft_store_commits", "LMDB commits that wrote (one fsync each with "
                                  "fsync = always), shared by every group", value=raft.store_commits)
        yield _histogram("kraft_store_fsync_duration_seconds",
                         "Duration of LMDB commits that wrote: with fsync = always, the fsync's latency",
                         [], [((), raft.fsync)])
        yield _histogram("kraft_raft_appends_per_fsync", "Raft log entries made durable by one store commit",
                         [], [((), raft.appends_per_commit)])
        yield CounterMetricFamily("kraft_produce_sets", "Raft entries that joined several queued Kafka batches "
                                  "without a producer id (one entry replicated and stored for all)",
                                  value=raft.produce_sets)
        yield CounterMetricFamily("kraft_produce_set_batches", "Kafka batches that went into those entries",
                                  value=raft.produce_set_batches)
        yield _histogram("kraft_raft_loop_iteration_seconds",
                         "Work of one Raft driver-loop iteration (messages in, ticks, store commit, sends), "
                         "not its wait: a long one delays every group's heartbeats", [], [((), raft.loop_iteration)])

    # --- partitions -------------------------------------------------------------------------------
    def _partitions(self, snap: NodeSnapshot) -> Iterator[Metric]:
        parts = snap.partitions
        yield GaugeMetricFamily("kraft_partition_replicas", "Partition replicas this node hosts", value=len(parts))
        yield GaugeMetricFamily("kraft_partitions_under_replicated",
                                "Partitions this node leads with a replica that is not a voter it hears from",
                                value=sum(1 for p in parts if p.leads and p.under_replicated))
        yield GaugeMetricFamily("kraft_partition_replicas_without_leader",
                                "Replicas on this node whose partition has no leader they know of",
                                value=sum(1 for p in parts if p.leader is None))
        if snap.offline_partitions is not None:
            yield GaugeMetricFamily("kraft_partitions_offline", "Partitions without a live leader (reported by "
                                    "the metadata leader only)", value=snap.offline_partitions)
        yield GaugeMetricFamily("kraft_log_size_bytes_sum", "Bytes of every partition replica's log on this node",
                                value=sum(p.size_bytes for p in parts))
        if not self.per_partition:
            return
        ordered = sorted(parts, key=lambda p: (p.topic, p.partition))
        two = ["topic", "partition"]
        size = TextFamily("kraft_log_size_bytes", "Bytes of the partition's log on this node", two)
        start = TextFamily("kraft_log_start_offset", "First offset of the partition's log", two)
        end = TextFamily("kraft_log_end_offset", "Next offset of the partition's log (its high watermark)", two)
        leader = TextFamily("kraft_partition_leader", "The partition's leader as this replica knows it "
                            "(-1: none); is_leader 1 on the leader", [*two, "is_leader"])
        under = TextFamily("kraft_partition_under_replicated", "1 if the partition is under-replicated "
                           "(on its leader)", two)
        lag = TextFamily("kraft_replica_lag_entries", "Raft entries a replica lacks (on the partition's "
                         "leader)", [*two, "replica"])
        for p in ordered:
            key = (p.topic, str(p.partition))
            size.add_metric(key, p.size_bytes)
            start.add_metric(key, p.log_start_offset)
            end.add_metric(key, p.log_end_offset)
            leader.add_metric((*key, "1" if p.leads else "0"), -1 if p.leader is None else p.leader)
            if p.leads:
                under.add_metric(key, int(p.under_replicated))
                for node, behind in sorted(p.follower_lag.items()):
                    lag.add_metric((*key, str(node)), behind)
        yield from (size, start, end, leader, under, lag)

    # --- groups, producers --------------------------------------------------------------------------
    def _groups(self, snap: NodeSnapshot) -> Iterator[Metric]:
        yield GaugeMetricFamily("kraft_consumer_groups", "Consumer groups with members (on the coordinator)",
                                value=snap.groups)
        yield GaugeMetricFamily("kraft_consumer_group_members", "Members of those groups", value=snap.group_members)
        yield CounterMetricFamily("kraft_consumer_group_rebalances", "Group generations completed by this node "
                                  "as coordinator", value=snap.rebalances)
        totals: dict[str, int] = {}
        for g in snap.group_lag:
            totals[g.group] = totals.get(g.group, 0) + g.lag
        group_total = GaugeMetricFamily("kraft_consumer_group_lag_records_sum",
                                        "A group's lag over every partition it committed on (on the coordinator)",
                                        labels=["group"])
        for group, total in sorted(totals.items()):
            group_total.add_metric([group], total)
        yield group_total
        if self.per_partition:
            lag = TextFamily("kraft_consumer_group_lag_records", "End offset minus the group's committed "
                             "offset (on the coordinator)", ["group", "topic", "partition"])
            for g in sorted(snap.group_lag, key=lambda g: (g.group, g.topic, g.partition)):
                lag.add_metric([g.group, g.topic, str(g.partition)], g.lag)
            yield lag
        if snap.group_lag_age_s is not None:
            yield GaugeMetricFamily("kraft_consumer_group_lag_age_seconds", "Age of the end offsets the group "
                                    "lag is computed from (on the coordinator: group_lag_refresh_ms)",
                                    value=snap.group_lag_age_s)
        yield GaugeMetricFamily("kraft_producer_ids_issued", "Producer ids the cluster has handed out "
                                "(replicated: every node says the same)", value=snap.producer_ids_issued)

    # --- the node ---------------------------------------------------------------------------------
    def _node(self, snap: NodeSnapshot) -> Iterator[Metric]:
        conns = GaugeMetricFamily("kraft_connections", "Open client connections", labels=["front_end"])
        accepted = CounterMetricFamily("kraft_connections_accepted", "Client connections accepted",
                                       labels=["front_end"])
        refused = CounterMetricFamily("kraft_connections_refused", "Client connections refused (max_connections)",
                                      labels=["front_end"])
        for listener in snap.listeners:
            conns.add_metric([listener.front_end], listener.connections)
            accepted.add_metric([listener.front_end], listener.accepted)
            refused.add_metric([listener.front_end], listener.refused)
        yield from (conns, accepted, refused)
        if snap.fetch_sessions is not None:
            fs = snap.fetch_sessions
            yield GaugeMetricFamily("kraft_kafka_fetch_sessions", "Kafka fetch sessions (KIP-227) this node keeps "
                                    "(at most max_fetch_sessions)", value=fs.open)
            for name, doc, value in (
                    ("created", "Fetch sessions created", fs.created),
                    ("evicted", "Fetch sessions evicted for a new one (Kafka's rules)", fs.evicted),
                    ("refused", "Full fetches served without a session: the cache had no room", fs.refused),
                    ("incremental", "Incremental fetches served from a session", fs.incremental)):
                yield CounterMetricFamily(f"kraft_kafka_fetch_sessions_{name}", doc, value=value)
        peers = GaugeMetricFamily("kraft_peer_connected", "1 if this node's Raft link to the peer is up",
                                  labels=["peer"])
        for peer, up in sorted(snap.peers_connected.items()):
            peers.add_metric([str(peer)], int(up))
        yield peers
        if snap.store is not None:
            yield GaugeMetricFamily("kraft_lmdb_map_size_bytes", "Size of the LMDB map (lmdb_map_size_mb)",
                                    value=snap.store.map_size_bytes)
            yield GaugeMetricFamily("kraft_lmdb_map_used_bytes", "Bytes of the map up to its last used page",
                                    value=snap.store.used_bytes)
            yield GaugeMetricFamily("kraft_lmdb_pages_free", "Pages of the map never used yet (room to grow)",
                                    value=snap.store.pages_free)
        info = GaugeMetricFamily("kraft_node_info", "This node's id", labels=["node"])
        info.add_metric([str(snap.node_id)], 1)
        yield info


def registry(collector: NodeCollector) -> CollectorRegistry:
    """A registry of the node's own (not the process-global default one, which other code may
    fill): its collector and the process' CPU, memory and file descriptors."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    ProcessCollector(registry=reg)
    return reg
