"""``Admin``: topic management, cluster inspection and leadership, and consumer groups; synchronous,
thread-safe.

A thin facade: each call is one coroutine on the client core's loop, wrapped in the core's retry
policy (retriable errors refresh metadata and back off until ``request_timeout_ms``). Group calls
go to the group coordinator (``find_coordinator``, cached until NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE or a lost connection).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kraft.errors import (
    BrokerIdNotRegistered,
    CoordinatorNotAvailable,
    GroupIdNotFound,
    InvalidPartitions,
    InvalidReplicaAssignment,
    KraftConnectionError,
    KraftError,
    LeaderNotAvailable,
    NoReassignmentInProgress,
    NotController,
    NotCoordinator,
    NotEnoughNodes,
    RequestTimedOut,
    UnknownTopicOrPartition,
    error_for_code,
)
from kraft.state.acls import AclBinding, AclFilter

from .client_core import Address, ClientCore, error_from_result
from .types import (
    ClusterDescription,
    ConfigEntry,
    GroupDescription,
    LeaderElection,
    MemberInfo,
    NodeDescription,
    PartitionInfo,
    PartitionOffsets,
    PlannedMove,
    Reassignment,
    RebalancePlan,
    TopicDescription,
    TopicPartition,
)

EARLIEST = -2
LATEST = -1
ELECT_CHUNK = 100  # partitions per elect_leaders request (progress is reported per answer)
ELECT_IN_FLIGHT = 4  # elect_leaders requests at once
ELECT_ANSWER_GRACE_MS = 5000  # a node answers by the election's deadline; allow this more on the wire
_COORDINATOR_ERRORS = (NotCoordinator, CoordinatorNotAvailable, KraftConnectionError, RequestTimedOut)


class Admin:
    def __init__(self, bootstrap: str | list[str], *, request_timeout_ms: int = 30000,
                 connect_timeout_ms: int = 10000, **core_options: Any) -> None:
        self._core = ClientCore(bootstrap, request_timeout_ms=request_timeout_ms,
                                connect_timeout_ms=connect_timeout_ms, name="kraft-admin", **core_options)
        self._coordinators: dict[str, Address] = {}  # group id -> coordinator address (loop thread)

    # --- topics -----------------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int | None = None, replication_factor: int | None = None,
                     config: Mapping[str, object] | None = None, *,
                     configs: Mapping[str, object] | None = None) -> None:
        """Create ``name``; None partitions/replication_factor take the cluster defaults. ``config``
        sets topic configs by Kafka's names (``{"cleanup.policy": "compact", "retention.ms": 3600000}``;
        values as str, int or float); ``configs`` is the older spelling of the same. An unknown name or
        a bad value raises InvalidConfig naming it, and nothing is created."""
        if config is not None and configs is not None:
            raise ValueError("give config= or configs= (the same thing), not both")
        chosen = config if config is not None else configs
        body = {"name": name, "partitions": partitions, "replication_factor": replication_factor,
                "configs": dict(chosen or {})}
        self._run(self._to_controller("create_topic", body))

    def describe_configs(self, topic: str) -> dict[str, ConfigEntry]:
        """Every config of ``topic`` by name: its value, its source (``"topic"``, ``"cluster"`` or
        ``"default"``) and the value it would have without its own. Raises UnknownTopicOrPartition."""
        async def op() -> dict[str, ConfigEntry]:
            answer = await self._to_controller("describe_configs", {"topic": topic})()
            return {str(c["name"]): ConfigEntry(c["value"], str(c["source"]), c["default"])
                    for c in answer["configs"]}
        return self._run(op, final=(UnknownTopicOrPartition,))

    def alter_configs(self, topic: str, set: Mapping[str, object] | None = None,
                      delete: Iterable[str] | None = None, *, validate_only: bool = False) -> None:
        """Set the configs in ``set`` and remove those in ``delete`` (back to the cluster's default)
        in one step: an unknown name or a bad value raises InvalidConfig naming it and changes
        nothing. ``validate_only`` checks without changing. Raises UnknownTopicOrPartition."""
        names = [delete] if isinstance(delete, str) else list(delete or ())  # one name is not a list of letters
        body = {"topic": topic, "set": dict(set or {}), "delete": names, "validate_only": validate_only}
        self._run(self._to_controller("alter_configs", body), final=(UnknownTopicOrPartition,))

    def create_partitions(self, topic: str, total: int, *, assignment: Iterable[Iterable[int]] | None = None,
                          validate_only: bool = False) -> None:
        """Grow ``topic`` to ``total`` partitions (Kafka's ``AdminClient.create_partitions`` for one
        topic; ``total`` is the new count, as Kafka's ``NewPartitions``, not the number added).

        The new partitions are placed by the cluster as if the topic had been created with
        ``total`` (replicas and preferred leaders spread over nodes and racks), or on ``assignment``,
        one list of node ids per new partition (the first its preferred leader). Configs and the
        existing partitions stay. Producers start using the new partitions at their next metadata
        refresh (``metadata_max_age_ms``), and groups subscribed to the topic rebalance onto them; a
        keyed record may map to another partition from then on than before (``murmur2(key) %
        partitions``), as in Kafka.
        Raises InvalidPartitions unless ``total`` is above the current count, InvalidReplicaAssignment
        for a bad ``assignment``, UnknownTopicOrPartition. ``validate_only`` checks and changes nothing.

        A retry after an answer was lost (the change may have been made) that finds the topic at
        ``total`` partitions already counts as done."""
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"total must be an int (the new partition count), not {total!r}")
        replicas = None if assignment is None else [list(r) for r in assignment]
        body = {"topic": topic, "total": total, "assignment": replicas, "validate_only": validate_only}
        attempts = 0
        request = self._to_controller("create_partitions", body)

        async def op() -> None:
            nonlocal attempts
            attempts += 1
            try:
                await request()
            except InvalidPartitions:
                if attempts == 1 or validate_only:
                    raise
                metadata = await self._core.refresh_metadata()
                if metadata.partition_count(topic) != total:
                    raise
        self._run(op, final=(UnknownTopicOrPartition,))

    def delete_topic(self, name: str) -> None:
        self._run(self._to_controller("delete_topic", {"name": name}), final=(UnknownTopicOrPartition,))

    def list_topics(self) -> list[str]:
        """Names of every topic, sorted."""
        async def op() -> list[str]:
            return sorted((await self._core.refresh_metadata()).topics)
        return self._run(op)

    def describe_topic(self, name: str) -> TopicDescription:
        """Partitions of ``name`` with leader, replicas and high watermark (0 when leaderless, -1 when
        the leader does not answer in time, e.g. a paused node), and the leader's log start offset
        and size in bytes (None in both cases).

        Raises UnknownTopicOrPartition at once if the topic is not in the metadata."""
        return self._run(lambda: self._describe_with_logs(name), final=(UnknownTopicOrPartition,))

    def node_status(self, node_id: int) -> dict[str, Any]:
        """The raw ``node_status`` answer of one node (peers, Raft groups)."""
        async def op() -> dict[str, Any]:
            await self._core.fresh_metadata()
            return await self._core.request_node(node_id, "node_status", {})
        return self._run(op)

    # --- the cluster and its leaders ----------------------------------------------------------------

    def describe_cluster(self) -> ClusterDescription:
        """The cluster's id (given once, when it was founded), its controller (the metadata group's
        leader) and its nodes' client listeners, from fresh metadata."""
        async def op() -> ClusterDescription:
            m = await self._core.refresh_metadata()
            return ClusterDescription(m.cluster_id, m.controller, [
                NodeDescription(n.node_id, n.host, n.port, n.rack, n.http_port) for _, n in sorted(m.nodes.items())],
                m.metadata_voters, m.metadata_learners)
        return self._run(op)

    def elect_leaders(self, topic: str | None = None, partitions: Iterable[int] | None = None, *,
                      timeout_ms: int = 30000,
                      on_progress: Callable[[int, int], None] | None = None) -> list[LeaderElection]:
        """Make each partition's preferred replica (the first of its replicas) its leader: every
        partition of ``topic`` (of every topic when None), or only ``partitions`` of it.

        Each partition's current leader hands leadership to the preferred replica once that one's log
        matches its own; one ``LeaderElection`` per partition, sorted, says what happened by
        ``timeout_ms`` (the nodes cap it at their ``request_timeout_ms``): ``error`` None (elected),
        ElectionNotNeeded (the preferred replica led already), PreferredLeaderNotAvailable (it did not
        take over: down, cut off, or catching up), ... Raises UnknownTopicOrPartition for a topic or
        partition that does not exist. ``on_progress(answered, total)`` is called as partitions are
        answered (on the client's thread; ``ELECT_CHUNK`` partitions per request)."""
        wanted = None if partitions is None else sorted(set(partitions))
        if wanted is not None and topic is None:
            raise ValueError("partitions= needs topic=")
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms}")
        return self._core.run(self._elect_leaders(topic, wanted, timeout_ms, on_progress))

    # --- records and log sizes ---------------------------------------------------------------------

    def delete_records(self, topic: str, before_offsets: dict[int, int]) -> dict[int, int]:
        """Delete the records of ``topic`` below ``before_offsets[partition]`` (-1: the high
        watermark) on every replica; returns each partition's new log start (low watermark).

        Whole batches go; a log start inside a batch keeps the batch and readers skip the records
        below it. An offset at or below the log start changes nothing. Each partition is asked of
        its leader, and a leader change is retried until ``request_timeout_ms``; the first error that
        is not retriable is raised (OffsetOutOfRange beyond the high watermark,
        UnknownTopicOrPartition), and partitions deleted before it stay deleted."""
        bad = {p: o for p, o in before_offsets.items() if o < -1}
        if bad:
            raise ValueError(f"offsets must be >= 0 or -1 (the high watermark), got {bad}")
        done: dict[int, int] = {}  # partition -> new log start, kept across retries
        return self._run(lambda: self._delete_records(topic, before_offsets, done), final=(UnknownTopicOrPartition,))

    def reassign_partitions(self, moves: Mapping[tuple[str, int], Sequence[int] | None]) -> None:
        """Move partitions to other replicas: ``{(topic, partition): [node ids]}`` (the first node is
        the preferred leader; ``None`` cancels a move in progress, back to the replicas it started
        from). Returns once the metadata group has taken the moves; each partition's leader then
        carries its move out (a learner added, caught up, promoted; the old replicas removed, the
        leader last), which ``list_partition_reassignments`` and ``describe_topic`` show.
        Raises InvalidReplicaAssignment (unknown or repeated nodes), UnknownTopicOrPartition,
        NoReassignmentInProgress (a cancel of a partition that is not moving)."""
        by_topic: dict[str, dict[int, list[int] | None]] = {}
        for (topic, partition), replicas in moves.items():
            by_topic.setdefault(topic, {})[partition] = None if replicas is None else list(replicas)
        for topic, partitions in by_topic.items():
            self._run(self._to_controller("reassign_partitions", {"topic": topic, "partitions": partitions}),
                      final=(UnknownTopicOrPartition, InvalidReplicaAssignment, NoReassignmentInProgress))

    def list_partition_reassignments(self) -> dict[tuple[str, int], Reassignment]:
        """Every partition being moved: its replicas now and the replicas it moves to."""
        answer = self._run(self._to_controller("list_reassignments", {"from_leader": True}))
        return {(r["topic"], r["partition"]): Reassignment(r["topic"], r["partition"], list(r["replicas"]),
                                                             list(r["target"])) for r in answer["reassignments"]}

    # --- rebalance and decommission -----------------------------------------------------------------

    def plan_rebalance(self) -> RebalancePlan:
        """The moves that would spread replicas and preferred leaders evenly over the cluster's nodes
        (and off any decommissioned one), with the fewest replicas moved; a balanced cluster gets none.
        Computed by the metadata leader from its view; nothing moves (``rebalance`` starts them)."""
        return _rebalance_plan(self._run(self._to_controller("plan_rebalance", {"from_leader": True})))

    def rebalance(self, plan: RebalancePlan | None = None) -> RebalancePlan:
        """Start the moves of ``plan`` (of a new ``plan_rebalance`` when None) through the
        reassignment path (``reassign_partitions``) and return it; ``list_partition_reassignments``
        follows them. Leadership goes to each partition's new preferred replica through leader
        balancing (or at once with ``elect_leaders``)."""
        plan = self.plan_rebalance() if plan is None else plan
        self.reassign_partitions({(m.topic, m.partition): m.planned for m in plan.moves})
        return plan

    def decommission_node(self, node_id: int) -> RebalancePlan:
        """Mark ``node_id`` as leaving (no new replica goes to it, also when it restarts) and start
        moving every replica off it; returns those moves (only the partitions on it change).
        ``replicas_on`` tells when the node holds none, and may be stopped. Asking again for a node
        being decommissioned starts the moves still missing. Raises BrokerIdNotRegistered for a node
        the cluster does not know, NotEnoughNodes when the nodes left could not hold some topic's
        replication factor; nothing changes then."""
        return self.decommission_nodes([node_id])

    def decommission_nodes(self, node_ids: Iterable[int]) -> RebalancePlan:
        """``decommission_node`` for several nodes at once: each replica moves once, to a node that
        stays (one node at a time, the first one's replicas might go to the next)."""
        answer = self._run(self._to_controller("decommission_node", {"nodes": sorted(set(node_ids))}),
                           final=(BrokerIdNotRegistered, NotEnoughNodes))
        plan = _rebalance_plan(answer)
        self.reassign_partitions({(m.topic, m.partition): m.planned for m in plan.moves})
        return plan

    def replicas_on(self, node_id: int) -> list[TopicPartition]:
        """The partitions ``node_id`` holds a replica of or is getting one of (a move to it), sorted,
        as the metadata has it (the node drops a replica shortly after it leaves the metadata)."""
        async def op() -> list[TopicPartition]:
            metadata = await self._core.refresh_metadata()
            moving = await self._to_controller("list_reassignments", {"from_leader": True})()
            found = {TopicPartition(t.name, p.partition) for t in metadata.topics.values() for p in t.partitions
                     if node_id in p.replicas}
            found |= {TopicPartition(r["topic"], r["partition"]) for r in moving["reassignments"]
                      if node_id in r["target"] or node_id in r["replicas"]}
            return sorted(found)
        return self._run(op)

    def describe_log_dirs(self) -> dict[int, dict[tuple[str, int], int]]:
        """Node id -> (topic, partition) -> bytes of that node's replica (its stored batches from the
        log start on), from every node's ``node_status``. A node that does not answer in time (down,
        paused) is left out."""
        async def op() -> dict[int, dict[tuple[str, int], int]]:
            metadata = await self._core.refresh_metadata()

            async def ask(node_id: int) -> tuple[int, dict[tuple[str, int], int]] | None:
                try:
                    answer = await self._core.request_node(node_id, "node_status", {})
                except (RequestTimedOut, KraftConnectionError):
                    return None
                return node_id, {(str(g["topic"]), int(g["partition"])): int(g["size_bytes"])
                                 for g in answer["groups"] if g.get("size_bytes") is not None}

            found = await asyncio.gather(*(ask(n) for n in sorted(metadata.nodes)))
            return dict(r for r in found if r is not None)
        return self._run(op)

    # --- consumer groups --------------------------------------------------------------------------

    def list_groups(self) -> list[str]:
        """Ids of every group the coordinator knows (with members or committed offsets), sorted."""
        async def op() -> list[str]:
            answer = await self._to_coordinator("", "list_groups", {})
            return sorted(str(g) for g in answer["groups"])
        return self._run(op)

    def describe_group(self, group_id: str) -> GroupDescription:
        """State, generation and members of ``group_id``, and for every partition the group
        committed or is assigned: committed offset, end offset (``list_offsets`` at the partition's
        leader; None when unknown) and lag. Raises GroupIdNotFound."""
        return self._run(lambda: self._describe_group(group_id), final=(GroupIdNotFound,))

    def reset_offsets(
        self,
        group_id: str,
        topic: str,
        to: str | int | None = None,
        *,
        to_timestamp_ms: int | None = None,
        partitions: list[int] | None = None,
    ) -> dict[TopicPartition, int]:
        """Set the committed offsets of ``group_id`` for ``topic`` (every partition, or
        ``partitions``) and return them. ``to`` is ``"earliest"``, ``"latest"`` or an offset (kept
        within each partition's earliest..latest); ``to_timestamp_ms`` instead picks each
        partition's first offset whose batch has a timestamp >= it (latest when none has).

        An administrative commit (member "", generation -1): the coordinator refuses it with
        NonEmptyGroup while the group has members — stop the consumers first."""
        if (to is None) == (to_timestamp_ms is None):
            raise ValueError("give exactly one of to= ('earliest', 'latest', an offset) and to_timestamp_ms=")
        if isinstance(to, str) and to not in ("earliest", "latest"):
            raise ValueError(f"to must be 'earliest', 'latest' or an offset, got {to!r}")
        if isinstance(to, int) and to < 0:
            raise ValueError(f"offset must be >= 0, got {to}")
        if to_timestamp_ms is not None and to_timestamp_ms < 0:
            raise ValueError(f"to_timestamp_ms must be >= 0, got {to_timestamp_ms}")
        return self._run(lambda: self._reset_offsets(group_id, topic, to, to_timestamp_ms, partitions),
                         final=(UnknownTopicOrPartition,))

    # --- ACLs (kraft.state.acls) --------------------------------------------------------------------

    def describe_acls(self, *filters: AclFilter) -> list[AclBinding]:
        """The cluster's ACL bindings any of ``filters`` matches (none given: every binding), sorted."""
        body = {"filters": [f.row() for f in filters or (AclFilter(),)]}
        answer = self._run(self._to_controller("describe_acls", body))
        return sorted(AclBinding.from_row(r) for r in answer["acls"])

    def create_acls(self, bindings: Iterable[AclBinding]) -> None:
        """Add bindings (one metadata entry; one that exists already is no change); the first
        binding's error, if any, is raised."""
        answer = self._run(self._to_controller("create_acls", {"acls": [b.row() for b in bindings]}))
        for code, message in answer["results"]:
            if code:
                raise error_for_code(code, message)

    def delete_acls(self, *filters: AclFilter) -> list[AclBinding]:
        """Delete every binding any of ``filters`` matches (one metadata entry); the bindings deleted."""
        answer = self._run(self._to_controller("delete_acls", {"filters": [f.row() for f in filters]}))
        deleted: set[AclBinding] = set()
        for r in answer["results"]:
            if r["error_code"]:
                raise error_for_code(r["error_code"], r["message"])
            deleted.update(AclBinding.from_row(b) for b in r["acls"])
        return sorted(deleted)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------

    def _run(self, op: Any, final: tuple[type[KraftError], ...] = ()) -> Any:
        """``op`` with the core's retry policy; errors in ``final`` are not retried even if
        retriable (a topic that is not there is an answer for delete/describe, not a glitch)."""
        return self._core.run(self._core.retrying(op, final=final))

    def _to_controller(self, api: str, body: dict[str, Any]) -> Any:
        async def op() -> dict[str, Any]:
            metadata = await self._core.fresh_metadata()
            if metadata.controller is None or metadata.controller not in metadata.nodes:
                return await self._core.request_any(api, body)
            try:
                return await self._core.request_node(metadata.controller, api, body)
            except NotController:
                await self._core.refresh_metadata()
                raise
        return op

    async def _to_coordinator(self, group_id: str, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to the coordinator of ``group_id``; a coordinator error forgets it and is
        raised (to the retry policy). The coordinator of every group is the metadata leader, so
        group-less calls (``list_groups``, group_id "") go to the metadata's controller."""
        address = self._coordinators.get(group_id)
        if address is None:
            address = await self._find_coordinator(group_id)
        try:
            return await self._core.request(address, api, body)
        except _COORDINATOR_ERRORS:
            self._coordinators.pop(group_id, None)
            raise

    async def _find_coordinator(self, group_id: str) -> Address:
        if group_id:
            answer = await self._core.request_any("find_coordinator", {"group_id": group_id})
            address = (str(answer["host"]), int(answer["port"]))
        else:
            metadata = await self._core.refresh_metadata()
            if metadata.controller is None or metadata.controller not in metadata.nodes:
                raise CoordinatorNotAvailable("the cluster has no metadata leader at the moment")
            address = self._core.node_address(metadata.controller)
        self._coordinators[group_id] = address
        return address

    async def _describe_group(self, group_id: str) -> GroupDescription:
        answer = await self._to_coordinator(group_id, "describe_group", {"group_id": group_id})
        members = [
            MemberInfo(str(m["member_id"]), str(m.get("client_id", "")), str(m.get("host", "")),
                       sorted(TopicPartition(t, p) for t, p in m.get("assignment") or []))
            for m in answer.get("members") or []
        ]
        committed = {TopicPartition(o["topic"], o["partition"]): o["offset"] for o in answer.get("offsets") or []}
        partitions = set(committed) | {tp for m in members for tp in m.assignment}
        ends = await self._end_offsets(sorted(partitions))
        offsets = []
        for tp in sorted(partitions):
            done = committed.get(tp)
            done = done if done is not None and done >= 0 else None
            end = ends.get(tp)
            lag = max(0, end - done) if end is not None and done is not None else None
            offsets.append(PartitionOffsets(tp.topic, tp.partition, done, end, lag))
        return GroupDescription(str(answer.get("group_id", group_id)), str(answer.get("state", "")),
                                int(answer.get("generation", -1)), members, offsets, answer.get("strategy"))

    async def _end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Best effort: partitions whose leader is unknown or errs are left out."""
        try:
            return await self._list_offsets(partitions, lambda tp: LATEST, strict=False)
        except KraftError:
            return {}

    async def _list_offsets(self, partitions: list[TopicPartition], timestamp: Any,
                            strict: bool = True) -> dict[TopicPartition, int]:
        """``list_offsets`` of each partition at its leader; ``timestamp(tp)`` is -2, -1 or ms.
        ``strict``: raise the first error (else skip the partition)."""
        metadata = await self._core.fresh_metadata()
        if any(metadata.leader_for(*tp) not in metadata.nodes for tp in partitions
               if tp.topic in metadata.topics):
            metadata = await self._core.refresh_metadata()
        by_leader: dict[int, list[TopicPartition]] = defaultdict(list)
        for tp in partitions:
            leader = metadata.leader_for(*tp)
            if leader is None or leader not in metadata.nodes:
                if strict and tp.topic not in metadata.topics:
                    raise UnknownTopicOrPartition(f"topic {tp.topic!r} does not exist")
                if strict:
                    raise LeaderNotAvailable(f"no leader known for {tp.topic}/{tp.partition}")
                continue
            by_leader[leader].append(tp)
        out: dict[TopicPartition, int] = {}
        for leader, tps in by_leader.items():
            try:
                answer = await self._core.request_node(leader, "list_offsets", {"partitions": [
                    {"topic": tp.topic, "partition": tp.partition, "timestamp": timestamp(tp)} for tp in tps]})
            except KraftError:
                if strict:
                    raise
                continue
            for result in answer["partitions"]:
                err = error_from_result(result)
                if err is not None:
                    if strict:
                        raise err
                    continue
                out[TopicPartition(result["topic"], result["partition"])] = int(result["offset"])
        return out

    async def _reset_offsets(self, group_id: str, topic: str, to: str | int | None, to_timestamp_ms: int | None,
                             partitions: list[int] | None) -> dict[TopicPartition, int]:
        metadata = await self._core.refresh_metadata()
        count = metadata.partition_count(topic)
        if count is None:
            raise UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        numbers = list(range(count)) if partitions is None else sorted(set(partitions))
        bad = [p for p in numbers if not 0 <= p < count]
        if bad:
            raise UnknownTopicOrPartition(f"topic {topic} has no partition {bad[0]} (it has {count})")
        tps = [TopicPartition(topic, p) for p in numbers]
        if to_timestamp_ms is not None:
            target = await self._list_offsets(tps, lambda tp: to_timestamp_ms)
        elif to == "earliest":
            target = await self._list_offsets(tps, lambda tp: EARLIEST)
        elif to == "latest":
            target = await self._list_offsets(tps, lambda tp: LATEST)
        else:
            assert isinstance(to, int)
            low = await self._list_offsets(tps, lambda tp: EARLIEST)
            high = await self._list_offsets(tps, lambda tp: LATEST)
            target = {tp: min(max(to, low[tp]), high[tp]) for tp in tps}
        body = {"group_id": group_id, "member_id": "", "generation": -1,
                "offsets": [{"topic": tp.topic, "partition": tp.partition, "offset": off}
                            for tp, off in sorted(target.items())]}
        answer = await self._to_coordinator(group_id, "offset_commit", body)
        for result in answer.get("results", []):
            err = error_from_result(result)
            if err is not None:
                raise err
        return dict(sorted(target.items()))

    async def _describe(self, name: str) -> TopicDescription:
        metadata = await self._core.refresh_metadata()
        topic = metadata.topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartition(f"topic {name!r} does not exist")
        by_leader: dict[int, list[int]] = defaultdict(list)
        for p in topic.partitions:
            if p.leader is not None:
                by_leader[p.leader].append(p.partition)
        watermarks: dict[int, int] = {}

        async def ask(leader: int, partitions: list[int]) -> None:
            try:
                answer = await self._core.request_node(leader, "list_offsets", {"partitions": [
                    {"topic": name, "partition": p, "timestamp": -1} for p in partitions]})
            except (RequestTimedOut, KraftConnectionError):
                return  # a paused or unreachable leader: its partitions show -1, the rest still answer
            for result in answer["partitions"]:
                err = error_from_result(result)
                if err is not None:
                    raise err
                watermarks[result["partition"]] = result["offset"]

        await asyncio.gather(*(ask(leader, parts) for leader, parts in by_leader.items()))
        return TopicDescription(name, [
            PartitionInfo(p.partition, p.leader, list(p.replicas),
                          watermarks.get(p.partition, 0 if p.leader is None else -1))
            for p in topic.partitions
        ])

    async def _delete_records(self, topic: str, before_offsets: dict[int, int], done: dict[int, int]) -> dict[int, int]:
        """One attempt: every partition not ``done`` yet, at its leader as the metadata has it. A
        partition's error is raised after the others were tried (one that is not retriable first),
        so the retry policy asks again only for what is left."""
        metadata = await self._core.fresh_metadata()
        count = metadata.partition_count(topic)
        if count is None:
            metadata = await self._core.refresh_metadata()
            count = metadata.partition_count(topic)
        if count is None:
            raise UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        missing = sorted(p for p in before_offsets if not 0 <= p < count)
        if missing:
            raise UnknownTopicOrPartition(f"topic {topic} has no partition {missing[0]} (it has {count})")
        failures: list[KraftError] = []
        by_leader: dict[int, list[int]] = defaultdict(list)
        for p in sorted(set(before_offsets) - set(done)):
            leader = metadata.leader_for(topic, p)
            if leader is None or leader not in metadata.nodes:
                failures.append(LeaderNotAvailable(f"no leader known for {topic}/{p}"))
            else:
                by_leader[leader].append(p)

        async def ask(leader: int, partitions: list[int]) -> None:
            try:
                answer = await self._core.request_node(leader, "delete_records", {"topic": topic, "partitions": [
                    {"partition": p, "offset": before_offsets[p]} for p in partitions]})
            except KraftError as e:
                failures.append(e)
                return
            for result in answer["partitions"]:
                err = error_from_result(result)
                if err is not None:
                    failures.append(err)
                else:
                    done[int(result["partition"])] = int(result["low_watermark"])

        await asyncio.gather(*(ask(leader, parts) for leader, parts in by_leader.items()))
        if failures:
            raise next((e for e in failures if not e.retriable), failures[0])
        return {p: done[p] for p in sorted(before_offsets)}

    async def _elect_leaders(self, topic: str | None, partitions: list[int] | None, timeout_ms: int,
                             on_progress: Callable[[int, int], None] | None) -> list[LeaderElection]:
        metadata = await self._core.retrying(self._core.refresh_metadata)
        if topic is None:
            targets = [TopicPartition(t, p.partition) for t, meta in sorted(metadata.topics.items())
                       for p in meta.partitions]
        else:
            count = metadata.partition_count(topic)
            if count is None:
                raise UnknownTopicOrPartition(f"topic {topic!r} does not exist")
            bad = [p for p in partitions or () if not 0 <= p < count]
            if bad:
                raise UnknownTopicOrPartition(f"topic {topic} has no partition {bad[0]} (it has {count})")
            targets = [TopicPartition(topic, p) for p in (range(count) if partitions is None else partitions)]
        deadline = time.monotonic() + timeout_ms / 1000
        in_flight = asyncio.Semaphore(ELECT_IN_FLIGHT)
        results: list[LeaderElection] = []

        async def elect(chunk: list[TopicPartition]) -> None:
            async def ask() -> dict[str, Any]:
                left_ms = max(0, int((deadline - time.monotonic()) * 1000))
                body = {"partitions": [{"topic": t, "partition": p} for t, p in chunk], "timeout_ms": left_ms}
                return await self._to_a_node("elect_leaders", body, left_ms + ELECT_ANSWER_GRACE_MS)
            async with in_flight:
                answer = await self._core.retrying(ask, timeout_ms=timeout_ms + ELECT_ANSWER_GRACE_MS)
            for r in answer["partitions"]:
                code = int(r.get("error_code") or 0)
                results.append(LeaderElection(str(r["topic"]), int(r["partition"]), r.get("preferred"),
                                              r.get("leader"),
                                              error_for_code(code, str(r.get("message") or "")) if code else None))
            if on_progress is not None:
                on_progress(len(results), len(targets))

        await asyncio.gather(*(elect(targets[i:i + ELECT_CHUNK]) for i in range(0, len(targets), ELECT_CHUNK)))
        return sorted(results, key=lambda r: (r.topic, r.partition))

    async def _to_a_node(self, api: str, body: dict[str, Any], timeout_ms: float) -> dict[str, Any]:
        """One request that any node answers but that may take ``timeout_ms``: to the controller (as
        Kafka's clients send such requests), else to a node of the metadata, else a bootstrap one."""
        metadata = await self._core.fresh_metadata()
        if metadata.controller is not None and metadata.controller in metadata.nodes:
            address = self._core.node_address(metadata.controller)
        elif metadata.nodes:
            address = self._core.node_address(min(metadata.nodes))
        else:
            address = self._core.bootstrap[0]
        return await self._core.request(address, api, body, timeout_ms)

    async def _describe_with_logs(self, name: str) -> TopicDescription:
        """``_describe`` plus each partition's log start and size, from its leader's ``node_status``
        (left None where the leader is unknown or does not answer in time)."""
        description = await self._describe(name)
        leaders = {p.partition: p.leader for p in description.partitions if p.leader is not None}
        logs: dict[int, tuple[int | None, int | None]] = {}
        states: dict[int, dict[int, str]] = {}

        async def ask(leader: int) -> None:
            try:
                answer = await self._core.request_node(leader, "node_status", {})
            except (RequestTimedOut, KraftConnectionError):
                return
            for g in answer["groups"]:
                if g["topic"] == name and leaders.get(g["partition"]) == leader:
                    logs[g["partition"]] = (g.get("log_start_offset"), g.get("size_bytes"))
                    states[g["partition"]] = {leader: "leader", **{
                        int(n): replica_state(f["state"], int(f["behind"]))
                        for n, f in (g.get("followers") or {}).items()}}

        await asyncio.gather(*(ask(leader) for leader in set(leaders.values())))
        partitions = []
        for p in description.partitions:
            start, size = logs.get(p.partition, (None, None))
            partitions.append(dataclasses.replace(p, log_start_offset=start, size_bytes=size,
                                                  replica_states=states.get(p.partition, {})))
        return dataclasses.replace(description, partitions=partitions)


def _rebalance_plan(answer: dict[str, Any]) -> RebalancePlan:
    """A ``plan_rebalance`` / ``decommission_node`` answer (``kraft.node.handlers._plan``)."""
    def counts(key: str) -> dict[int, int]:
        return {int(n): int(c) for n, c in answer[key]}

    moves = [PlannedMove(str(m["topic"]), int(m["partition"]), list(m["replicas"]),
                         None if m["target"] is None else list(m["target"]), list(m["planned"]))
             for m in answer["moves"]]
    return RebalancePlan(moves, counts("replicas_before"), counts("replicas_after"), counts("leaders_before"),
                         counts("leaders_after"), [int(n) for n in answer.get("decommissioned") or ()])


def replica_state(state: str, behind: int) -> str:
    """A follower's state as tables show it, from its leader's ``node_status``."""
    if state == "learner":
        return f"catching up, {behind} behind"
    if state == "unreachable":
        return "unreachable"
    return "in sync" if behind == 0 else f"behind {behind}"
