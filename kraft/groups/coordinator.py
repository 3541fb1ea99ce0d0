"""The group coordinator: membership rounds, assignments and offset commits, on the node's asyncio loop.

Owns: the in-memory ``Group`` of every active consumer group (on the node that leads the metadata
group, which is the coordinator of all groups), the futures of members waiting in ``join_group``, a
timer that expires silent members and completes rebalances, and the batching of offset commits into
metadata-group entries. Generations and offsets are replicated (kraft.state.metadata), so a
new coordinator continues above the last generation and from the committed offsets.
KIP-848 consumer-protocol groups (ConsumerGroupHeartbeat, kraft.groups.consumer_group) live here
too, beside classic ones: one group id is one or the other (an empty group may switch). Their group
epoch is replicated the way a classic generation is (the same ``group_generation`` command), before
a heartbeat is answered with it.
Must not: decide Raft matters, read sockets, or change a group's state or generation itself (it
calls the ``Group`` method for what happened; kraft.groups.membership's table decides); assignment
is kraft.groups.assignors' job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kraft import errors
from kraft.groups.assignors import assign
from kraft.groups.consumer_group import Answer, ConsumerGroup, Heartbeat
from kraft.groups.consumer_protocol import assignment_partitions, encode_assignment, encode_subscription
from kraft.groups.membership import AWAITING_SYNC, PREPARING, Group, State
from kraft.state.metadata import COMMITTED_OFFSET_MIN, GroupOffsets, MetadataMachine, commit_row, encode_command

log = logging.getLogger(__name__)

OFFSET_METADATA_MAX_BYTES = 4096  # Kafka's offset.metadata.max.bytes
TICK_S = 0.1
_background: set[asyncio.Task[Any]] = set()  # strong references: the loop keeps only weak ones


def _spawn(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)

Propose = Callable[[bytes], Awaitable[Any]]


class CommitBatcher:
    """Turns the commits arriving while one metadata proposal is in flight into the next proposal."""

    def __init__(self, propose: Propose) -> None:
        self._propose = propose
        self._pending: list[tuple[dict[str, Any], asyncio.Future[list[int]]]] = []
        self._running = False
        self.proposals = 0

    async def commit(self, group: str, generation: int | Callable[[], int], offsets: list[list[Any]]) -> list[int]:
        """``generation`` may be a function, read when the proposal leaves (a consumer-protocol
        group's current epoch: a member's commit at its member epoch stays valid across group epoch
        bumps, while a coordinator that lost track of the replicated epoch is still refused)."""
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append(({"group": group, "generation": generation, "offsets": offsets}, fut))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().call_soon(lambda: _spawn(self._drain()))
        return await fut

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                self.proposals += 1
                commits = [{**c, "generation": c["generation"]() if callable(c["generation"]) else c["generation"]}
                           for c, _ in batch]
                try:
                    results = await self._propose(encode_command("commit_offsets", commits=commits))
                except Exception as e:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                for (_, fut), codes in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(codes)
        finally:
            self._running = False


def _commit_fields(offset: tuple[str, int, int] | tuple[str, int, int, str] | tuple[str, int, int, str, int],
                   ) -> tuple[str, int, int, str, int]:
    """(topic, partition, offset, metadata string, leader epoch), the absent ones "" and -1."""
    if len(offset) == 5:
        return offset
    if len(offset) == 4:
        return (*offset, -1)
    return (*offset, "", -1)


CLASSIC_TYPE = "classic"  # Kafka's group types (ListGroups v5, KIP-848)
CONSUMER_TYPE = "consumer"


@dataclass(frozen=True, slots=True)
class GroupListing:
    """One group as ListGroups lists it."""

    group_id: str
    protocol_type: str
    state: str  # Kafka's state names (``membership.State``, ``consumer_group.GroupState``)
    type: str  # CLASSIC_TYPE or CONSUMER_TYPE


def select_groups(groups: Sequence[GroupListing], states: Sequence[str],
                  types: Sequence[str]) -> list[GroupListing]:
    """The groups whose state is one of ``states`` and type one of ``types`` (an empty filter lets
    every group through), both compared without case, as Kafka's ListGroups filters."""
    wanted_states = {s.lower() for s in states}
    wanted_types = {t.lower() for t in types}
    return [g for g in groups if (not wanted_states or g.state.lower() in wanted_states)
            and (not wanted_types or g.type.lower() in wanted_types)]


class GroupCoordinator:
    def __init__(
        self,
        metadata: MetadataMachine,
        is_coordinator: Callable[[], bool],
        propose: Propose,
        initial_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
        consumer_session_timeout_ms: int = 45_000,
        consumer_heartbeat_interval_ms: int = 5_000,
    ) -> None:
        self.metadata = metadata
        self.is_coordinator = is_coordinator
        self.propose = propose
        self.initial_delay_s = initial_delay_s
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self.consumer_groups: dict[str, ConsumerGroup] = {}  # KIP-848 groups (ConsumerGroupHeartbeat)
        self.consumer_session_timeout_s = consumer_session_timeout_ms / 1000
        self.consumer_heartbeat_interval_ms = consumer_heartbeat_interval_ms
        self.waiters: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        # Kafka-protocol members whose SyncGroup waits for the leader's assignment.
        self.sync_waiters: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self.commits = CommitBatcher(propose)
        self._completing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.rebalances = 0  # generations this node completed as coordinator (a metric)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._ticker())

    def stop(self) -> None:
        """Stop the timer (on the loop); an in-process node that crashes must not keep ticking."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # --- requests -------------------------------------------------------------------------------
    def _group(self, group_id: str, create: bool = True, joining: bool = False) -> Group:
        if not self.is_coordinator():
            self._forget_all()
            raise errors.NotCoordinator("this node does not coordinate groups; ask find_coordinator")
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            if consumer.members:
                # Kafka 4's answer to a classic member joining a consumer-protocol group.
                raise errors.InconsistentGroupProtocol(
                    f"group {group_id!r} uses the consumer protocol (ConsumerGroupHeartbeat)")
            del self.consumer_groups[group_id]  # an empty group may switch protocol
        group = self.groups.get(group_id)
        replicated = self.metadata.groups.get(group_id)
        if joining and group is not None and replicated is not None and replicated.generation > group.generation:
            # Another coordinator led the group in between (a metadata leadership flap this node did
            # not see): what it holds is stale, and answering a join from it would hand members a
            # generation the replicated state refuses every commit of (their commits until then get
            # ILLEGAL_GENERATION, and they rejoin). Start again from the replicated generation.
            log.info("group %s: generation %d recorded elsewhere is above this coordinator's %d; "
                     "members rejoin", group_id, replicated.generation, group.generation)
            self._forget(group_id, errors.UnknownMemberId("the group's generation moved on; rejoin"))
            group = None
        if group is None:
            if not create:
                raise errors.UnknownMemberId(f"group {group_id!r} has no members here")
            group = self.groups[group_id] = Group(group_id, generation=replicated.generation if replicated else 0)
        return group

    def _forget(self, group_id: str, error: errors.KraftError) -> None:
        """Drop one group's in-memory state; its waiting members get ``error``."""
        for waiters in (self.waiters, self.sync_waiters):
            for key in [k for k in waiters if k[0] == group_id]:
                fut = waiters.pop(key)
                if not fut.done():
                    fut.set_exception(error)
        self.groups.pop(group_id, None)

    async def join(self, group_id: str, member_id: str, client_id: str, host: str, topics: list[str],
                   session_timeout_ms: int, rebalance_timeout_ms: int, strategy: str,
                   protocol_type: str = "", protocols: list[tuple[str, bytes]] | None = None,
                   instance_id: str | None = None) -> dict[str, Any]:
        group = self._group(group_id, joining=True)
        replaced = group.static_members.get(instance_id) if instance_id and not member_id else None
        member_id, wait = group.join(member_id, client_id, host, topics, session_timeout_ms, rebalance_timeout_ms,
                                     strategy, self.clock(), self.initial_delay_s, protocol_type, protocols,
                                     instance_id)
        if replaced is not None:
            fenced = errors.FencedInstanceId(f"instance {instance_id!r} rejoined as {member_id!r}")
            self._fail_waiter(group_id, replaced, fenced)
            old_sync = self.sync_waiters.pop((group_id, replaced), None)
            if old_sync is not None and not old_sync.done():
                old_sync.set_exception(fenced)
            log.info("group %s: static member %s (instance %s) is now %s%s", group_id, replaced, instance_id,
                     member_id, ", no rebalance" if not wait else "")
        self._settle_syncs(group)
        if not wait:
            answer = self._answer(group, member_id)
            # A Stable group's leader that rejoined without a round: its assignment stands (KIP-814).
            answer["skip_assignment"] = bool(group.protocol_type) and member_id == group.leader
            return answer
        old = self.waiters.pop((group_id, member_id), None)
        if old is not None and not old.done():
            old.set_exception(errors.RebalanceInProgress("superseded by a newer join of the same member"))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[(group_id, member_id)] = fut
        self._check(group)
        return await fut

    def pending_member(self, group_id: str, client_id: str, session_timeout_ms: int) -> str:
        """KIP-394: a member id for a new member's first JoinGroup (answered MEMBER_ID_REQUIRED). It
        joins nothing yet: only a JoinGroup naming it makes a member, so a client that gives up on a
        join (librdkafka does, when its subscription changes meanwhile) leaves no member that the
        next rounds wait for until its session times out."""
        group = self._group(group_id, joining=True)
        return group.add_pending(client_id, session_timeout_ms, self.clock())

    def sync(self, group_id: str, member_id: str, generation: int) -> dict[str, Any]:
        group = self._group(group_id, create=False)
        if member_id not in group.members:
            raise errors.UnknownMemberId(f"member {member_id!r} is not in group {group_id!r}")
        if group.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {group_id!r} is rebalancing: rejoin")
        if generation != group.generation:
            raise errors.IllegalGeneration(f"generation {generation} is not the group's {group.generation}")
        return {"assignment": [list(tp) for tp in group.assignment.get(member_id, [])]}

    async def sync_assignments(self, group_id: str, member_id: str, generation: int,
                               assignments: dict[str, bytes], instance_id: str | None = None) -> bytes:
        """Kafka's SyncGroup: the leader hands in everyone's assignment; every member waits for its own."""
        group = self._group(group_id, create=False)
        if not group.protocol_type:
            raise errors.InconsistentGroupProtocol(f"group {group_id!r} is a native kraft group")
        if group.set_assignments(member_id, generation, assignments, instance_id):
            self._settle_syncs(group)
        if group.state == AWAITING_SYNC:
            key = (group_id, member_id)
            old = self.sync_waiters.pop(key, None)
            if old is not None and not old.done():
                old.set_exception(errors.RebalanceInProgress("superseded by a newer SyncGroup of the same member"))
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self.sync_waiters[key] = fut
            return await fut
        if group.state == PREPARING:
            raise errors.RebalanceInProgress(f"group {group_id!r} is rebalancing: rejoin")
        return group.member_assignments.get(member_id, b"")

    def heartbeat(self, group_id: str, member_id: str, generation: int, instance_id: str | None = None) -> None:
        group = self._group(group_id, create=False)
        group.heartbeat(member_id, generation, self.clock(), instance_id)

    def leave(self, group_id: str, member_id: str, instance_id: str | None = None) -> None:
        group = self._group(group_id, create=False)
        member_id = group.leave(member_id, self.clock(), instance_id)
        self._fail_waiter(group_id, member_id, errors.UnknownMemberId("left the group"))
        self._settle_syncs(group)
        self._check(group)

    async def commit(self, group_id: str, member_id: str, generation: int,
                     offsets: Sequence[tuple[str, int, int] | tuple[str, int, int, str]
                                       | tuple[str, int, int, str, int]],
                     instance_id: str | None = None) -> list[tuple[int, str]]:
        """Commit ``(topic, partition, offset[, metadata string[, leader epoch]])`` for the group; per
        offset, an error code (0: stored) and a message. A metadata string is kept with its offset (up
        to ``OFFSET_METADATA_MAX_BYTES``) and comes back with it, and so does a leader epoch (-1:
        none). A static member's commit naming its ``instance_id`` is fenced once a newer member took
        that instance id."""
        recorded: int | Callable[[], int] = generation
        consumer = self.consumer_groups.get(group_id) if self.is_coordinator() else None
        if consumer is not None:
            # A consumer-protocol member commits at its member epoch (OffsetCommit v9's
            # generation_id_or_member_epoch); the metadata group checks the group epoch.
            consumer.check_commit(member_id, generation)
            recorded = (lambda: consumer.epoch) if member_id else -1
        else:
            self._group(group_id).check_commit(member_id, generation, instance_id)
        commits = [_commit_fields(o) for o in offsets]
        results: list[tuple[int, str] | None] = [None] * len(commits)
        accepted = []
        for i, (_topic, _partition, offset, meta, _) in enumerate(commits):
            # Any offset from COMMITTED_OFFSET_MIN up, beyond the partition's end too, as Kafka stores it
            # (librdkafka's 0099 commits 42 on an empty partition); a fetch from it answers
            # OFFSET_OUT_OF_RANGE and the consumer's reset policy applies. Lower ones are no position
            # (the metadata group refuses them too).
            if offset < COMMITTED_OFFSET_MIN:
                results[i] = (errors.OffsetOutOfRange.code, f"offset {offset} is below {COMMITTED_OFFSET_MIN}")
            elif len(meta.encode()) > OFFSET_METADATA_MAX_BYTES:
                results[i] = (errors.OffsetMetadataTooLarge.code,
                              f"commit metadata of {len(meta.encode())} bytes is over {OFFSET_METADATA_MAX_BYTES}")
            else:
                accepted.append(i)
        if accepted:
            rows = [commit_row(*commits[i]) for i in accepted]
            codes = await self.commits.commit(group_id, recorded, rows)
            for i, code in zip(accepted, codes, strict=True):
                results[i] = (code, "" if not code else errors.error_for_code(code).name)
        return [r if r is not None else (0, "") for r in results]

    def check_offset_fetch(self, group_id: str, member_id: str | None, member_epoch: int) -> None:
        """OffsetFetch v9 (KIP-848): a consumer-protocol member reading its group's offsets names
        itself and its epoch, checked as a commit's are (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH,
        FENCED_MEMBER_EPOCH). No member id and a negative epoch (an admin client, a classic consumer)
        is not checked, nor is a classic group's reader (as Kafka 3.7). The check needs the
        coordinator's members: another node answers NOT_COORDINATOR."""
        if not member_id and member_epoch < 0:
            return
        if not self.is_coordinator():
            raise errors.NotCoordinator("only the coordinator knows a group's members; ask find_coordinator")
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            consumer.check_commit(member_id or "", member_epoch)

    async def delete_group(self, group_id: str) -> None:
        """Kafka's DeleteGroups for one group: its commits and generation go, through the metadata
        group. NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND if it has left nothing behind."""
        if not self.is_coordinator():
            raise errors.NotCoordinator("only the coordinator deletes groups; ask find_coordinator")
        classic, consumer = self.groups.get(group_id), self.consumer_groups.get(group_id)
        if (classic is not None and classic.members) or (consumer is not None and consumer.members):
            raise errors.NonEmptyGroup(f"group {group_id!r} has active members")
        replicated = self.metadata.groups.get(group_id)
        if replicated is None:
            if classic is None and consumer is None:
                raise errors.GroupIdNotFound(f"group {group_id!r} does not exist")
        else:
            await self.propose(encode_command("delete_group", group=group_id, generation=replicated.generation))
        # An empty group's in-memory state goes too, unless a member joined while the entry was replicated.
        for groups in (self.groups, self.consumer_groups):
            left = groups.get(group_id)
            if left is not None and not left.members:
                del groups[group_id]

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> list[int]:
        """Kafka's OffsetDelete: some of a group's commits go, through the metadata group; per
        partition an error code (0: deleted, or there was nothing to delete). An active group keeps
        the commits of every topic one of its members subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); an
        active group whose protocol is neither Kafka's consumer protocol nor kraft's native one (so its
        subscriptions are not known) refuses them all, NON_EMPTY_GROUP; a group with neither members nor commits is
        GROUP_ID_NOT_FOUND. The entry is applied only at the generation the check saw."""
        if not self.is_coordinator():
            raise errors.NotCoordinator("only the coordinator deletes a group's offsets; ask find_coordinator")
        classic, consumer = self.groups.get(group_id), self.consumer_groups.get(group_id)
        replicated = self.metadata.groups.get(group_id)
        if replicated is None and classic is None and consumer is None:
            raise errors.GroupIdNotFound(f"group {group_id!r} does not exist")
        subscribed: set[str] = set()
        if consumer is not None and consumer.members:
            topics = self._topic_partitions()
            for member in consumer.members.values():
                subscribed.update(member.subscribed(topics))
        elif classic is not None and classic.members:
            if classic.protocol_type not in ("consumer", ""):  # "": a native kraft group, its topics known too
                raise errors.NonEmptyGroup(f"group {group_id!r} has members of protocol {classic.protocol_type!r}")
            for m in classic.members.values():
                subscribed.update(m.topics)
        codes = [errors.GroupSubscribedToTopic.code if t in subscribed else 0 for t, _ in partitions]
        doomed = [[t, p] for (t, p), code in zip(partitions, codes, strict=True)
                  if not code and replicated is not None and (t, p) in replicated.offsets]
        if doomed and replicated is not None:
            await self.propose(encode_command("delete_offsets", group=group_id, generation=replicated.generation,
                                              partitions=doomed))
        return codes

    # --- reads (any node: offsets are replicated) ----------------------------------------------
    def committed(self, group_id: str) -> GroupOffsets | None:
        return self.metadata.groups.get(group_id)

    def list_groups(self) -> list[str]:
        names = {g for g, v in dict(self.metadata.groups).items() if v.offsets}
        if self.is_coordinator():
            names |= {g for g, grp in self.groups.items() if grp.members}
            names |= {g for g, cg in self.consumer_groups.items() if cg.members}
        return sorted(names)

    def list_group_states(self) -> list[GroupListing]:
        """Every group this node coordinates with its state and type (ListGroups v4+): a classic
        group's own state (Empty once its members left, or when only its commits are left here),
        a consumer-protocol group's (KIP-848: Empty, Assigning, Reconciling, Stable). None on a node
        that does not coordinate."""
        if not self.is_coordinator():
            return []
        out = []
        for group_id in self.list_groups():
            consumer = self.consumer_groups.get(group_id)
            if consumer is not None:
                out.append(GroupListing(group_id, "consumer", consumer.state.value, CONSUMER_TYPE))
                continue
            group = self.groups.get(group_id)
            state = group.state.value if group is not None else State.EMPTY.value
            # A group known only by its commits (the coordinator moved, or only admin commits made it):
            # kraft's groups are consumer groups, and Kafka keeps "consumer" for one whose members left.
            protocol_type = (group.protocol_type if group is not None else "") or "consumer"
            out.append(GroupListing(group_id, protocol_type, state, CLASSIC_TYPE))
        return out

    def group_protocol(self, group_id: str) -> tuple[str, str]:
        """(protocol type, chosen protocol) of a Kafka-protocol group coordinated here; empty if unknown."""
        group = self.groups.get(group_id)
        return (group.protocol_type, group.protocol) if group is not None else ("", "")

    def describe(self, group_id: str) -> dict[str, Any]:
        if not self.is_coordinator():
            raise errors.NotCoordinator("only the coordinator knows a group's members; ask find_coordinator")
        replicated = self.committed(group_id)
        consumer = self.consumer_groups.get(group_id)
        if consumer is not None:
            return self._describe_consumer(consumer, replicated)
        group = self.groups.get(group_id)
        if group is None and (replicated is None or not replicated.offsets):
            raise errors.GroupIdNotFound(f"group {group_id!r} has no members and no committed offsets")
        offsets = dict(replicated.offsets) if replicated else {}
        members = []
        if group is not None:
            for mid, m in group.members.items():
                opaque = group.member_assignments.get(mid, b"")
                tps = group.assignment.get(mid) if not group.protocol_type else assignment_partitions(opaque)
                members.append({"member_id": mid, "instance_id": m.instance_id, "client_id": m.client_id,
                                "host": m.host,
                                "assignment": [list(tp) for tp in tps or []],
                                "metadata": group.metadata_of(m), "assignment_bytes": opaque})
        return {
            "group_id": group_id,
            "state": (group.state if group is not None else State.EMPTY).value,
            "generation": group.generation if group is not None else (replicated.generation if replicated else 0),
            "strategy": (group.protocol if group.protocol_type else group.strategy) if group is not None else "",
            "protocol_type": group.protocol_type if group is not None else "",
            "members": members,
            "offsets": [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(offsets.items())],
        }

    # --- rebalance machinery ------------------------------------------------------------------
    def _answer(self, group: Group, member_id: str) -> dict[str, Any]:
        answer = {"generation": group.generation, "member_id": member_id, "strategy": group.strategy,
                  "assignment": [list(tp) for tp in group.assignment.get(member_id, [])],
                  "members": len(group.members)}
        if group.protocol_type:
            # As Kafka: only the leader learns every member's metadata, to compute the assignment.
            answer["protocol"], answer["leader"] = group.protocol, group.leader
            answer["member_metadata"] = ([(mid, group.metadata_of(m)) for mid, m in group.members.items()]
                                         if member_id == group.leader else [])
            answer["instance_ids"] = {mid: m.instance_id for mid, m in group.members.items() if m.instance_id}
        return answer

    def _settle_syncs(self, group: Group) -> None:
        """Answer the SyncGroups waiting in ``group`` once it is no longer waiting for the leader."""
        if group.state == AWAITING_SYNC:
            return
        for key in [k for k in self.sync_waiters if k[0] == group.group_id]:
            fut = self.sync_waiters.pop(key)
            if fut.done():
                continue
            if group.state == PREPARING or key[1] not in group.members:
                fut.set_exception(errors.RebalanceInProgress(f"group {group.group_id!r} is rebalancing: rejoin"))
            else:
                fut.set_result(group.member_assignments.get(key[1], b""))

    def _fail_waiter(self, group_id: str, member_id: str, exc: errors.KraftError) -> None:
        fut = self.waiters.pop((group_id, member_id), None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def _check(self, group: Group) -> None:
        if group.ready_to_complete(self.clock()) and group.group_id not in self._completing:
            self._completing.add(group.group_id)
            _spawn(self._complete(group))

    def _partitions_of(self, topics: set[str]) -> dict[str, int]:
        view = self.metadata.view
        return {t: len(view.topics[t].partitions) for t in sorted(topics) if t in view.topics}

    async def _complete(self, group: Group) -> None:
        try:
            for mid in group.drop_absent():
                self._fail_waiter(group.group_id, mid, errors.UnknownMemberId("did not rejoin in time"))
            if not group.members:
                return  # Empty: nobody rejoined (drop_absent emptied it), or everyone left meanwhile
            members_before = dict(group.subscriptions())
            partitions = self._partitions_of({t for ts in members_before.values() for t in ts})
            # Kafka-protocol groups: the leader member assigns, after this round, through SyncGroup.
            assignment = {} if group.protocol_type else assign(group.strategy, members_before, partitions,
                                                               previous=group.assignment)
            generation = group.generation + 1
            try:
                await self.propose(encode_command("group_generation", group=group.group_id, generation=generation))
            except errors.KraftError as e:
                log.warning("group %s: could not record generation %d: %s", group.group_id, generation, e)
                return  # still PreparingRebalance: the ticker tries again
            if group.subscriptions() != members_before or group.state != PREPARING:
                group.burn_generation(generation)
                return  # someone joined or left while the generation was being recorded
            group.complete(assignment, partitions, generation)
            self.rebalances += 1
            for mid in group.members:
                fut = self.waiters.pop((group.group_id, mid), None)
                if fut is not None and not fut.done():
                    fut.set_result(self._answer(group, mid))
            log.info("group %s: generation %d, %d members", group.group_id, group.generation, len(group.members))
        finally:
            self._completing.discard(group.group_id)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._tick()
            except Exception:
                log.exception("group coordinator tick failed")

    def _tick(self) -> None:
        if not self.is_coordinator():
            self._forget_all()
            return
        now = self.clock()
        self._tick_consumer_groups(now)
        waiting = self._waiting_kafka_members()
        for group in list(self.groups.values()):
            for mid in waiting.get(group.group_id, ()):
                # As Kafka: a member whose JoinGroup or SyncGroup is pending cannot heartbeat, and is
                # kept alive until its round ends (which the rebalance timeout or the leader's
                # session bounds), instead of expiring and making everyone rebalance again.
                member = group.members.get(mid)
                if member is not None:
                    member.last_seen = now
            for mid in group.expire(now):
                log.info("group %s: member %s expired", group.group_id, mid)
                self._fail_waiter(group.group_id, mid, errors.UnknownMemberId("session timed out"))
            self._settle_syncs(group)
            if group.members and group.subscribed_partitions != self._partitions_of(
                    {t for m in group.members.values() for t in m.topics}):
                group.request_rebalance(now)  # a subscribed topic appeared, vanished or grew
            self._check(group)

    def _waiting_kafka_members(self) -> dict[str, list[str]]:
        """Group id -> members of Kafka-protocol groups with a JoinGroup or SyncGroup pending."""
        out: dict[str, list[str]] = {}
        waiting: list[tuple[tuple[str, str], asyncio.Future[Any]]] = [
            *self.waiters.items(), *self.sync_waiters.items()]
        for (group_id, member_id), fut in waiting:
            group = self.groups.get(group_id)
            if not fut.done() and group is not None and group.protocol_type:
                out.setdefault(group_id, []).append(member_id)
        return out

    def _forget_all(self) -> None:
        """This node stopped coordinating: members will find the new coordinator and rejoin there."""
        self.consumer_groups.clear()
        if not self.groups:
            return
        futures: list[asyncio.Future[Any]] = [*self.waiters.values(), *self.sync_waiters.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(errors.NotCoordinator("coordinator moved; find it again"))
        self.waiters.clear()
        self.sync_waiters.clear()
        self.groups.clear()

    # --- KIP-848 consumer-protocol groups ------------------------------------------------------
    def _consumer_group(self, group_id: str) -> ConsumerGroup:
        if not self.is_coordinator():
            self._forget_all()
            raise errors.NotCoordinator("this node does not coordinate groups; ask find_coordinator")
        if not group_id:
            raise errors.InvalidRequest("GroupId can't be empty")
        classic = self.groups.get(group_id)
        if classic is not None:
            if classic.members:
                raise errors.GroupIdNotFound(f"group {group_id!r} is a classic group (JoinGroup), not a consumer group")
            self._forget(group_id, errors.UnknownMemberId("the group changed protocol"))
        replicated = self.metadata.groups.get(group_id)
        epoch = replicated.generation if replicated else 0
        group = self.consumer_groups.get(group_id)
        if group is not None and epoch > group.epoch:
            # Another coordinator led it in between: its members rejoin here from the replicated epoch.
            log.info("group %s: epoch %d recorded elsewhere is above this coordinator's %d; members rejoin",
                     group_id, epoch, group.epoch)
            group = None
        if group is None:
            group = self.consumer_groups[group_id] = ConsumerGroup(
                group_id, epoch=epoch, session_timeout_s=self.consumer_session_timeout_s)
        return group

    def _topic_partitions(self) -> dict[str, int]:
        return {t: len(meta.partitions) for t, meta in self.metadata.view.topics.items()}

    async def consumer_heartbeat(self, group_id: str, heartbeat: Heartbeat) -> Answer:
        """ConsumerGroupHeartbeat: join, heartbeat, reconcile or leave; answered once the group epoch
        it may carry is replicated (a new coordinator then continues above it)."""
        group = self._consumer_group(group_id)
        answer = group.heartbeat(heartbeat, self.clock(), self._topic_partitions())
        await self._record_epoch(group)
        return answer

    async def _record_epoch(self, group: ConsumerGroup) -> None:
        replicated = self.metadata.groups.get(group.group_id)
        if replicated is not None and replicated.generation >= group.epoch:
            return
        try:
            await self.propose(encode_command("group_generation", group=group.group_id, generation=group.epoch))
        except errors.KraftError as e:
            # The epoch may not be durable: a coordinator answering from it could hand out an epoch
            # a successor reuses. Start the group over; members get NOT_COORDINATOR and come back.
            log.warning("group %s: could not record epoch %d: %s", group.group_id, group.epoch, e)
            if self.consumer_groups.get(group.group_id) is group:
                del self.consumer_groups[group.group_id]
            raise errors.NotCoordinator(f"could not record the group epoch: {e.message}") from None

    def consumer_group(self, group_id: str) -> ConsumerGroup | None:
        """The consumer-protocol group coordinated here (read only; ConsumerGroupDescribe)."""
        if not self.is_coordinator():
            raise errors.NotCoordinator("only the coordinator knows a group's members; ask find_coordinator")
        return self.consumer_groups.get(group_id)

    def is_classic_group(self, group_id: str) -> bool:
        """Whether ``group_id`` is a classic group with members here (JoinGroup's, native or Kafka)."""
        group = self.groups.get(group_id)
        return group is not None and bool(group.members)

    def _tick_consumer_groups(self, now: float) -> None:
        topics = self._topic_partitions()
        for group_id, group in list(self.consumer_groups.items()):
            for mid in group.expire(now, topics):
                log.info("group %s: member %s expired", group_id, mid)
            group.refresh(topics)
            if not group.members:
                del self.consumer_groups[group_id]  # Empty: its epoch is replicated, nothing else to keep
            replicated = self.metadata.groups.get(group_id)
            if replicated is None or replicated.generation < group.epoch:
                _spawn(self._record_epoch_quietly(group))

    async def _record_epoch_quietly(self, group: ConsumerGroup) -> None:
        try:
            await self._record_epoch(group)
        except errors.KraftError:
            pass  # logged there; the group starts over

    def _describe_consumer(self, group: ConsumerGroup, replicated: GroupOffsets | None) -> dict[str, Any]:
        """``describe``'s answer for a consumer-protocol group (Kafka's state names, the assignor as
        strategy, the subscription and assignment as the classic "consumer" bytes for DescribeGroups)."""
        offsets = dict(replicated.offsets) if replicated else {}
        topics = self._topic_partitions()
        members = [{"member_id": mid, "instance_id": m.instance_id, "client_id": m.client_id, "host": m.host,
                    "assignment": [list(tp) for tp in sorted(m.assigned)], "member_epoch": m.epoch,
                    "metadata": encode_subscription(m.subscribed(topics)),
                    "assignment_bytes": encode_assignment(m.assigned)}
                   for mid, m in group.members.items()]
        return {"group_id": group.group_id, "state": group.state.value, "generation": group.epoch,
                "strategy": group.assignor, "protocol_type": "consumer", "members": members,
                "offsets": [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(offsets.items())]}
