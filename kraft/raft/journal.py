"""A pysyncobj ``Journal`` over the node's LogStore: one group's Raft log, term and vote, durable
and not in RAM (LMDB on a node, ``MemoryStore`` in the simulator and tests).

Owns: the journal rows of one group (``gid``) in the store — their value layout is
``kraft.log.entry``'s — the group's ``raftmeta`` row (msgpack ``{term, vote, commit, base,
base_term, rows_floor, rid, learner, voters, learners}``: ``rid`` this replica's id (``INITIAL_REPLICA``
for a replica the group was created with, random for one added later or rebuilt after a lost disk),
``learner`` set while it is a learner after losing its disk, ``voters`` (``[node, rid]`` pairs) and
``learners`` the configuration as last applied), and the in-memory facts pysyncobj asks for on
every tick (first/last index and term, length, commit index).

The head of the log can be discarded (``discard_before``: the record log's retention or compaction,
on every replica at the same entry; ``install_base``: a snapshot replaced a lagging follower's log).
What remains of the discarded part for Raft is its last entry's index and term, the **base**, which
pysyncobj sees as the log's first entry (``(b"", base, base_term)``, as its own compaction leaves
it); entries above it are real. Below the base, rows from the **rows floor** on still hold records
(a compacted log's batches): they belong to the record log from then on (``kraft.log`` rewrites them
in place), Raft never reads or sends them, and a snapshot copies them (``raw_rows``,
``put_raw_rows``). Rows below the rows floor are deleted in bounded slices (``reclaim``), so a
retention pass of gigabytes never stalls the driver loop; until then they are invisible.
Membership entries (``MEMBERS`` commands) are reported to the group as they are appended
(``on_members_appended``) and when a truncation or a snapshot removes entries (``on_truncated``):
a configuration takes effect when appended (Raft §4.1), so the group must know at once.
Must not: commit (the driver does, once per loop) or decide Raft rules. The one rule it
enforces is a guard: it deletes entries only where its group armed a truncation after finding a real
conflict (Raft §5.3), so pysyncobj's "drop everything after prevLogIdx" can never remove entries that
match the leader's (research/pysyncobj.md, Exp4a).

The **tail** of the log is also kept in memory (``_tail``, at most ``TAIL_MAX_BYTES``): the entries
a leader has just appended are read again at once, to send them to its followers and to apply them,
and reading them back from the store cost a fifth of a node's CPU under load. The group drops what
no one needs from it any more (``trim_tail``); every change of the stored log changes it alike.

pysyncobj addresses entries by position (``journal[i]``, ``journal[-1]``, ``journal[a:b]``), not by
Raft index; position ``p`` is index ``first + p``. Open-ended slices are bounded (count and bytes) so
no caller can pull a whole log into memory; every caller tolerates a shorter answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import msgpack
from pysyncobj.journal import Journal

from kraft.invariants import InvariantViolation, invariant
from kraft.log.entry import MEMBERS, encode_row, row_command, row_term
from kraft.log.store import DB_JOURNAL, DB_RAFTMETA, LogStore, gid_key, gid_u64_key, prefix_stop, u64_of

log = logging.getLogger(__name__)

INITIAL_REPLICA = "0"  # the replica id of every replica a group was created with
SLICE_MAX_ENTRIES = 512
SLICE_MAX_BYTES = 4 * 1024 * 1024
# Deleting a discarded row costs the reclaim budget (kraft.raft.driver) 1, plus 1 per this many bytes
# of it (an LMDB page: a 1 MiB batch frees 257 of them, which the commit lists as free). A budget of
# rows alone let one iteration delete a gigabyte of merged 1 MiB batches and stall the driver.
RECLAIM_ROW_BYTES = 4096
# The in-memory tail of one group's log: about two AppendEntries windows (kraft.raft.group's
# APPEND_MAX_BYTES), so followers a window behind are served from memory and a far-behind one
# from the store.
TAIL_MAX_BYTES = 4 * 1024 * 1024

Entry = tuple[bytes, int, int]  # (command, raft index, term) as pysyncobj wants them


class RaftJournal(Journal):
    def __init__(self, store: LogStore, gid: int) -> None:
        self._store = store
        self._gid = gid
        self._prefix = gid_key(gid)
        self._stop = prefix_stop(self._prefix)
        self._truncate_armed_from: int | None = None
        self.appended = 0  # entries added since the driver last took the count (``take_appended``)
        self._first = 0  # 0 = empty
        self._last = 0
        self._last_entry: Entry | None = None
        self._first_entry: Entry | None = None
        self._term = 0
        self._vote: str | None = None
        self._commit = 1
        self._base = 0  # last discarded entry (0: nothing discarded)
        self._base_term = 0
        self._rows_floor = 1  # rows below it are discarded
        self._reclaim_to = 0  # rows up to this index are discarded but may still be stored
        # Set while this replica is a non-voting learner (it lost an earlier log and vote of this
        # group with its disk; see ``RaftGroup``): its replica id then; None: not such a learner.
        self._learner: str | None = None
        self._rid: str | None = None  # this replica's id (None: a new journal, not given one yet)
        self.existed = False  # the group had persisted Raft state on this disk before this start
        # The group's membership as of the last applied membership command (None: the members it
        # was created with, which the group knows): voters and learners by node id.
        self._config: tuple[dict[int, str], list[int]] | None = None
        # The group's hooks (None until it sets them): a MEMBERS entry appended at an index; entries
        # from an index on removed (a conflict's truncation, a snapshot replacing the log).
        self.on_members_appended: Callable[[int, bytes], None] | None = None
        self.on_truncated: Callable[[int], None] | None = None
        # The last entries, index -> entry, consecutive up to ``_last`` (insertion order is index
        # order: appends come in order, truncations remove a suffix, eviction the oldest).
        self._tail: dict[int, Entry] = {}
        self._tail_bytes = 0
        self._load()

    # --- loading --------------------------------------------------------------------------------
    def _load(self) -> None:
        raw = self._store.get(DB_RAFTMETA, self._prefix)
        if raw is not None:
            meta = msgpack.unpackb(raw)
            self._term, self._vote, self._commit = meta["term"], meta["vote"], meta["commit"]
            self._base, self._base_term = meta.get("base", 0), meta.get("base_term", 0)
            self._rows_floor = meta.get("rows_floor", self._base + 1)  # older rows: the floor was the base's
            self._learner = meta.get("learner")
            self._rid = meta.get("rid", INITIAL_REPLICA)  # rows from before replica ids: the first replicas
            if "voters" in meta:
                self._config = ({int(n): str(r) for n, r in meta["voters"]}, list(meta.get("learners", [])))
            self.existed = True
        self._reclaim_to = self._rows_floor - 1
        if self._base:
            self._first, self._first_entry = self._base, self._base_entry()
            self._last, self._last_entry = self._base, self._first_entry
        last = next(self._store.scan(DB_JOURNAL, self._prefix, self._stop, reverse=True), None)
        if last is not None and self._index_of(last[0]) > self._base:
            self._last = self._index_of(last[0])
            self._last_entry = self._decode(self._last, last[1])
            if not self._base:
                key, value = next(self._store.scan(DB_JOURNAL, self._prefix, self._stop))
                self._first = self._index_of(key)
                self._first_entry = self._decode(self._first, value)

    def _base_entry(self) -> Entry:
        return (b"", self._base, self._base_term)

    _index_of = staticmethod(u64_of)

    def _row(self, idx: int) -> bytes:
        """The stored row of an entry between first and last (every index there has one)."""
        raw = self._store.get(DB_JOURNAL, gid_u64_key(self._gid, idx))
        if raw is None:
            raise InvariantViolation(f"journal {self._gid}: no row for entry {idx} in [{self._first}, {self._last}]")
        return raw

    @staticmethod
    def _decode(idx: int, value: bytes) -> Entry:
        return (row_command(value), idx, row_term(value))

    # --- the in-memory tail -------------------------------------------------------------------------
    def _tail_add(self, entry: Entry) -> None:
        self._tail[entry[1]] = entry
        self._tail_bytes += len(entry[0])
        while self._tail_bytes > TAIL_MAX_BYTES and len(self._tail) > 1:
            self._tail_drop(next(iter(self._tail)))

    def _tail_drop(self, idx: int) -> None:
        entry = self._tail.pop(idx, None)
        if entry is not None:
            self._tail_bytes -= len(entry[0])

    def _tail_drop_from(self, idx: int) -> None:
        """Forget cached entries from ``idx`` on (they are no longer the log's)."""
        for i in [i for i in self._tail if i >= idx]:
            self._tail_drop(i)

    def trim_tail(self, upto: int) -> None:
        """Forget cached entries up to ``upto``: applied here, and held by every follower if this
        replica leads (the group's call, each tick)."""
        while self._tail:
            first = next(iter(self._tail))
            if first > upto:
                return
            self._tail_drop(first)

    @property
    def tail_bytes(self) -> int:
        return self._tail_bytes

    # --- what kraft itself reads ----------------------------------------------------------------
    @property
    def first_index(self) -> int:
        return self._first

    @property
    def last_index(self) -> int:
        return self._last

    @property
    def base_index(self) -> int:
        """The last discarded entry (0: none): entries up to it are gone, only its term is known."""
        return self._base

    @property
    def learner(self) -> str | None:
        """This replica's id while it is a non-voting learner after a lost disk; None otherwise."""
        return self._learner

    @property
    def replica_id(self) -> str | None:
        return self._rid

    def assign_replica_id(self, initial: bool) -> str:
        """This replica's id, given once: ``INITIAL_REPLICA`` for one of the replicas the group was
        created with, a random one for a replica added later (a move, a lost disk)."""
        if self._rid is None:
            self._rid = INITIAL_REPLICA if initial else uuid.uuid4().hex
            self._save_meta()
        return self._rid

    def become_learner(self) -> None:
        """Persist that this replica (rebuilt after a lost disk: a new replica id) may not vote nor
        count toward a commit until promoted."""
        self._rid = uuid.uuid4().hex
        self._learner = self._rid
        self._save_meta()

    def end_learning(self) -> None:
        """The group's committed promotion of this replica applied: a voter from now on."""
        self._learner = None
        self._save_meta()

    def members_after(self, idx: int) -> list[tuple[int, bytes]]:
        """The MEMBERS entries of the log after ``idx`` (index, command), in order: the part of the
        configuration history not applied yet (scanned at start-up)."""
        out = []
        for key, value in self._store.scan(DB_JOURNAL, gid_u64_key(self._gid, max(idx, self._base) + 1), self._stop):
            command = row_command(value)
            if command[:1] == MEMBERS:
                out.append((self._index_of(key), bytes(command)))
        return out

    @property
    def config(self) -> tuple[dict[int, str], list[int]] | None:
        """(voters as node -> replica id, learners) as last applied, or None: never changed since
        the group was created."""
        return self._config

    def save_config(self, voters: dict[int, str], learners: list[int]) -> None:
        self._config = (dict(voters), sorted(learners))
        self._save_meta()

    def term_at(self, idx: int) -> int | None:
        """Term of the entry at Raft index ``idx``, or None when the log has no such entry."""
        if self._first == 0 or idx < self._first or idx > self._last:
            return None
        if idx == self._last and self._last_entry is not None:
            return self._last_entry[2]
        if idx == self._base:
            return self._base_term
        cached = self._tail.get(idx)
        if cached is not None:
            return cached[2]
        raw = self._store.get(DB_JOURNAL, gid_u64_key(self._gid, idx))
        return None if raw is None else row_term(raw)

    # --- discarding the head -----------------------------------------------------------------------
    @property
    def rows_floor(self) -> int:
        """The first entry whose row is kept (those below are deleted, or about to be)."""
        return self._rows_floor

    def discard_before(self, floor: int, rows_floor: int | None = None) -> None:
        """Entries below Raft index ``floor`` are no longer Raft's (every one of them is applied);
        rows below ``rows_floor`` (default: ``floor``) go, those between stay for the record log."""
        base = floor - 1
        rows_floor = floor if rows_floor is None else max(1, min(rows_floor, floor))
        if base <= self._base and rows_floor <= self._rows_floor:
            return
        if base > self._base:
            invariant(base <= self._commit and base <= self._last,
                      f"journal {self._gid}: discard up to {base} beyond commit {self._commit} or end {self._last}")
            term = self.term_at(base)
            invariant(term is not None, f"journal {self._gid}: no term for entry {base}")
            assert term is not None
            self._base, self._base_term = base, term
            self._first, self._first_entry = base, self._base_entry()
            if self._last == base:
                self._last_entry = self._first_entry
            self.trim_tail(base)
        self._set_rows_floor(max(rows_floor, self._rows_floor))

    def install_base(self, base: int, base_term: int, rows_floor: int | None = None) -> None:
        """A snapshot up to ``base`` replaces this log (it does not reach the leader's log, or
        conflicts with it below ``base``): every entry goes, the log is the base alone, and the rows
        in [``rows_floor``, base] are the ones the snapshot brought (``put_raw_rows``)."""
        for i in range(base + 1, self._last + 1):
            self._store.delete(DB_JOURNAL, gid_u64_key(self._gid, i))
        self._tail.clear()
        self._tail_bytes = 0
        self._truncate_armed_from = None
        if self._commit > base:
            log.warning("journal %d: snapshot at %d below the commit index %d", self._gid, base, self._commit)
            self._commit = base
        self._base, self._base_term = base, base_term
        self._first, self._first_entry = base, self._base_entry()
        self._last, self._last_entry = base, self._first_entry
        self._rows_floor = 1
        # What the replaced log still had to delete is below the new rows floor, or in [rows floor,
        # base], where the snapshot's rows replace it (``put_raw_rows``): never keep an old, higher
        # reclaim bound, which would delete the rows the snapshot brings (a chaos run's divergent
        # compacted replica).
        self._reclaim_to = 0
        self._set_rows_floor(base + 1 if rows_floor is None else max(1, min(rows_floor, base + 1)))
        if self.on_truncated is not None:
            self.on_truncated(base + 1)

    def _set_rows_floor(self, rows_floor: int) -> None:
        self._rows_floor = rows_floor
        self._reclaim_to = max(self._reclaim_to, rows_floor - 1)
        self._save_meta()

    # --- rows below the base that still hold records (snapshots copy them) -------------------------
    def raw_rows(self, after: int, max_rows: int) -> list[tuple[int, bytes]]:
        """Stored rows of indexes in (``after``, base], from the rows floor on: (index, row)."""
        out: list[tuple[int, bytes]] = []
        start = max(after + 1, self.rows_floor)
        if start > self._base:
            return out
        stop = gid_u64_key(self._gid, self._base + 1)
        for key, value in self._store.scan(DB_JOURNAL, gid_u64_key(self._gid, start), stop):
            out.append((self._index_of(key), bytes(value)))
            if len(out) >= max_rows:
                break
        return out

    def put_raw_rows(self, low: int, high: int, rows: list[tuple[int, bytes]]) -> None:
        """Make the rows of indexes [``low``, ``high``] exactly ``rows`` (another replica's, for a
        snapshot): rows of this log in that range that are not among them go."""
        wanted = dict(rows)
        invariant(all(low <= i <= high for i in wanted), f"journal {self._gid}: snapshot rows outside [{low}, {high}]")
        stale = [bytes(k) for k, _ in self._store.scan(DB_JOURNAL, gid_u64_key(self._gid, low),
                                                        gid_u64_key(self._gid, high + 1))
                 if self._index_of(k) not in wanted]
        for key in stale:
            self._store.delete(DB_JOURNAL, key)
        for idx, row in wanted.items():
            self._store.put(DB_JOURNAL, gid_u64_key(self._gid, idx), row)

    def reclaim(self, budget: int) -> int:
        """Delete rows of discarded entries until ``budget`` is spent, a row costing 1 plus 1 per
        ``RECLAIM_ROW_BYTES`` of it (the last row may overdraw it); the cost spent (less than
        ``budget``: none are left)."""
        if not self._reclaim_to:
            return 0
        spent = self._store.delete_range(DB_JOURNAL, self._prefix, gid_u64_key(self._gid, self._reclaim_to + 1),
                                         budget, RECLAIM_ROW_BYTES)
        if spent < budget:
            self._reclaim_to = 0
        return spent

    def arm_truncation(self, idx: int) -> None:
        """Allow the next ``deleteEntriesFrom`` to remove entries from ``idx`` on: a real conflict."""
        self._truncate_armed_from = idx

    def entries_from(self, idx: int, max_count: int, max_bytes: int) -> list[Entry]:
        """Entries from Raft index ``idx`` on: at least one if it exists, then within the limits."""
        out: list[Entry] = []
        if self._first == 0 or idx > self._last:
            return out
        idx = max(idx, self._first)
        if self._base and idx == self._base:
            out.append(self._base_entry())  # pysyncobj reads the base as its first entry
            idx += 1
            if idx > self._last:
                return out
        size = 0
        if idx in self._tail:  # then so is everything after it, up to the last entry
            for i in range(idx, self._last + 1):
                entry = self._tail[i]
                size += len(entry[0])
                if out and (len(out) >= max_count or size > max_bytes):
                    break
                out.append(entry)
            return out
        start = gid_u64_key(self._gid, idx)
        for key, value in self._store.scan(DB_JOURNAL, start, self._stop):
            if not out and key != start:
                return out
            if out and out[-1][1] + 1 != self._index_of(key):
                return out
            entry = self._decode(self._index_of(key), value)
            size += len(value)
            if out and (len(out) >= max_count or size > max_bytes):
                break
            out.append(entry)
        return out

    # --- pysyncobj's Journal interface ----------------------------------------------------------
    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._first and idx != self._last + 1:
            raise InvariantViolation(f"journal {self._gid}: append of {idx} after {self._last}")
        value = encode_row(term, bytes(command))
        self._store.put(DB_JOURNAL, gid_u64_key(self._gid, idx), value)
        entry = (bytes(command), idx, term)
        self._tail_add(entry)
        self.appended += 1
        if not self._first:
            self._first, self._first_entry = idx, entry
        self._last, self._last_entry = idx, entry
        if command[:1] == MEMBERS and self.on_members_appended is not None:
            self.on_members_appended(idx, bytes(command))

    def take_appended(self) -> int:
        """Entries added since the last call (the driver counts the appends each store commit covers)."""
        n, self.appended = self.appended, 0
        return n

    def rewrite(self, idx: int, command: bytes, term: int) -> None:
        """Replace the stored bytes of entry ``idx`` with an identical copy from another replica
        (repair of on-disk damage; same index and term, so Raft's view of the log is unchanged)."""
        invariant(self.term_at(idx) == term, f"journal {self._gid}: repair of {idx} with another term")
        self._store.put(DB_JOURNAL, gid_u64_key(self._gid, idx), encode_row(term, bytes(command)))
        entry = (bytes(command), idx, term)
        if idx in self._tail:
            self._tail[idx] = entry  # in place (the order stays), and an identical copy: same size
        if idx == self._last:
            self._last_entry = entry
        if idx == self._first:
            self._first_entry = entry

    def clear(self) -> None:
        self._store.delete_prefix(DB_JOURNAL, self._prefix)
        self._tail.clear()
        self._tail_bytes = 0
        self._first = self._last = 0
        self._first_entry = self._last_entry = None
        self._base = self._base_term = self._reclaim_to = 0
        self._rows_floor = 1

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        idx = self._first + entryFrom
        if self._truncate_armed_from != idx:
            # pysyncobj asks to drop entries that match the leader's (a stale or repeated
            # AppendEntries). Raft §5.3 forbids it: they may be acknowledged already.
            log.debug("journal %d: refused truncation from %d (no conflict there)", self._gid, idx)
            return
        self._truncate_armed_from = None
        if idx <= self._commit:
            # A committed entry never conflicts with a legitimate leader's log (Raft's Leader
            # Completeness); rewriting it would silently re-point offsets at other batches.
            log.critical("journal %d: refused truncation from %d below commit %d", self._gid, idx, self._commit)
            raise InvariantViolation(f"journal {self._gid}: truncation from {idx} below commit {self._commit} refused")
        for i in range(idx, self._last + 1):
            self._store.delete(DB_JOURNAL, gid_u64_key(self._gid, i))
        self._tail_drop_from(idx)
        if idx <= self._first:
            self._first = self._last = 0
            self._first_entry = self._last_entry = None
        else:
            self._last = idx - 1
            if self._last == self._base:
                self._last_entry = self._first_entry
            else:
                self._last_entry = self._decode(self._last, self._row(self._last))
        if self.on_truncated is not None:
            self.on_truncated(idx)

    def deleteEntriesTo(self, entryTo: int) -> None:
        # pysyncobj compaction is off (kraft's retention trims the head itself); never reached.
        raise InvariantViolation("pysyncobj log compaction must stay disabled")

    def __len__(self) -> int:
        return 0 if not self._first else self._last - self._first + 1

    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        n = len(self)
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            invariant(step == 1, "pysyncobj reads the journal in steps of 1")
            if start >= stop:
                return []
            count = min(stop - start, SLICE_MAX_ENTRIES)
            return self.entries_from(self._first + start, count, SLICE_MAX_BYTES)
        pos = item + n if item < 0 else item
        if pos < 0 or pos >= n:
            raise IndexError(item)
        if pos == n - 1 and self._last_entry is not None:
            return self._last_entry
        if pos == 0 and self._first_entry is not None:
            return self._first_entry
        idx = self._first + pos
        cached = self._tail.get(idx)
        return cached if cached is not None else self._decode(idx, self._row(idx))

    def _destroy(self) -> None:
        pass

    def _save_meta(self) -> None:
        meta: dict[str, object] = {"term": self._term, "vote": self._vote, "commit": self._commit}
        if self._base:
            meta.update(base=self._base, base_term=self._base_term)
        if self._base or self._rows_floor > 1:
            meta.update(rows_floor=self._rows_floor)
        if self._rid is not None:
            meta.update(rid=self._rid)
        if self._learner is not None:
            meta.update(learner=self._learner)
        if self._config is not None:
            meta.update(voters=[[n, r] for n, r in sorted(self._config[0].items())], learners=self._config[1])
        self._store.put(DB_RAFTMETA, self._prefix, msgpack.packb(meta))

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        if raftCommitIndex != self._commit:
            self._commit = raftCommitIndex
            self._save_meta()

    def getRaftCommitIndex(self) -> int:
        return self._commit

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        if (term, votedForNodeId) != (self._term, self._vote):
            self._term, self._vote = term, votedForNodeId
            self._save_meta()

    def getCurrentTerm(self) -> int:
        return self._term

    def getVotedForNodeId(self) -> str | None:
        return self._vote

    def destroy_data(self) -> None:
        """Remove every row of this group (topic deleted or replica moved away)."""
        self.clear()
        self._store.delete(DB_RAFTMETA, self._prefix)
