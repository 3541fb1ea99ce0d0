"""The invariants a simulated cluster must keep, checked after every step (and whole at the end).

- election safety: at most one leader per group and term;
- committed entries never change or disappear, and every replica's committed prefix is the same
  (checked incrementally as commit indexes move, and whole every few simulated seconds);
- log matching: two logs holding an entry with the same index and term are identical up to it;
- commit index never moves backwards on a node (a wiped disk restarts its history);
- applied state equal on every replica at the same applied index (offsets, log start, log floor, leader epochs,
  producer states: a snapshot must carry all of it);
- after healing: every replica reads the same records from its log start, every acknowledged
  record above the log start is read back at the offset it was acknowledged with (below the end of
  the last compaction it may be gone, if a later record of its key superseded it), within the
  compacted part every key appears at most once, the latest acknowledged record of every key that
  never got a tombstone survives, and every replica holds the same journal rows above the highest
  base and the same batch index from the log start;
- and every topic and partition whose creation was acknowledged is in the metadata catalogue with
  the replicas it was created with (a topic's partitions only grow; replicas' catalogues are
  compared whole by the applied-state check above).
- the cluster's id: once a replica has one, it is the one every replica has and it never changes;
  after healing every replica has it.

Entries a replica discarded (below its log's base: trimmed, or replaced by a snapshot) cannot be
read there any more; the checks of committed entries skip them on that replica.
"""

from __future__ import annotations

import bisect
import json

import msgpack

from kraft.log.entry import is_native
from kraft.log.partition_log import PartitionLog
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, gid_key, gid_u64_key, prefix_stop, u64_of
from kraft.protocol.batch import decode_batch
from kraft.protocol.kafka.records import decode_kafka_batch
from kraft.state.metadata import METADATA_GID, MetadataMachine
from kraft.state.partition import PartitionMachine
from tests.sim.node import SimNode
from tests.sim.workload import Acked

Entry = tuple[int, bytes]  # (term, command)


class Violation(Exception):
    pass


def state_digest(machine: MetadataMachine | PartitionMachine) -> object:
    if isinstance(machine, PartitionMachine):
        state = machine.snapshot_state()
        state.pop("last_applied")
        return (state, msgpack.packb(sorted(machine.producers().items())))
    state = machine.state()
    state.pop("last_applied")
    return json.dumps(state, sort_keys=True, default=repr)  # canonical: dict order differs after restarts


class Checker:
    def __init__(self, gids: list[int]) -> None:
        self.gids = gids
        self.leaders: dict[tuple[int, int], int] = {}  # (gid, term) -> leader
        self.commits: dict[tuple[int, int], int] = {}  # (node, gid) -> highest commit index seen
        self.committed: dict[int, dict[int, Entry]] = {g: {} for g in gids}  # raft index -> entry
        self.verified: dict[tuple[int, int], int] = {}  # (node, gid) -> committed prefix checked
        self.states: dict[tuple[int, int], object] = {}  # (gid, applied index) -> state digest
        self.applied_seen: dict[tuple[int, int], int] = {}
        self.cluster_id: str | None = None  # the first any replica applied

    def forget(self, node_id: int) -> None:
        """The node lost its disk: its own history starts again (the cluster's does not)."""
        for key in [k for k in self.commits if k[0] == node_id]:
            del self.commits[key]
        for key in [k for k in self.verified if k[0] == node_id]:
            del self.verified[key]

    def forget_group(self, node_id: int, gid: int) -> None:
        """The node's replica of ``gid`` was destroyed (moved away): a later one starts afresh."""
        for table in (self.commits, self.verified, self.applied_seen):
            table.pop((node_id, gid), None)

    def after_step(self, nodes: list[SimNode]) -> None:
        for node in nodes:
            cluster_id = node.metadata.view.cluster_id
            if cluster_id is not None and self.cluster_id is None:
                self.cluster_id = cluster_id
            if cluster_id is not None and cluster_id != self.cluster_id:
                raise Violation(f"node {node.node_id} has cluster id {cluster_id}, another replica had "
                                f"{self.cluster_id}")
            for gid, group in node.groups.items():
                key = (node.node_id, gid)
                term = group.raftCurrentTerm
                if group.is_leader():
                    leader = self.leaders.setdefault((gid, term), node.node_id)
                    if leader != node.node_id:
                        raise Violation(f"group {gid}: nodes {leader} and {node.node_id} both lead term {term}")
                commit = group.raftCommitIndex
                if commit < self.commits.get(key, 0):
                    raise Violation(f"node {node.node_id} group {gid}: commit index went back from "
                                    f"{self.commits[key]} to {commit}")
                self.commits[key] = commit
                if commit > self.verified.get(key, 0):
                    self._check_committed(node, gid, self.verified.get(key, 0) + 1, commit)
                    self.verified[key] = commit
                machine = node.machines[gid]
                applied = machine.last_applied
                if applied != self.applied_seen.get(key):
                    self.applied_seen[key] = applied
                    digest = state_digest(machine)
                    known = self.states.setdefault((gid, applied), digest)
                    if known != digest:
                        raise Violation(f"group {gid}: node {node.node_id} applied up to {applied} has state "
                                        f"{digest!r}, another replica had {known!r}")

    def _check_committed(self, node: SimNode, gid: int, first: int, last: int) -> None:
        journal = node.journals[gid]
        first = max(first, journal.base_index + 1)  # below the base: discarded here
        if first > last:
            return
        entries = journal.entries_from(first, last - first + 1, 1 << 40)
        if len(entries) != last - first + 1 or (entries and entries[0][1] != first):
            raise Violation(f"node {node.node_id} group {gid}: commit index {last} but the log holds "
                            f"{journal.first_index}..{journal.last_index}")
        log = self.committed[gid]
        for command, idx, term in entries:
            known = log.setdefault(idx, (term, command))
            if known != (term, command):
                raise Violation(f"group {gid}: committed entry {idx} differs on node {node.node_id} "
                                f"(term {term}, committed with term {known[0]})")

    def full_check(self, nodes: list[SimNode]) -> None:
        """Every committed prefix again (it must not have changed) and log matching between logs."""
        for gid in self.gids:
            logs = {}
            bases: dict[int, int] = {}
            for node in nodes:
                if gid not in node.groups:
                    continue
                self.verified[(node.node_id, gid)] = 0
                j = node.journals[gid]
                bases[node.node_id] = j.base_index
                logs[node.node_id] = {e[1]: (e[2], e[0]) for e in j.entries_from(j.base_index + 1, 1 << 30, 1 << 40)}
            self.after_step(nodes)
            ids = sorted(logs)
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    common = [idx for idx in logs[a] if idx in logs[b] and logs[a][idx][0] == logs[b][idx][0]]
                    if not common:
                        continue
                    top = max(common)
                    for idx in range(max(bases[a], bases[b]) + 1, top + 1):
                        if logs[a].get(idx) != logs[b].get(idx):
                            raise Violation(f"group {gid}: logs of nodes {a} and {b} agree on entry {top}'s term "
                                            f"but differ at {idx} (log matching)")

    def check_acknowledged(self, acked: Acked, nodes: list[SimNode], partition_gids: list[int],
                           next_producer_id: int) -> None:
        """What every replica reads from its log start: the same records everywhere, acknowledged
        records where they were acknowledged, compaction's promises kept (see the module docstring)."""
        for gid in partition_gids:
            hosts = [n for n in nodes if gid in n.groups]
            logs = {n.node_id: read_log(n, gid) for n in hosts}
            first = hosts[0].node_id
            for node_id, records in logs.items():
                if records != logs[first]:
                    raise Violation(f"group {gid}: node {node_id} reads other records than node {first}")
            machine = hosts[0].machines[gid]
            assert isinstance(machine, PartitionMachine)
            self._check_records(gid, logs[first], machine.log_start_offset, machine.compacted_to, acked)
        if len(set(acked.producer_ids)) != len(acked.producer_ids):
            raise Violation("a producer id was handed out twice (a lost metadata write)")
        if acked.producer_ids and max(acked.producer_ids) >= next_producer_id:
            raise Violation(f"producer id {max(acked.producer_ids)} acknowledged, metadata is at {next_producer_id}")

    def _check_records(self, gid: int, records: dict[int, tuple[bytes | None, bytes | None, int]], start: int,
                       compacted_to: int, acked: Acked) -> None:
        seen: set[bytes | None] = set()
        for offset in sorted(records):
            key, _value, batch_last = records[offset]
            if batch_last < compacted_to:  # a batch wholly below the end of the last pass
                if key in seen or key is None:
                    raise Violation(f"group {gid}: key {key!r} twice below the compacted offset {compacted_to}")
                seen.add(key)
        latest: dict[bytes, int] = {}
        for value, (g, base) in acked.produce.items():
            if g != gid:
                continue
            key = acked.keys.get(value)
            for i in range(acked.counts.get(value, 1)):
                offset, want = base + i, value + b".%d" % i
                if key is not None and offset >= start:
                    latest[key] = max(latest.get(key, -1), offset)
                got = records.get(offset)
                if offset < start or (got is None and offset < compacted_to):
                    continue
                if got is None or got[1] != want:
                    raise Violation(f"acknowledged record {want.decode()} (group {gid}, offset {offset}) reads back as "
                                    f"{got!r}")
        for key, offset in latest.items():
            if key.startswith(b"k") and not any(k == key and o >= offset for o, (k, _, _) in records.items()):
                raise Violation(f"group {gid}: the latest record of key {key.decode()} (offset {offset}) is gone")

    def check_catalogue(self, acked: Acked, nodes: list[SimNode]) -> None:
        for node in nodes:
            machine = node.machines[METADATA_GID]
            assert isinstance(machine, MetadataMachine)
            topics = machine.view.topics
            for (name, partition), replicas in sorted(acked.catalogue.items()):
                topic = topics.get(name)
                if topic is None or partition >= len(topic.partitions):
                    raise Violation(f"node {node.node_id}: acknowledged partition {name}/{partition} is not in "
                                    f"the metadata catalogue")
                if list(topic.partitions[partition].replicas) != replicas:
                    raise Violation(f"node {node.node_id}: {name}/{partition} has replicas "
                                    f"{list(topic.partitions[partition].replicas)}, acknowledged with {replicas}")

    def check_cluster_id(self, nodes: list[SimNode]) -> None:
        """After healing: every replica has the cluster's id, the same one."""
        ids = {n.node_id: n.metadata.view.cluster_id for n in nodes}
        if None in ids.values() or len(set(ids.values())) != 1:
            raise Violation(f"cluster ids after healing: {ids}")

    def check_replicas_identical(self, nodes: list[SimNode], partition_gids: list[int]) -> None:
        """Caught-up replicas hold the same bytes: journal rows above the highest base, index rows."""
        for gid in partition_gids:
            hosts = [n for n in nodes if gid in n.groups]
            top_base = max(n.journals[gid].base_index for n in hosts)
            tables: dict[int, tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]] = {}
            for node in hosts:
                start = node.machines[gid].log_start_offset  # type: ignore[union-attr]
                prefix = gid_key(gid)
                with node.store.read() as view:
                    rows = list(view.scan(DB_JOURNAL, gid_u64_key(gid, top_base + 1), prefix_stop(prefix)))
                    index = list(view.scan(DB_OFFSETS, gid_u64_key(gid, start), prefix_stop(prefix)))
                tables[node.node_id] = ([(bytes(k), bytes(v)) for k, v in rows],
                                        [(bytes(k), bytes(v)) for k, v in index])
            ids = sorted(tables)
            for other in ids[1:]:
                for what, i in (("journal", 0), ("batch index", 1)):
                    if tables[other][i] != tables[ids[0]][i]:
                        raise Violation(f"group {gid}: {what} of node {other} differs from node {ids[0]}'s "
                                        f"({len(tables[other][i])} rows vs {len(tables[ids[0]][i])})")


def read_log(node: SimNode, gid: int) -> dict[int, tuple[bytes | None, bytes | None, int]]:
    """offset -> (key, value, last offset of its batch) of every record a reader gets from the log start
    (a set's batches: the last offset of the set, which its index row holds)."""
    plog = PartitionLog(node.store, gid)
    out: dict[int, tuple[bytes | None, bytes | None, int]] = {}
    with node.store.read() as view:
        start = plog.read_state(view)["log_start_offset"]
        rows = sorted((int.from_bytes(bytes(row)[8:16], "big"), u64_of(key))
                      for key, row in view.scan(DB_OFFSETS, gid_u64_key(gid, start), prefix_stop(gid_key(gid))))
        bases = [b for b, _last in rows]
        for base, batch in plog.read(view, start, 1 << 40):
            last = rows[bisect.bisect_right(bases, base) - 1][1]
            decoded = decode_batch(batch, base) if is_native(batch) else decode_kafka_batch(batch, base)
            for record_offset, _ts, key, value, _headers in decoded:
                if record_offset >= start:
                    out[record_offset] = (key, value, last)
    return out
