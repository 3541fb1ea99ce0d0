"""What ``/metrics`` and ``/health`` see of a node: its state gathered on demand, from the HTTP thread.

Owns: ``NodeObserver``, which reads the replicas, their logs (one read transaction per scrape), the
group coordinator, the Raft links and the listeners into the frozen values of ``kraft.node.metrics``
and ``kraft.node.health``, and the two heartbeats liveness is judged by (the driver's last
iteration, the asyncio loop's ``beat``). Reads only what other threads may read (the replicas'
``partitions`` and ``metadata.view``, pysyncobj's leader fields, committed store data); a value
changing under a scrape gives a moment's stale figure, never an error.
Must not: change node state, or be on a hot path (nothing calls it but a scrape or a probe).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kraft.groups.coordinator import GroupCoordinator
from kraft.node import health
from kraft.node.group_lag import EndOffsets
from kraft.node.host import NodeHost
from kraft.node.kafka.server import KafkaServer
from kraft.node.listener import Listener
from kraft.node.metrics import FetchSessionSample, GroupLag, ListenerSample, NodeSnapshot, PartitionSample, StoreUsage
from kraft.node.replicas import ReplicaManager

IN_SYNC = "voter"  # kraft.raft.group.follower_states: a voter the leader hears from


class NodeObserver:
    def __init__(self, node_id: int, host: NodeHost, replicas: ReplicaManager, coordinator: GroupCoordinator,
                 listeners: Callable[[], Sequence[Listener]], store_usage: Callable[[], StoreUsage] | None,
                 driver_beat: Callable[[], float], end_offsets: Callable[[], EndOffsets] = EndOffsets) -> None:
        self.node_id = node_id
        self.host = host
        self.replicas = replicas
        self.coordinator = coordinator
        self.listeners = listeners
        self.store_usage = store_usage
        self.driver_beat = driver_beat  # monotonic time of the driver's last iteration
        self.end_offsets = end_offsets  # the coordinator's cache for group lag (kraft.node.group_lag)
        self.loop_beat = time.monotonic()  # set by the node's asyncio loop (``beat``)

    def beat(self) -> None:
        """The asyncio loop calls this every second: the loop is turning."""
        self.loop_beat = time.monotonic()

    # --- metrics ----------------------------------------------------------------------------------
    def snapshot(self) -> NodeSnapshot:
        partitions = self._partitions()
        meta_group = self.replicas.meta_group
        metadata_leader = meta_group.is_leader()
        coordinating = self.coordinator.is_coordinator()
        groups = [g for g in self.coordinator.groups.values() if g.members] if coordinating else []
        ends = self.end_offsets() if coordinating else EndOffsets()
        return NodeSnapshot(
            node_id=self.node_id,
            partitions=partitions,
            metadata_leader=metadata_leader,
            offline_partitions=self._offline() if metadata_leader else None,
            store=self.store_usage() if self.store_usage is not None else None,
            listeners=[ListenerSample(lst.front_end, lst.connections, lst.connections_accepted,
                                      lst.connections_refused) for lst in self.listeners()],
            fetch_sessions=self._fetch_sessions(),
            group_lag=self._group_lag(ends),
            group_lag_age_s=None if ends.asked_at is None else max(0.0, time.monotonic() - ends.asked_at),
            groups=len(groups),
            group_members=sum(len(g.members) for g in groups),
            rebalances=self.coordinator.rebalances,
            producer_ids_issued=self.replicas.metadata.producer_ids_issued,
            peers_connected=self.host.connected_peers(),
        )

    def _partitions(self) -> list[PartitionSample]:
        out = []
        with self.host.store.read() as committed:
            for replica in list(self.replicas.partitions.values()):
                group = replica.group
                leads = group.is_leader()
                followers = group.follower_states() if leads else {}
                state = replica.log.read_state(committed)
                others = [r for r in replica.meta.replicas if r != self.node_id]
                out.append(PartitionSample(
                    topic=replica.meta.topic,
                    partition=replica.meta.partition,
                    leader=group.leader_id(),
                    leads=leads,
                    under_replicated=leads and any(followers.get(r, ("unknown", 0))[0] != IN_SYNC for r in others),
                    follower_lag={node: behind for node, (_state, behind) in followers.items()},
                    log_start_offset=int(state["log_start_offset"]),
                    log_end_offset=int(state["next_offset"]),
                    size_bytes=replica.log.size(committed),
                    learner=group.is_learner(),
                    quiescent=group.quiescent,
                ))
        return out

    def _fetch_sessions(self) -> FetchSessionSample | None:
        for lst in self.listeners():
            if isinstance(lst, KafkaServer):
                fs = lst.fetch_sessions
                return FetchSessionSample(len(fs), fs.created, fs.evicted, fs.refused, fs.incremental)
        return None

    def _offline(self) -> int:
        """On the metadata leader: partitions whose recorded leader is none, or a node it has no link to."""
        offline = 0
        for topic in self.replicas.metadata.view.topics.values():
            for p in topic.partitions:
                if p.leader is None or (p.leader != self.node_id and not self.host.is_connected(p.leader)):
                    offline += 1
        return offline

    def _group_lag(self, ends: EndOffsets) -> list[GroupLag]:
        """On the coordinator: each group's lag on every partition it committed on whose end offset
        the last refresh found (so every (group, partition) is reported by exactly one node)."""
        if not ends.offsets:
            return []
        out = []
        for group, committed in dict(self.replicas.metadata.groups).items():
            for (topic, partition), offset in dict(committed.offsets).items():
                end = ends.offsets.get((topic, partition))
                if end is not None and offset >= 0:
                    out.append(GroupLag(group, topic, partition, max(0, end - offset)))
        return out

    # --- health -----------------------------------------------------------------------------------
    def liveness(self) -> health.Liveness:
        now = time.monotonic()
        return health.Liveness(self.node_id, now - self.driver_beat(), now - self.loop_beat)

    def readiness(self) -> health.Readiness:
        without = [f"{r.meta.topic}/{r.meta.partition}" for r in list(self.replicas.partitions.values())
                   if r.group.leader_id() is None]
        return health.Readiness(self.node_id, self.replicas.metadata.view.cluster_id,
                                self.replicas.meta_group.leader_id(), len(self.replicas.partitions), without)
