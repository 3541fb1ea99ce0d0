"""The invariants a simulated cluster must keep, checked after every step (and whole at the end).

- election safety: at most one leader per group and term;
- committed entries never change or disappear, and every replica's committed prefix is the same
  (checked incrementally as commit indexes move, and whole every few simulated seconds);
- log matching: two logs holding an entry with the same index and term are identical up to it;
- commit index never moves backwards on a node (a wiped disk restarts its history);
- applied state equal on every replica at the same applied index;
- after healing: every acknowledged write is in the committed log where it was acknowledged.
"""

from __future__ import annotations

from kraft.log.entry import OP_NATIVE, REGULAR
from kraft.protocol.batch import decode_batch
from kraft.state.metadata import MetadataMachine
from kraft.state.partition import PartitionMachine
from tests.sim.node import SimNode
from tests.sim.workload import Acked

Entry = tuple[int, bytes]  # (term, command)


class Violation(Exception):
    pass


def state_digest(machine: MetadataMachine | PartitionMachine) -> object:
    if isinstance(machine, PartitionMachine):
        return machine.next_offset
    return machine._next_producer_id


class Checker:
    def __init__(self, gids: list[int]) -> None:
        self.gids = gids
        self.leaders: dict[tuple[int, int], int] = {}  # (gid, term) -> leader
        self.commits: dict[tuple[int, int], int] = {}  # (node, gid) -> highest commit index seen
        self.committed: dict[int, list[Entry]] = {g: [] for g in gids}  # position i-1 holds index i
        self.verified: dict[tuple[int, int], int] = {}  # (node, gid) -> committed prefix checked
        self.states: dict[tuple[int, int], object] = {}  # (gid, applied index) -> state digest
        self.applied_seen: dict[tuple[int, int], int] = {}

    def forget(self, node_id: int) -> None:
        """The node lost its disk: its own history starts again (the cluster's does not)."""
        for key in [k for k in self.commits if k[0] == node_id]:
            del self.commits[key]
        for key in [k for k in self.verified if k[0] == node_id]:
            del self.verified[key]

    def after_step(self, nodes: list[SimNode]) -> None:
        for node in nodes:
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
        entries = journal.entries_from(first, last - first + 1, 1 << 40)
        if len(entries) != last - first + 1 or (entries and entries[0][1] != first):
            raise Violation(f"node {node.node_id} group {gid}: commit index {last} but the log holds "
                            f"{journal.first_index}..{journal.last_index}")
        log = self.committed[gid]
        for command, idx, term in entries:
            if idx <= len(log):
                if log[idx - 1] != (term, command):
                    raise Violation(f"group {gid}: committed entry {idx} differs on node {node.node_id} "
                                    f"(term {term}, committed with term {log[idx - 1][0]})")
            elif idx == len(log) + 1:
                log.append((term, command))
            else:
                raise Violation(f"group {gid}: entry {idx} committed before {len(log) + 1}")

    def full_check(self, nodes: list[SimNode]) -> None:
        """Every committed prefix again (it must not have changed) and log matching between logs."""
        for gid in self.gids:
            logs = {}
            for node in nodes:
                self.verified[(node.node_id, gid)] = 0
                j = node.journals[gid]
                logs[node.node_id] = {e[1]: (e[2], e[0]) for e in j.entries_from(1, 1 << 30, 1 << 40)}
            self.after_step(nodes)
            ids = sorted(logs)
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    common = [idx for idx in logs[a] if idx in logs[b] and logs[a][idx][0] == logs[b][idx][0]]
                    if not common:
                        continue
                    top = max(common)
                    for idx in range(1, top + 1):
                        if logs[a].get(idx) != logs[b].get(idx):
                            raise Violation(f"group {gid}: logs of nodes {a} and {b} agree on entry {top}'s term "
                                            f"but differ at {idx} (log matching)")

    def check_acknowledged(self, acked: Acked, partition_gids: list[int], next_producer_id: int) -> None:
        """Every acknowledged batch is committed at the offset it was acknowledged with."""
        offsets: dict[bytes, tuple[int, int]] = {}
        for gid in partition_gids:
            next_offset = 0
            for _term, command in self.committed[gid]:
                if command[:1] == REGULAR and command[1:2] == OP_NATIVE:
                    records = decode_batch(command[2:], next_offset)
                    offsets[records[0][3].rsplit(b".", 1)[0]] = (gid, next_offset)
                    next_offset += len(records)
        for value, where in acked.produce.items():
            got = offsets.get(value)
            if got != where:
                raise Violation(f"acknowledged batch {value.decode()} (group {where[0]}, offset {where[1]}) is "
                                + ("missing from the committed log" if got is None else f"committed at {got}"))
        if len(set(acked.producer_ids)) != len(acked.producer_ids):
            raise Violation("a producer id was handed out twice (a lost metadata write)")
        if acked.producer_ids and max(acked.producer_ids) >= next_producer_id:
            raise Violation(f"producer id {max(acked.producer_ids)} acknowledged, metadata is at {next_producer_id}")
