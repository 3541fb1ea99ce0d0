"""The broker service: what both front ends (native and Kafka protocol) call, in typed values.

Owns (on the node's asyncio loop): turning client intents into Raft proposals and log reads —
produce (submit a batch, answer once it is committed by a majority, applied and synced), fetch
(committed batches only, long-polled), offsets, topic administration through the metadata group,
topic configs (checked before they are proposed, resolved with this node's cluster.ini defaults,
and what they ask of each produced batch),
the node registry (where each node's listeners are), handing a partition this node leads to its
preferred replica on request, rebalance plans and decommissions from its metadata view (the plan is
``kraft.rebalance``'s; the client carries it out through reassignments), and this node's status.
It takes and returns the frozen values of ``kraft.node.broker_values`` (``FetchRequest`` -> ``FetchedPartition``s,
``MetadataAnswer``, ``TopicCreated``, ``NodeStatus`` ...) and raises ``kraft.errors`` classes; a request over several
partitions answers each with its own ``error``.
Must not: know a wire shape (each front end converts its frames to and from these values, and maps
kraft errors to its own codes), or touch Raft internals beyond ``submit``/leadership queries.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from kraft import authorizer, broker_config, errors, scram, topic_config
from kraft.authorizer import Principal
from kraft.config import ClusterConfig
from kraft.groups.coordinator import GroupCoordinator
from kraft.log.entry import OP_KAFKA, OP_NATIVE, encode_compact, encode_trim, served_count
from kraft.log.partition_log import DamagedEntry
from kraft.node.auto_create import TopicAutoCreator, valid_topic_name
from kraft.node.batch_format import advertised_batch_format
from kraft.node.broker_values import (
    Appended,
    EpochEndOffset,
    FetchedPartition,
    FetchRequest,
    LeaderElection,
    ListedOffset,
    LogDir,
    MetadataAnswer,
    NodeAddress,
    NodeStatus,
    PartitionFetch,
    PartitionMetadata,
    PartitionsCreated,
    ProducerId,
    Reassignment,
    ReplicaStatus,
    TopicCreated,
    TopicMetadata,
)
from kraft.node.cluster_nodes import (
    assignment,
    every_node,
    live_nodes,
    placement_nodes,
    planning_nodes,
    replicating_nodes,
)
from kraft.node.host import NodeHost
from kraft.node.partition_limits import check_node_replicas, check_topic_partitions
from kraft.node.replicas import PartitionReplica, ReplicaManager
from kraft.node.stats import TopicTraffic
from kraft.placement import ManualAssignment, assign_replicas, manual_assignment, new_partitions
from kraft.protocol import batch as native_batch
from kraft.protocol.batch import READS_COLUMNS, verify_batch
from kraft.protocol.kafka import records as kafka_batch
from kraft.protocol.kafka.records import verify_kafka_batch
from kraft.raft.faults import NetworkFaults, faults_allowed
from kraft.raft.group import RaftGroup
from kraft.raft.outbox import Applied, Outcome, Refusal, Refused
from kraft.raft.stats import RaftStats
from kraft.raft.throttle import ThrottleStats
from kraft.rebalance import Plan, check_capacity, plan
from kraft.replica_selector import preferred_read_replica
from kraft.state import leader_epochs
from kraft.state.acls import AclBinding, AclFilter, AclSet
from kraft.state.leader_epochs import LeaderEpochs
from kraft.state.metadata import BROKER_CONFIGS, SCRAM_CREDENTIALS, MetadataView, PartitionMeta, encode_command
from kraft.topic_config import ConfigChange, ConfigValue, LogConfig, ResolvedConfig

EARLIEST = -2
LATEST = -1
MAX_TIMESTAMP = -3  # ListOffsets v7+ (KIP-734): the record with the largest timestamp
FRAME_ENVELOPE_BYTES = 64 * 1024  # room left in a fetch answer for everything around the batches
ELECTION_POLL_S = 0.02  # how often a requested election looks whether the preferred replica leads yet
AclsDeleted = tuple[errors.KraftError | None, list[AclBinding]]  # a DeleteAcls filter's error, or what it deleted
HANDOVER_RETRY_S = 0.25  # how often the leader offers leadership to the preferred replica meanwhile


def _refusal_error(refused: Refused) -> errors.KraftError:
    if refused.reason is Refusal.NO_LEADER:
        return errors.LeaderNotAvailable("the partition has no leader right now")
    if refused.reason is Refusal.NOT_LEADER:
        return errors.NotLeader("leadership changed before the write was committed")
    if refused.reason is Refusal.QUEUE_FULL:
        return errors.RequestTimedOut("the partition's command queue is full")
    return errors.RequestTimedOut(f"outcome unknown ({refused.detail})")


def _check_leader_epoch(replica: PartitionReplica, current_leader_epoch: int) -> None:
    """A request naming the leader epoch its client knows (Kafka's current_leader_epoch; -1: none)
    is served only by the leader of that epoch: this leader's is its Raft term."""
    if current_leader_epoch < 0:
        return
    term = replica.group.current_term()
    if current_leader_epoch < term:
        raise errors.FencedLeaderEpoch(f"leader epoch {current_leader_epoch} is older than the leader's ({term})")
    if current_leader_epoch > term:
        raise errors.UnknownLeaderEpoch(f"leader epoch {current_leader_epoch} is newer than this leader's ({term})")


class Broker:
    """The service both front ends call. Public: the methods below, ``node_id`` and ``coordinator``
    (the group coordinator this broker feeds with metadata proposals and end offsets)."""

    def __init__(self, config: ClusterConfig, node_id: int, host: NodeHost, replicas: ReplicaManager,
                 traffic: TopicTraffic | None = None, raft_stats: RaftStats | None = None) -> None:
        self.config = config
        self.node_id = node_id
        self.host = host
        self.replicas = replicas
        # What clients produced and fetched per topic, and proposals' commit latency (kraft.node.metrics).
        self.traffic = traffic if traffic is not None else TopicTraffic()
        self.raft_stats = raft_stats if raft_stats is not None else RaftStats()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._log_configs: tuple[MetadataView | None, dict[str, LogConfig]] = (None, {})  # see log_config
        self._auto_create = TopicAutoCreator(config.auto_create_topics,
                                             lambda name: self.create_topic(name, None, None, None), self.topic_exists)
        self.coordinator = GroupCoordinator(
            replicas.metadata,
            # Only a leader that has applied everything committed before its term: a new leader's
            # replicated groups (generations, offsets) are behind until then, and answering from them
            # showed committed offsets moving backwards after a metadata leader change.
            is_coordinator=replicas.meta_group.leadership_ready,
            propose=self._propose_metadata,
            initial_delay_s=config.group_initial_rebalance_delay_ms / 1000,
            clock=host.clock.now,
            consumer_session_timeout_ms=config.consumer_group_session_timeout_ms,
            consumer_heartbeat_interval_ms=config.consumer_group_heartbeat_interval_ms,
        )

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the loop-bound parts (the group coordinator's timer) on the serving loop."""
        self.loop = loop
        self.coordinator.start()

    @property
    def request_timeout_ms(self) -> int:
        """How long a write may wait for its commit (a client asking for longer gets this)."""
        return self.config.request_timeout_ms

    async def init_producer_id(self) -> ProducerId:
        producer_id = await self._propose_metadata(encode_command("alloc_producer_id"))
        return ProducerId(int(producer_id), 0)

    def find_coordinator(self) -> NodeAddress:
        """The group coordinator's client (native) listener: the metadata group's leader."""
        leader = self.replicas.meta_group.leader_id()
        if leader is None:
            raise errors.CoordinatorNotAvailable("the metadata group is electing a leader")
        node = self.config.node(leader)
        return NodeAddress(node.id, node.host, node.client_port, node.rack)

    # --- called from the driver thread after commit --------------------------------------------
    def on_appended(self, gids: set[int]) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._wake_fetchers, gids)

    def _wake_fetchers(self, gids: set[int]) -> None:
        for gid in gids:
            for event in self._waiters.get(gid, ()):
                event.set()

    # --- proposals ------------------------------------------------------------------------------
    async def _propose(self, group: RaftGroup, payload: bytes, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        submitted = loop.time()

        def settle(outcome: Outcome) -> None:
            if fut.done():
                return
            if isinstance(outcome, Applied):
                self.raft_stats.commit_latency.observe(loop.time() - submitted)
                fut.set_result(outcome.result)
            else:
                fut.set_exception(_refusal_error(outcome))

        def settle_on_loop(outcome: Outcome) -> None:
            # Runs on the driver thread, after the store commit that covers the entry (the outbox's rule).
            loop.call_soon_threadsafe(settle, outcome)

        group.submit(payload, settle_on_loop)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise errors.RequestTimedOut(f"not committed within {timeout_s:.1f}s; outcome unknown") from None

    async def _propose_metadata(self, payload: bytes) -> Any:
        timeout_s = self.config.request_timeout_ms / 1000
        result = await self._propose(self.replicas.meta_group, payload, timeout_s)
        code, value = result
        if code:
            raise errors.error_for_code(code, value)
        return value

    async def _propose_to_controller(self, payload: bytes) -> Any:
        """A change Kafka's controller makes (topics, configs): while the metadata group has no leader,
        or loses it before the commit, the answer is NOT_CONTROLLER, which Kafka clients retry after
        refreshing their metadata (LEADER_NOT_AVAILABLE there would fail an admin call outright)."""
        try:
            return await self._propose_metadata(payload)
        except (errors.LeaderNotAvailable, errors.NotLeader) as e:
            raise errors.NotController(f"the metadata group has no leader right now ({e.message}); retry") from None

    # --- lookups --------------------------------------------------------------------------------
    def _replica(self, topic: str, partition: int) -> PartitionReplica:
        meta = self.replicas.metadata.view.topics.get(topic)
        if meta is None or not 0 <= partition < len(meta.partitions):
            raise errors.UnknownTopicOrPartition(f"{topic}/{partition} does not exist")
        p = meta.partitions[partition]
        replica = self.replicas.partitions.get(p.gid)
        if replica is None:
            raise errors.NotLeader(f"node {self.node_id} holds no replica of {topic}/{partition}", leader=p.leader)
        return replica

    def _leader_replica(self, topic: str, partition: int, *, applied: bool = False) -> PartitionReplica:
        """This node's replica if it leads the partition; with ``applied``, only once the leader has
        applied everything committed before its term (until then its high watermark is behind)."""
        replica = self._replica(topic, partition)
        if not replica.group.is_leader():
            leader = replica.group.leader_id()
            if leader is None:
                raise errors.LeaderNotAvailable(f"{topic}/{partition} is electing a leader")
            raise errors.NotLeader(f"node {leader} leads {topic}/{partition}", leader=leader)
        if applied and not replica.group.leadership_ready():
            raise errors.LeaderNotAvailable(f"the new leader of {topic}/{partition} is still applying")
        return replica

    # --- produce --------------------------------------------------------------------------------
    async def produce_one(self, topic: str, partition: int, batch: bytes, acks: int, timeout_s: float) -> Appended:
        """Append a native batch: its base offset (or -1 with ``acks=0``) and LogAppendTime stamp."""
        replica = self._leader_replica(topic, partition)
        self._check_size(batch)
        header = verify_batch(batch)
        batch, stamped = self._topic_rules(topic, batch, native=True)
        base = await self._append(replica, topic, partition, OP_NATIVE + batch, acks, timeout_s,
                                  header.producer_id, header.base_sequence)
        self.traffic.produced(topic, len(batch), header.count)
        return Appended(base, stamped)

    async def produce_kafka(self, topic: str, partition: int, batch: bytes, acks: int, timeout_s: float) -> Appended:
        """Append a Kafka magic-v2 batch as its producer sent it (stamped only in a LogAppendTime topic)."""
        replica = self._leader_replica(topic, partition)
        self._check_size(batch)
        header = verify_kafka_batch(batch)
        if header.is_transactional or header.is_control:
            raise errors.InvalidRecord(f"{topic}/{partition}: transactional batches are not supported")
        if header.count < 1 or header.count != header.last_offset_delta + 1:
            raise errors.InvalidRecord(f"{topic}/{partition}: batch of {header.count} records has offset deltas "
                                       f"up to {header.last_offset_delta} (a producer writes them dense from 0)")
        batch, stamped = self._topic_rules(topic, batch, native=False)
        base = await self._append(replica, topic, partition, OP_KAFKA + batch, acks, timeout_s,
                                  header.producer_id, header.base_sequence)
        self.traffic.produced(topic, len(batch), header.count)
        return Appended(base, stamped)

    def _topic_rules(self, topic: str, batch: bytes, *, native: bool) -> tuple[bytes, int]:
        """What the topic's configs ask of a verified batch before it is proposed: at most
        max.message.bytes; in a compacted topic a key on every record (INVALID_RECORD, as Kafka: the
        batch is decoded for it); in a LogAppendTime topic the leader's clock stamped into it, here,
        so that every replica stores the same bytes. The batch to propose and its stamp (or -1)."""
        rules = self.log_config(topic)
        if len(batch) > rules.max_message_bytes:
            raise errors.RecordTooLarge(f"batch of {len(batch)} bytes is over {topic}'s "
                                        f"max.message.bytes={rules.max_message_bytes}")
        if rules.compact:
            records = native_batch.decode_batch(batch, 0) if native else kafka_batch.decode_kafka_batch(batch, 0)
            keyless = [i for i, (_offset, _ts, key, _value, _headers) in enumerate(records) if key is None]
            if keyless:
                # The records' positions in the batch go back to Kafka clients (KIP-467), which then
                # fail only those and retry none of the others blindly, as with Kafka.
                raise errors.InvalidRecord(f"{topic} is a compacted topic (cleanup.policy has compact): "
                                           f"every record needs a key ({len(keyless)} of {len(records)} have none)",
                                           record_indexes=keyless)
        if not rules.log_append_time:
            return batch, -1
        now_ms = time.time_ns() // 1_000_000  # the leader's wall clock, as Kafka's
        stamp = native_batch.with_log_append_time if native else kafka_batch.with_log_append_time
        return stamp(batch, now_ms), now_ms

    def _check_size(self, batch: bytes) -> None:
        if len(batch) > self.config.max_record_bytes:
            raise errors.RecordTooLarge(
                f"batch of {len(batch)} bytes is over max_record_bytes={self.config.max_record_bytes}"
            )

    async def _append(self, replica: PartitionReplica, topic: str, partition: int, command: bytes, acks: int,
                      timeout_s: float, producer_id: int, base_sequence: int) -> int:
        if acks == 0:
            replica.group.submit(command)
            return -1
        result = await self._propose(replica.group, command, timeout_s)
        if result is None:
            raise errors.RequestTimedOut("the write was applied from a replay; outcome unknown")
        code, base = result
        if code:
            raise errors.error_for_code(code, f"{topic}/{partition}: producer {producer_id} sequence "
                                              f"{base_sequence} refused (a gap, or a producer the partition "
                                              f"does not know at this sequence)")
        return int(base)

    # --- fetch ----------------------------------------------------------------------------------
    def _read_partitions(self, request: FetchRequest, max_bytes: int) -> tuple[list[FetchedPartition], int]:
        out: list[FetchedPartition] = []
        total = 0
        strict_total = request.strict_max_bytes
        with self.host.store.read() as committed:
            for req in request.partitions:
                topic, partition, offset = req.topic, req.partition, req.offset
                hw, start, error = -1, -1, None
                batches: Sequence[tuple[int, bytes]] = ()
                epochs: LeaderEpochs = ()
                preferred = -1
                try:
                    replica = self._fetch_replica(topic, partition, request.client_rack)
                    _check_leader_epoch(replica, req.current_leader_epoch)
                    state = replica.log.read_state(committed)
                    # On a follower too: what it has applied is committed (Raft applies nothing else).
                    hw, start = state["next_offset"], state["log_start_offset"]
                    epochs = replica.log.read_leader_epochs(committed)
                    if offset < start or offset > hw:
                        raise errors.OffsetOutOfRange(f"offset {offset} is outside [{start}, {hw}]")
                    if request.client_rack:
                        preferred = self._preferred_read_replica(replica, request.client_rack)
                    if offset == hw or preferred >= 0 or (strict_total and total and total >= max_bytes):
                        continue
                    budget = min(max_bytes if req.max_bytes is None else req.max_bytes, max(max_bytes - total, 1))
                    try:
                        batches = replica.log.read(committed, offset, budget)
                    except DamagedEntry as e:
                        self.host.call(functools.partial(replica.group.repair_entry, e.raft_index))
                        raise errors.StorageError(f"{topic}/{partition}: a stored batch is damaged; "
                                                  f"repairing it from another replica") from None
                    if strict_total and total and batches and len(batches[0][1]) > budget:
                        batches = ()  # only the first non-empty partition may exceed the limits
                    total += sum(len(b) for _, b in batches)
                except errors.KraftError as e:
                    error = e
                finally:  # every partition is answered, however the block above was left
                    out.append(FetchedPartition(topic, partition, hw, start, batches, error, epochs, preferred))
        return out, total

    def _fetch_replica(self, topic: str, partition: int, client_rack: str | None) -> PartitionReplica:
        """The replica a fetch reads: the leader's (once it has applied its predecessors' entries),
        or, with ``fetch_from_follower`` on and for a Kafka consumer that can follow a preferred read
        replica (Fetch v11+: ``client_rack`` is not None), this node's follower replica, as Kafka's
        followers serve such fetches. Off, a follower answers NOT_LEADER_OR_FOLLOWER as before: no
        client is sent to it, and one that comes by mistake learns the leader at once."""
        try:
            return self._leader_replica(topic, partition, applied=True)
        except errors.NotLeader:
            if client_rack is None or not self.config.fetch_from_follower:
                raise
            return self._replica(topic, partition)

    def _preferred_read_replica(self, replica: PartitionReplica, client_rack: str) -> int:
        """On the leader with ``fetch_from_follower`` on: the in-sync replica in the client's rack
        the client should read from (-1: this leader serves)."""
        if not self.config.fetch_from_follower or not replica.group.is_leader():
            return -1
        racks = {n.id: n.rack for n in every_node(self.config, self.replicas.metadata.view)}
        chosen = preferred_read_replica(self.node_id, replica.in_sync_replicas(), racks, client_rack)
        return -1 if chosen is None else chosen

    async def fetch(self, request: FetchRequest) -> list[FetchedPartition]:
        """Each partition's committed batches (in the request's order), once ``min_bytes`` are there,
        a partition has failed, or ``max_wait_ms`` (bounded by fetch_max_wait_ms_max) has passed."""
        parts = request.partitions
        # An answer must fit one frame; leave room for the envelope.
        max_bytes = min(request.max_bytes, self.config.max_frame_bytes - FRAME_ENVELOPE_BYTES)
        if request.in_rows:
            # A record takes at least 4 bytes in columns (a byte per field) and 1 more in rows (its
            # array header), so rows are at most 5/4 of the batch.
            max_bytes = max_bytes * 4 // 5
        wait_s = min(request.max_wait_ms, self.config.fetch_max_wait_ms_max) / 1000
        deadline = self.host.clock.now() + wait_s
        while True:
            event = asyncio.Event()
            gids = self._register_waiter(parts, event)
            try:
                results, total = self._read_partitions(request, max_bytes)
                remaining = deadline - self.host.clock.now()
                # a partition sent to another replica is news too: the client should go there now
                errored = any(r.error is not None or r.preferred_read_replica >= 0 for r in results)
                if total >= request.min_bytes or errored or remaining <= 0:
                    self._count_fetched(results)
                    return results
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
            finally:
                self._unregister_waiter(gids, event)

    def _count_fetched(self, results: Sequence[FetchedPartition]) -> None:
        """Bytes and records this answer hands out, per topic (one header read per batch)."""
        for result in results:
            if result.batches:
                self.traffic.fetched(result.topic, sum(len(b) for _, b in result.batches),
                                     sum(served_count(b) for _, b in result.batches))

    def _register_waiter(self, parts: Sequence[PartitionFetch], event: asyncio.Event) -> list[int]:
        gids = []
        view = self.replicas.metadata.view
        for req in parts:
            t = view.topics.get(req.topic)
            if t is not None and 0 <= req.partition < len(t.partitions):
                gid = t.partitions[req.partition].gid
                self._waiters.setdefault(gid, set()).add(event)
                gids.append(gid)
        return gids

    def _unregister_waiter(self, gids: list[int], event: asyncio.Event) -> None:
        for gid in gids:
            waiters = self._waiters.get(gid)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[gid]

    # --- offsets --------------------------------------------------------------------------------
    def list_offset(self, topic: str, partition: int, timestamp: int, *, exact: bool = False,
                    current_leader_epoch: int = -1) -> ListedOffset | None:
        """Earliest (-2), latest (-1), the record with the largest timestamp (-3; the first of several,
        None for an empty log), or the first record whose timestamp is at or after
        ``timestamp`` (the record, not its batch: Kafka's answer); for a timestamp after every
        record, the end offset (or None with ``exact``, as Kafka answers -1). With the leader epoch
        each was written in (latest: the current one); ``current_leader_epoch`` as in fetch."""
        replica = self._leader_replica(topic, partition, applied=True)
        _check_leader_epoch(replica, current_leader_epoch)
        with self.host.store.read() as committed:
            state = replica.log.read_state(committed)
            epochs = replica.log.read_leader_epochs(committed)
            start, end = int(state["log_start_offset"]), int(state["next_offset"])
            if timestamp == EARLIEST:
                return ListedOffset(start, -1, leader_epochs.epoch_at(epochs, start))
            if timestamp == LATEST:
                return ListedOffset(end, -1, leader_epochs.latest_epoch(epochs))
            if timestamp == MAX_TIMESTAMP:
                found = replica.log.record_with_max_timestamp(committed)
                return None if found is None else ListedOffset(*found)
            found = replica.log.record_for_timestamp(committed, timestamp)
            if found is None:
                return None if exact else ListedOffset(end, -1, leader_epochs.latest_epoch(epochs))
            offset, ts, term = found
            return ListedOffset(offset, ts, term)

    def offset_for_leader_epoch(self, topic: str, partition: int, leader_epoch: int,
                                current_leader_epoch: int = -1) -> EpochEndOffset:
        """Kafka's OffsetForLeaderEpoch on the partition's leader: where ``leader_epoch`` ends
        (``kraft.state.leader_epochs.end_offset_for``; the log end for the current epoch), so a
        consumer can tell its position is still in the log after a leader change (KIP-320)."""
        replica = self._leader_replica(topic, partition, applied=True)
        _check_leader_epoch(replica, current_leader_epoch)
        with self.host.store.read() as committed:
            end = int(replica.log.read_state(committed)["next_offset"])
            epochs = replica.log.read_leader_epochs(committed)
        epoch, end_offset = leader_epochs.end_offset_for(epochs, leader_epoch, end)
        return EpochEndOffset(epoch, end_offset)

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Kafka's DeleteRecords: records below ``before_offset`` (-1: the high watermark) are gone
        on every replica; the new log start (low watermark). Whole batches go; a start inside a batch
        keeps the batch and readers skip the records below it."""
        replica = self._leader_replica(topic, partition, applied=True)
        with self.host.store.read() as committed:
            high_watermark = replica.log.read_state(committed)["next_offset"]
        if before_offset == -1:
            before_offset = high_watermark
        if not 0 <= before_offset <= high_watermark:
            raise errors.OffsetOutOfRange(f"{topic}/{partition}: cannot delete records before {before_offset}: "
                                          f"the high watermark is {high_watermark}")
        result = await self._propose(replica.group, encode_trim(before_offset), self.request_timeout_ms / 1000)
        if result is None:
            raise errors.RequestTimedOut("the deletion was applied from a replay; outcome unknown")
        return int(result[1])

    async def compact(self, topic: str, partition: int, end_offset: int, delete_retention_ms: int,
                      now_ms: int) -> int:
        """Propose a compaction pass over the batches below ``end_offset`` (the leader's cleaner
        decides when): tombstones go that a pass first cleaned at least ``delete_retention_ms`` ago
        (Kafka's rule); the end the pass got."""
        replica = self._leader_replica(topic, partition, applied=True)
        tombstones_below = replica.machine.tombstones_cleaned_before(now_ms - delete_retention_ms)
        result = await self._propose(replica.group, encode_compact(end_offset, tombstones_below, now_ms),
                                     self.request_timeout_ms / 1000)
        if result is None:
            raise errors.RequestTimedOut("the compaction was applied from a replay; outcome unknown")
        return int(result[1])

    # --- metadata and admin ---------------------------------------------------------------------
    def metadata(self, topics: Sequence[str] | None) -> MetadataAnswer:
        """Topics (every one for None) with their partitions' leaders and replicas, the nodes' client
        listeners and the controller, as this node knows them."""
        view = self.replicas.metadata.view
        names = sorted(view.topics) if topics is None else topics
        out = []
        for name in names:
            t = view.topics.get(name)
            if t is None:
                out.append(TopicMetadata(name, (), errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")))
                continue
            parts = [self._partition_metadata(p) for p in t.partitions]
            out.append(TopicMetadata(name, tuple(parts), topic_uuid=t.topic_uuid))
        # The replicated registry (what each node announced at start), else this node's cluster.ini.
        registry = {n.id: NodeAddress(n.id, n.host, n.client_port, n.rack, n.http_port)
                    for n in self.config.nodes.values()}
        registry.update({n.id: NodeAddress(n.id, n.host, n.client_port, n.rack, n.http_port)
                         for n in view.nodes.values()})
        nodes = tuple(address for _, address in sorted(registry.items()))
        # The committed configuration: a voter change only appended may yet be undone, and an operator
        # who saw it would take a replacement for done (and could then stop the last majority).
        voters, learners = self.replicas.meta_group.committed_configuration()
        batch_format = advertised_batch_format(self.config.batch_format, self.node_id,
                                               replicating_nodes(self.config, view),
                                               self.host.peers_reading(READS_COLUMNS))
        return MetadataAnswer(nodes, self.replicas.meta_group.leader_id(), tuple(out), view.cluster_id,
                              tuple(sorted(voters)), tuple(sorted(learners)), batch_format)

    def _partition_metadata(self, p: PartitionMeta) -> PartitionMetadata:
        leader, epoch = p.leader, p.leader_term
        isr = p.isr if p.isr is not None else p.replicas
        local = self.replicas.partitions.get(p.gid)
        if local is not None and local.group.raftCurrentTerm >= p.leader_term:
            # This replica's own view is at least as new as the metadata's (which hears of a
            # leader only after it reports in): answer with it, so clients follow a failover
            # without waiting for the metadata group. A replica that knows its leader knows it in
            # its current term (Raft: a leader's messages carry its term, and it is adopted).
            leader, term = local.group.leader_id(), local.group.current_term()
            if term != epoch:
                isr = local.in_sync_replicas() if leader == self.node_id else (leader,) if leader is not None else ()
            elif leader == self.node_id:
                isr = local.in_sync_replicas()
            epoch = term
        return PartitionMetadata(p.partition, leader, tuple(p.replicas), epoch if leader is not None else -1,
                                 tuple(isr))

    def cluster_id(self) -> str | None:
        """The cluster's id, as this node's metadata has it (None until the first metadata leader's
        ``set_cluster_id`` entry is applied here: a new cluster's first moments)."""
        return self.replicas.metadata.view.cluster_id

    def kafka_listeners(self) -> dict[int, NodeAddress]:
        """Node id -> Kafka listener of every node that has one: the replicated node registry (what
        each node announced when it started) over this node's cluster.ini."""
        out = {n.id: NodeAddress(n.id, n.host, n.kafka_port, n.rack)
               for n in self.config.nodes.values() if n.kafka_port}
        for m in self.replicas.metadata.view.nodes.values():
            if m.kafka_port:
                out[m.id] = NodeAddress(m.id, m.host, m.kafka_port, m.rack)
        return out

    def topic_exists(self, name: str) -> bool:
        return name in self.replicas.metadata.view.topics

    def topic_name(self, topic_uuid: uuid.UUID) -> str | None:
        """The name of the topic whose Kafka topic id is ``topic_uuid``, as this node knows it."""
        meta = self.replicas.metadata.view.topic_by_uuid(topic_uuid)
        return None if meta is None else meta.name

    def topic_uuid(self, name: str) -> uuid.UUID | None:
        """The Kafka topic id of topic ``name`` (None: no such topic here)."""
        meta = self.replicas.metadata.view.topics.get(name)
        return None if meta is None else meta.topic_uuid

    async def auto_create_topics(self, names: Sequence[str]) -> dict[str, errors.KraftError]:
        """Create the topics among ``names`` that do not exist, with cluster.ini's defaults, when
        auto_create_topics is on (``kraft.node.auto_create``); the error each one not in this node's
        metadata yet answers with (LeaderNotAvailable while it is being created)."""
        return await self._auto_create.ensure(names)

    def start_auto_create(self, topic: str) -> None:
        """Start creating ``topic`` if it does not exist and may be auto-created, without waiting
        (a produce to it still fails: its producer retries once its metadata has the topic)."""
        self._auto_create.start([topic])

    async def create_topic(self, name: str, partitions: int | None, rf: int | None,
                           configs: Mapping[str, object] | None,
                           assignment: ManualAssignment | None = None) -> TopicCreated:
        """Place and create a topic (None: cluster.ini's partitions / replication factor), or create
        it on ``assignment`` ((partition, node ids) pairs, Kafka's manual replica assignment) once
        checked; partitions and replication factor are then the assignment's, and giving them too
        is INVALID_REQUEST, as Kafka."""
        planned, payload = self._plan_topic(name, partitions, rf, configs, assignment)
        created = await self._propose_to_controller(payload)
        return TopicCreated(name, planned.partitions, planned.replication_factor, uuid.UUID(hex=str(created["uuid"])))

    def check_topic(self, name: str, partitions: int | None, rf: int | None,
                    configs: Mapping[str, object] | None,
                    assignment: ManualAssignment | None = None) -> TopicCreated:
        """What ``create_topic`` would create, every check made and nothing created (Kafka's
        ``validate_only``); TopicAlreadyExists for a topic this node has."""
        if self.topic_exists(name):
            raise errors.TopicAlreadyExists(f"topic {name!r} already exists")
        return self._plan_topic(name, partitions, rf, configs, assignment)[0]

    def _plan_topic(self, name: str, partitions: int | None, rf: int | None,
                    configs: Mapping[str, object] | None,
                    manual: ManualAssignment | None = None) -> tuple[TopicCreated, bytes]:
        if not valid_topic_name(name):
            raise errors.InvalidTopic(f"invalid topic name {name!r}: use 1-249 of [A-Za-z0-9._-]")
        # The cluster's nodes, not only this node's cluster.ini: registered ones too, decommissioned ones not.
        view = self.replicas.metadata.view
        if manual is not None:
            if partitions is not None or rf is not None:
                raise errors.InvalidRequest("a topic with a manual replica assignment takes its partitions and "
                                            "replication factor from it: give -1 for both")
            given = [(p, rs) for p, rs in manual]
            partitions, rf = len(given), len(given[0][1]) if given else 0
        partitions = self.config.partitions if partitions is None else int(partitions)
        live = len(live_nodes(self.config, view))
        rf = min(self.config.replication_factor, live) if rf is None else int(rf)
        check_topic_partitions(name, partitions, self.config.max_partitions_per_topic)
        if manual is None and (rf < 1 or rf > live):
            raise errors.InvalidReplicationFactor(
                f"replication factor {rf} needs 1..{live} (the cluster has {live} nodes that are not decommissioned)"
            )
        nodes = placement_nodes(self.config, view, max(rf, 1))
        clean = self.validate_topic_configs(configs or {})
        if manual is None:
            assignment = assign_replicas(nodes, partitions, rf, offset=zlib.crc32(name.encode()))
        else:
            assignment = manual_assignment(nodes, manual)
        check_node_replicas(view.replicas_per_node, assignment, self.config.max_partitions_per_node)
        # Kafka's topic id, drawn here so the command carries it and every replica stores the same one
        payload = encode_command("create_topic", name=name, assignment=assignment, configs=clean,
                                 uuid=uuid.uuid4().hex)
        return TopicCreated(name, partitions, rf), payload

    async def create_partitions(self, topic: str, total: int, assignment: Sequence[Sequence[int]] | None = None,
                                *, validate_only: bool = False) -> PartitionsCreated:
        """Grow ``topic`` to ``total`` partitions (Kafka's CreatePartitions). The new partitions are
        placed as if the topic had been created with ``total`` (``kraft.placement.new_partitions``),
        or on ``assignment`` (a replica list per new partition) once it is checked; configs stay.
        One metadata entry: every node then creates the new partitions' Raft groups it is a replica
        of. Keyed records map to other partitions from then on (the count is in the partitioner).
        InvalidPartitions unless ``total`` is above the current count; InvalidReplicaAssignment
        for a bad ``assignment``; with ``validate_only``, everything is checked and nothing changes."""
        meta = self.replicas.metadata.view.topics.get(topic)
        if meta is None:
            raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        if total > self.config.max_partitions_per_topic:
            check_topic_partitions(topic, total, self.config.max_partitions_per_topic)
        existing = [p.replicas for p in meta.partitions]
        view = self.replicas.metadata.view
        nodes = placement_nodes(self.config, view, len(existing[0]) if existing else 1)
        added = new_partitions(nodes, existing, total, offset=zlib.crc32(topic.encode()), assignment=assignment)
        check_node_replicas(view.replicas_per_node, added, self.config.max_partitions_per_node)
        planned = PartitionsCreated(topic, len(existing), total, tuple(tuple(r) for r in added))
        if validate_only:
            return planned
        await self._propose_to_controller(encode_command(
            "create_partitions", name=topic, topic_id=meta.topic_id, count=len(existing), assignment=added))
        return planned

    async def delete_topic(self, name: str) -> None:
        if name not in self.replicas.metadata.view.topics:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        await self._propose_to_controller(encode_command("delete_topic", name=name))

    # --- topic configs (kraft.topic_config; cluster-wide defaults are this node's cluster.ini) ---------
    def _topic_defaults(self) -> dict[str, ConfigValue]:
        """The defaults of topics' configs on this node: cluster.ini's under the dynamic broker
        configs (the cluster-wide ones, then this node's own: ``kraft.broker_config``)."""
        return broker_config.topic_defaults(self.dynamic_broker_configs(), self.node_id,
                                            self.config.topic_config_defaults())

    def validate_topic_configs(self, configs: Mapping[str, object]) -> dict[str, ConfigValue]:
        """A new topic's configs in canonical form: checked against the table, and the values the
        topic would have against the rules between keys and this node's limits (InvalidConfig)."""
        clean = topic_config.validate_configs(configs)
        self._check_effective(clean)
        return clean

    def _check_effective(self, configs: Mapping[str, object]) -> None:
        resolved = topic_config.resolve(configs, self._topic_defaults())
        topic_config.check_effective(resolved, max_record_bytes=self.config.max_record_bytes)

    def _topic_default_levels(self) -> dict[str, topic_config.DefaultLevels]:
        """``_topic_defaults`` with where each comes from (for the answers that say so)."""
        return broker_config.topic_default_levels(self.dynamic_broker_configs(), self.node_id,
                                                  self.config.topic_config_defaults())

    def describe_configs(self, topic: str) -> dict[str, ResolvedConfig]:
        """Every config of ``topic`` with its value and source, as this node's metadata has it."""
        meta = self.replicas.metadata.view.topics.get(topic)
        if meta is None:
            raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        return topic_config.resolve_levels(meta.configs, self._topic_default_levels())

    def resolve_topic_configs(self, configs: Mapping[str, object]) -> dict[str, ResolvedConfig]:
        """Every config a topic created with ``configs`` has on this node (checked: InvalidConfig)."""
        return topic_config.resolve_levels(self.validate_topic_configs(configs), self._topic_default_levels())

    def cluster_configs(self) -> dict[str, ResolvedConfig]:
        """The configs a topic without any of its own has on this node (its dynamic broker configs,
        over cluster.ini's, over Kafka's)."""
        return topic_config.resolve_levels({}, self._topic_default_levels())

    def log_config(self, topic: str) -> LogConfig:
        """``topic``'s effective configs as typed fields (produce checks, retention, compaction).
        Resolved once per metadata view (views are immutable and replaced on every change): produce
        asks for every batch."""
        view = self.replicas.metadata.view
        cache_view, cache = self._log_configs
        if cache_view is not view:
            cache = {}
            self._log_configs = (view, cache)
        found = cache.get(topic)
        if found is None:
            meta = view.topics.get(topic)
            if meta is None:
                raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
            found = cache[topic] = topic_config.log_config(meta.configs, self._topic_defaults())
        return found

    async def alter_configs(self, topic: str, changes: Sequence[ConfigChange], *, replace: bool = False,
                            validate_only: bool = False) -> None:
        """Apply ``changes`` to ``topic``'s configs in one metadata entry (with ``replace``, configs
        not set by them go back to their defaults). Checked whole first: nothing is half-applied."""
        meta = self.replicas.metadata.view.topics.get(topic)
        if meta is None:
            raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        defaults = self._topic_defaults()
        update = topic_config.plan_update(meta.configs, defaults, changes, replace=replace)
        self._check_effective(update.applied_to(meta.configs))
        if validate_only:
            return
        await self._propose_to_controller(encode_command("alter_configs", name=topic, set=update.set,
                                                    delete=list(update.delete), replace=update.replace))

    # --- dynamic broker configs (kraft.broker_config), replicated by the metadata group -------------
    def dynamic_broker_configs(self) -> Mapping[str, Mapping[str, str]]:
        """Every broker's dynamic configs as text, by broker id ("" for the cluster-wide defaults)."""
        return self.replicas.metadata.records[BROKER_CONFIGS]

    def describe_broker_configs(self, broker: str) -> list[broker_config.BrokerConfig]:
        """Every dynamic-capable config of ``broker`` (a node id, or "") with its value and sources."""
        return broker_config.describe(self.dynamic_broker_configs(), broker, self.config.topic_config_defaults())

    async def alter_broker_configs(self, broker: str, changes: Sequence[ConfigChange], *, replace: bool = False,
                                   validate_only: bool = False) -> None:
        """Apply ``changes`` to ``broker``'s dynamic configs ("": the cluster-wide defaults) in one
        metadata entry; checked whole first (the topic defaults they make too), nothing half-applied."""
        dynamic = self.dynamic_broker_configs()
        update = broker_config.plan_update(dynamic.get(broker, {}), changes, replace=replace)
        after = {**dynamic, broker: update.applied_to(dynamic.get(broker, {}))}
        node = int(broker) if broker else -1  # "": the cluster-wide level alone
        defaults = broker_config.topic_defaults(after, node, self.config.topic_config_defaults())
        topic_config.check_effective(topic_config.resolve({}, defaults), max_record_bytes=self.config.max_record_bytes)
        if validate_only:
            return
        await self._propose_to_controller(encode_command("alter_broker_configs", broker=broker, set=update.set,
                                                         delete=list(update.delete), replace=update.replace))

    # --- SCRAM credentials (kraft.scram): stored and described, never used (kraft has no SASL) -------
    def describe_scram_credentials(self, users: Sequence[str] | None) -> list[scram.UserCredentials]:
        return scram.describe(self.replicas.metadata.records[SCRAM_CREDENTIALS], users)

    async def alter_scram_credentials(self, deletions: Sequence[scram.Deletion],
                                      upsertions: Sequence[scram.Upsertion]) -> dict[str, errors.KraftError | None]:
        """Every user of the request with its outcome (None: changed), in the order users appear;
        the accepted users' changes are one metadata entry."""
        checked = scram.check_alterations(deletions, upsertions)
        outcome: dict[str, errors.KraftError | None] = {
            user: checked.refused.get(user) for user in scram.users_of(deletions, upsertions)}
        if checked.deletions or checked.upsertions:
            results = await self._propose_to_controller(encode_command(
                "alter_scram_credentials", deletions=checked.deletions, upsertions=checked.upsertions))
            for user, code in results:
                outcome[user] = errors.error_for_code(code, f"user {user!r}: a credential to delete does not exist") \
                    if code else None
        return outcome

    # --- reassignments (moves of partitions between nodes) ---------------------------------------
    async def reassign_partitions(self, topic: str, moves: Mapping[int, Sequence[int] | None], *,
                                  allow_replication_factor_change: bool = True) -> None:
        """Move partitions of ``topic`` to other replicas (``None``: cancel a move, back to the
        replicas it started from). Checked whole first; the partitions' leaders carry the moves out.
        Without ``allow_replication_factor_change`` (Kafka's KIP-860), a move to another number of
        replicas is refused."""
        view = self.replicas.metadata.view
        meta = view.topics.get(topic)
        if meta is None:
            raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        nodes = every_node(self.config, view)
        known = [n.id for n in nodes]
        leaving = {n.id for n in nodes if n.decommissioned}
        for p, replicas in moves.items():
            if not 0 <= p < len(meta.partitions):
                raise errors.UnknownTopicOrPartition(f"{topic} has no partition {p}")
            if replicas is not None and (not replicas or len(set(replicas)) != len(replicas)
                                         or not set(replicas) <= set(known)):
                raise errors.InvalidReplicaAssignment(
                    f"partition {p}: replicas {list(replicas)} must be distinct nodes of the cluster "
                    f"({', '.join(map(str, known))})")
            added_leaving = sorted(set(replicas or ()) & leaving - set(meta.partitions[p].hosts))
            if added_leaving:
                raise errors.InvalidReplicaAssignment(
                    f"partition {p}: nodes {added_leaving} are decommissioned: no replica moves to them")
            if replicas is None and meta.partitions[p].target is None:
                raise errors.NoReassignmentInProgress(f"{topic}/{p} is not being moved")
            if replicas is not None and not allow_replication_factor_change \
                    and len(replicas) != len(meta.partitions[p].replicas):
                raise errors.InvalidReplicationFactor(
                    f"partition {p}: {len(replicas)} replicas for {len(meta.partitions[p].replicas)}, and the "
                    "request does not allow the replication factor to change")
        await self._propose_to_controller(encode_command(
            "reassign_partitions", topic=topic,
            partitions=[[p, None if r is None else list(r)] for p, r in sorted(moves.items())]))

    def _leader_view(self, from_leader: bool) -> MetadataView:
        """This node's metadata view; with ``from_leader``, only on the metadata leader once it has
        applied what its term committed (a follower's view may lag: a move it has not seen finish, or
        one it has not seen start), else NotController, which clients retry at the leader."""
        group = self.replicas.meta_group
        if from_leader and not group.leadership_ready():
            leader = group.leader_id()
            raise errors.NotController("this node does not lead the metadata group" + (
                f" (node {leader} does)" if leader is not None else " (no leader right now)"))
        return self.replicas.metadata.view

    async def plan_rebalance(self, from_leader: bool = False) -> Plan:
        """The moves that spread replicas and preferred leaders evenly over the nodes (off any
        decommissioned one), as this node's metadata has the assignment (``kraft.rebalance``)."""
        view = self._leader_view(from_leader)
        # Pure over an immutable view: planned on a worker thread, so a large cluster's plan (a
        # fraction of a second for 10,000 partitions) does not hold up this node's clients.
        return await asyncio.to_thread(plan, planning_nodes(self.config, view), assignment(view))

    async def decommission_nodes(self, node_ids: Sequence[int]) -> Plan:
        """Mark ``node_ids`` as leaving (no new replica goes to them) and answer the moves of every
        replica off them (only those partitions change), which the caller carries out; several at once
        move each replica once (one at a time, the first node's might go to the second). Refused
        before anything changes: BrokerIdNotRegistered for a node the cluster does not know,
        NotEnoughNodes when the nodes left could not hold some topic's replication factor. Again for
        nodes being decommissioned: the moves still to make."""
        view = self.replicas.metadata.view
        unknown = sorted(set(node_ids) - set(view.nodes))
        if unknown or not node_ids:
            known = ", ".join(map(str, sorted(view.nodes))) or "none yet"
            raise errors.BrokerIdNotRegistered(f"node {', '.join(map(str, unknown)) or '(none given)'} is not "
                                               f"registered in the cluster (nodes: {known})")
        nodes = planning_nodes(self.config, view, leaving=set(node_ids))
        parts = assignment(view)
        check_capacity(nodes, parts)
        for node_id in sorted(set(node_ids)):
            if not view.nodes[node_id].decommissioned:
                await self._propose_to_controller(encode_command("decommission_node", node=node_id))
        return await asyncio.to_thread(functools.partial(plan, nodes, parts, balance=False))

    def reassignments(self, from_leader: bool = False) -> list[Reassignment]:
        """Every partition being moved, as this node's metadata has it (``from_leader``: the metadata
        leader's, see ``_leader_view``)."""
        return [Reassignment(t.name, p.partition, p.replicas, p.target)
                for t in self._leader_view(from_leader).topics.values() for p in t.partitions if p.target is not None]

    # --- leadership ---------------------------------------------------------------------------------
    async def elect_preferred_leader(self, topic: str, partition: int, timeout_s: float) -> LeaderElection:
        """On the partition's leader: hand leadership to its preferred replica (the first of its
        replicas) and wait until that one leads; answers the election with ``error`` None.

        Raises ``ElectionNotNeeded`` when the preferred replica leads already; ``NotLeader`` (with the
        leader, if known) or ``LeaderNotAvailable`` when this node does not lead the partition, also
        when leadership went to another replica meanwhile (ask that one); and
        ``PreferredLeaderNotAvailable`` when the preferred replica has not taken over within
        ``timeout_s``: Raft hands leadership only to a voter whose log matches the leader's, so one
        that is down, cut off, a learner or behind (under heavy writes) does not get it.
        """
        replica = self._replica(topic, partition)
        preferred = replica.meta.replicas[0]
        group = replica.group
        if group.leader_id() == preferred:
            raise errors.ElectionNotNeeded(f"node {preferred}, the preferred replica, leads {topic}/{partition}")
        self._leader_replica(topic, partition)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        offered: list[bool] = []  # hand_over_to's answers (driver thread)
        next_offer = 0.0
        while True:
            leader = group.leader_id()
            if leader == preferred:
                return LeaderElection(topic, partition, preferred, leader)
            if leader is not None and leader != self.node_id:
                raise errors.NotLeader(f"node {leader} leads {topic}/{partition} now", leader=leader)
            now = loop.time()
            if now >= deadline:
                raise errors.PreferredLeaderNotAvailable(
                    f"{topic}/{partition}: {self._why_not_leading(group, preferred, offered)}")
            if now >= next_offer and leader == self.node_id:
                next_offer = now + HANDOVER_RETRY_S
                self.host.call(lambda: offered.append(group.hand_over_to(preferred)))
            await asyncio.sleep(ELECTION_POLL_S)

    def _why_not_leading(self, group: RaftGroup, preferred: int, offered: list[bool]) -> str:
        if not self.host.connected_peers().get(preferred, False):
            return f"node {preferred}, the preferred replica, is not connected to the leader (down or cut off)"
        if preferred in group.learners():
            return f"node {preferred}, the preferred replica, is a learner still catching up (a replaced disk)"
        if offered and not any(offered):
            return f"node {preferred}, the preferred replica, has not caught up with the leader's log"
        return f"node {preferred}, the preferred replica, did not win its election in time"

    # --- this node ------------------------------------------------------------------------------
    def node_status(self) -> NodeStatus:
        """This node's view of its peers and of the partition replicas it hosts."""
        replicas = []
        with self.host.store.read() as committed:
            for replica in list(self.replicas.partitions.values()):
                state = replica.log.read_state(committed)
                replicas.append(ReplicaStatus(
                    topic=replica.meta.topic,
                    partition=replica.meta.partition,
                    leader=replica.group.leader_id(),
                    term=replica.group.raftCurrentTerm,
                    commit_index=replica.group.raftCommitIndex,
                    high_watermark=state["next_offset"],
                    log_start_offset=state["log_start_offset"],
                    size_bytes=replica.log.size(committed),
                    learner=replica.group.is_learner(),
                    last_index=replica.journal.last_index,
                    applied_index=replica.group.raftLastApplied,
                    compaction_settled=replica.log.compaction_settled_in(committed, replica.machine.compaction_epoch),
                    serving=replica.group.leadership_ready(),
                    followers=replica.group.follower_states(),
                ))
        throttle = self.replicas.timers.learner_throttle
        return NodeStatus(self.node_id, self.host.connected_peers(), tuple(replicas),
                          metadata_learner=self.replicas.meta_group.is_learner(), rejoining=self.replicas.rejoining,
                          learner_throttle=throttle.stats() if throttle is not None else ThrottleStats(0, 0, 0))

    def log_dir(self) -> LogDir:
        """This node's data directory (every replica's data is in it) and its volume's space."""
        path = self.config.node_data_dir(self.node_id)
        try:
            usage = shutil.disk_usage(path)
        except OSError:  # not there (an in-process node keeps its data in memory)
            return LogDir(str(path), -1, -1)
        return LogDir(str(path), usage.total, usage.free)

    def set_network_faults(self, faults: NetworkFaults | None) -> None:
        """This node's Raft network faults from the next driver iteration on (only on a node started
        with KRAFT_FAULTS=1); None, or faults that do nothing, switch them off."""
        if not faults_allowed():
            raise errors.UnsupportedRequest("fault injection is off on this node (start it with KRAFT_FAULTS=1)")
        if faults is not None and not (faults.blocked or faults.loss or faults.duplicate or faults.delay_s):
            faults = None
        self.host.call(lambda: self.host.set_faults(faults))

    # --- ACLs (kraft.state.acls, kraft.authorizer) ---------------------------------------------------
    def acls(self) -> AclSet:
        """The cluster's ACL bindings, as this node's metadata has them."""
        return self.replicas.metadata.view.acls

    def topic_names(self) -> list[str]:
        return sorted(self.replicas.metadata.view.topics)

    def answer_without_acls(self) -> bool | None:
        """What every check answers while the cluster has no ACL binding (``acl_allow_if_no_acl``),
        or None when it has some: the handlers' checks need no principal and no lookup then."""
        return None if self.acls().bindings else self.config.acl_allow_if_no_acl

    def authorize(self, who: Principal, operation: int, resource_type: int, name: str) -> bool:
        return authorizer.authorize(self.acls(), who, operation, resource_type, name,
                                    self.config.acl_allow_if_no_acl)

    def authorize_any_topic(self, who: Principal, operation: int) -> bool:
        return authorizer.authorize_any_topic(self.acls(), who, operation, self.config.acl_allow_if_no_acl)

    async def create_acls(self, bindings: Sequence[AclBinding]) -> list[errors.KraftError | None]:
        """Add bindings in one metadata entry; per binding, its error (None: added, or there already)."""
        results = await self._propose_to_controller(encode_command("create_acls", acls=[b.row() for b in bindings]))
        return [errors.error_for_code(code, message) if code else None for code, message in results]

    async def delete_acls(self, filters: Sequence[AclFilter]) -> list[AclsDeleted]:
        """Delete every binding any filter matches, in one metadata entry; per filter, its error or the
        bindings it matched (and deleted)."""
        results = await self._propose_to_controller(encode_command("delete_acls", filters=[f.row() for f in filters]))
        return [(errors.error_for_code(code, message) if code else None, [AclBinding.from_row(r) for r in rows])
                for code, message, rows in results]
