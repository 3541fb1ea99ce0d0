"""A journal row and the command inside it: the one owner of their bytes.

Owns:
- the journal row, the value of ``journal`` keyed gid + Raft index: ``TERM`` (u64 big-endian), then
  the command as pysyncobj handed it over (``encode_row``, ``row_term``, ``row_command``);
- the command framing: pysyncobj's command-type byte first — ``REGULAR`` for kraft's commands;
  pysyncobj writes its own ``NO_OP`` at the start of a term, and kraft never uses its other types;
  ``MEMBERS`` is kraft's own Raft-level command, applied by the group itself, never by a state
  machine: ``MEMBERS`` + msgpack ``[voters, learners, promoted]``, the group's whole configuration
  from that entry on (absolute, so a replica that replays it from any starting point ends with the
  leader's): voters as ``[node, replica id]`` pairs (only that replica of the node votes and counts),
  ``promoted`` ``[node, replica id]`` or nil: that replica, a learner that lost its disk, votes
  again (``encode_members``, ``members_fields``) —
  then the payload a state machine applies:

      partition group   b""                      nothing (only moves last_applied)
                        OP_NATIVE + batch        a native kraft batch (``kraft.protocol.batch``)
                        OP_KAFKA + batch         a Kafka magic-v2 batch as its producer sent it
                                                 (``kraft.protocol.kafka.records``)
                        OP_KAFKA_SET + batches   Kafka batches of several produce requests, back to
                                                 back, each as its producer sent it, all without a
                                                 producer id (no idempotence): one entry, one index
                                                 row, their offsets dense in order (``join_kafka_set``;
                                                 a node writes them only once every node reads them,
                                                 ``READS_KAFKA_SETS``)
                        OP_TRIM + u64            move the log start offset up to the u64 (DeleteRecords,
                                                 retention); ``encode_trim``, ``trim_offset``
                        OP_COMPACT + u64 + u64 + i64
                                                 compact the batches below the first offset; tombstones
                                                 below the second may go; the i64 is the leader's
                                                 wall-clock ms when it proposed the pass;
                                                 ``encode_compact``, ``compact_fields``
      metadata group    a msgpack map            {"op": name, ...} (``kraft.state.metadata``);
                                                 its first byte (0x80-0x8f, 0xde, 0xdf) is never an op

  so a produce row is TERM | REGULAR | op | batch (``OP_AT``, ``BATCH_AT``);
- what the log does with a stored batch by its op: the checksum of its kind (``verify_stored``,
  ``intact``), the header fields an apply reads (``batch_fields``; the header layouts themselves are
  owned by the two batch modules), the single batches it holds (``stored_batches``) and the bytes a
  reader is served (``as_served``, ``is_native``).

Served batches of both kinds share one stream and are told apart by their first byte: a native batch
starts with its magic (1 rows, 2 columns); a Kafka batch starts with its base offset, which the log patches in on
read and which is below 2**56, so its first byte is 0.
Must not: know keys, tables or transactions (``kraft.log.store``), or what a command means.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import msgpack

from kraft.errors import CorruptRecord
from kraft.protocol.batch import MAGICS as NATIVE_MAGICS
from kraft.protocol.batch import header_fields, verify_batch
from kraft.protocol.kafka.records import kafka_header_fields, record_set_views, verify_kafka_batch, with_base_offset

TERM = struct.Struct(">Q")
COMMAND_AT = TERM.size

REGULAR = b"\x00"  # pysyncobj's _COMMAND_TYPE.REGULAR
NO_OP = b"\x01"  # pysyncobj's _COMMAND_TYPE.NO_OP: a new leader's first entry
MEMBERS = b"\x11"  # kraft's: the group's configuration (not pysyncobj's MEMBERSHIP, 2)
OP_NATIVE = b"P"
OP_KAFKA = b"K"
OP_KAFKA_SET = b"S"
READS_KAFKA_SETS = "kafka-sets"  # said in Raft hellos by nodes whose code reads OP_KAFKA_SET entries
PRODUCE_OPS = (OP_NATIVE, OP_KAFKA, OP_KAFKA_SET)
OP_TRIM = b"T"
TRIM_OFFSET = struct.Struct(">Q")
OP_COMPACT = b"C"
COMPACT_FIELDS = struct.Struct(">QQq")  # end offset, tombstones below, proposed at (ms)
OP_AT = COMMAND_AT + 1
BATCH_AT = OP_AT + 1


# --- the journal row ----------------------------------------------------------------------------
def encode_row(term: int, command: bytes) -> bytes:
    return TERM.pack(term) + command


def row_term(row: bytes) -> int:
    term: int = TERM.unpack_from(row)[0]
    return term


def row_command(row: bytes) -> bytes:
    return row[COMMAND_AT:]


# --- Raft-level commands ------------------------------------------------------------------------
def encode_members(voters: Mapping[int, str], learners: Iterable[int],
                   promoted: tuple[int, str] | None = None) -> bytes:
    """The command (type byte included) that makes the group's configuration ``voters`` (node ->
    the replica id whose votes and acknowledgements count, "" for any) and ``learners``;
    ``promoted``: (node, replica id) of a learner that lost its disk and votes again."""
    body = [[[n, voters[n]] for n in sorted(voters)], sorted(learners), None if promoted is None else list(promoted)]
    packed: bytes = msgpack.packb(body)
    return MEMBERS + packed


def members_fields(command: bytes) -> tuple[dict[int, str], set[int], tuple[int, str] | None]:
    voters, learners, promoted = msgpack.unpackb(bytes(command[1:]))
    return ({int(n): str(r) for n, r in voters}, {int(n) for n in learners},
            None if promoted is None else (int(promoted[0]), str(promoted[1])))


# --- partition commands without a batch ---------------------------------------------------------
def encode_trim(log_start_offset: int) -> bytes:
    """The payload that moves a partition's log start offset up to ``log_start_offset``."""
    return OP_TRIM + TRIM_OFFSET.pack(log_start_offset)


def trim_offset(payload: bytes) -> int:
    offset: int = TRIM_OFFSET.unpack_from(payload, 1)[0]
    return offset


def encode_compact(end_offset: int, tombstones_below: int, proposed_ms: int) -> bytes:
    """The payload that compacts a partition's batches below ``end_offset``, removing tombstones below
    ``tombstones_below``; ``proposed_ms`` is when (the leader's wall clock)."""
    return OP_COMPACT + COMPACT_FIELDS.pack(end_offset, tombstones_below, proposed_ms)


def compact_fields(payload: bytes) -> tuple[int, int, int]:
    end, tombstones_below, proposed_ms = COMPACT_FIELDS.unpack_from(payload, 1)
    return int(end), int(tombstones_below), int(proposed_ms)


# --- stored batches -----------------------------------------------------------------------------
def batch_fields(payload: bytes) -> tuple[int, int, int, int, int]:
    """(count, max timestamp, producer id, producer epoch, base sequence) of a produce payload (op +
    batch), read without checks: the batch was verified before it was proposed. A set's count is the
    offsets its batches take together, its max timestamp the newest of theirs, its producer none
    (-1, -1, -1)."""
    op = payload[:1]
    if op == OP_NATIVE:
        return header_fields(payload, 1)
    if op == OP_KAFKA:
        return kafka_header_fields(payload, 1)
    count, max_ts = 0, -1
    for at in _set_starts(payload, 1):
        n, ts, _pid, _epoch, _seq = kafka_header_fields(payload, at)
        count += n  # from the checksummed headers: an applied set is dense (compaction comes later)
        max_ts = max(max_ts, ts)
    return count, max_ts, -1, -1, -1


# A Kafka batch begins with its base offset (8 bytes, outside its CRC) and batch_length, which counts
# the bytes after itself. In a set the base offset field holds the batch's first offset relative to
# the set's: the set keeps its offsets when compaction drops one of its batches.
_OFFSET_LENGTH = struct.Struct(">qi")
_LENGTH_END = _OFFSET_LENGTH.size


def _set_starts(buf: bytes | memoryview, at: int) -> list[int]:
    """Where each batch of the verified set ``buf[at:]`` starts (its lengths only are read)."""
    starts = []
    end = len(buf)
    while at < end:
        starts.append(at)
        at += _LENGTH_END + _OFFSET_LENGTH.unpack_from(buf, at)[1]
    return starts


def joinable(command: bytes) -> bool:
    """Whether a command may go into a set: a produce of a Kafka batch without a producer id (a batch
    with one is checked against its producer's sequence alone, and may be refused or deduplicated
    alone)."""
    return command[1:2] == OP_KAFKA and command[:1] == REGULAR and kafka_header_fields(command, 2)[2] < 0


def join_kafka_set(commands: Sequence[bytes]) -> tuple[bytes, list[int]]:
    """One OP_KAFKA_SET command of ``joinable`` commands, their batches in order, and the first offset
    of each relative to the set's."""
    out: list[bytes | memoryview] = [REGULAR + OP_KAFKA_SET]
    firsts = []
    first = 0
    for command in commands:
        firsts.append(first)
        out += (_RELATIVE.pack(first), memoryview(command)[2 + _RELATIVE.size:])
        first += kafka_header_fields(command, 2)[0]
    return b"".join(out), firsts


_RELATIVE = struct.Struct(">q")


def stored_batches(op: bytes, batch: bytes, base_offset: int, *,
                   dense: bool = False) -> list[tuple[int, bytes, bytes | memoryview]]:
    """(base offset, op, batch) of each single batch a stored produce payload holds: the batch itself,
    or a set's batches with their offsets; CorruptRecord on a set that does not split into batches
    whose offsets ascend without overlapping (a set's offsets are outside its batches' CRCs), or with
    ``dense`` (a Raft entry: compaction, which leaves gaps, rewrites only rows below the Raft log) whose
    offsets do not follow one another exactly. A set's batches are views into ``batch``."""
    if op != OP_KAFKA_SET:
        return [(base_offset, op, batch)]
    out: list[tuple[int, bytes, bytes | memoryview]] = []
    end = 0
    for part in record_set_views(batch):
        first = _RELATIVE.unpack_from(part)[0]
        if first < end or (dense and first != end):
            raise CorruptRecord(f"a set of Kafka batches has a batch at relative offset {first}, after {end}")
        out.append((base_offset + first, OP_KAFKA, part))
        end = first + kafka_header_fields(part)[0]
    if not out:
        raise CorruptRecord("an empty set of Kafka batches")
    return out


def verify_stored(op: bytes, batch: bytes | memoryview, *, dense: bool = False) -> None:
    """CorruptRecord unless ``batch`` passes the checksum of its kind (each batch of a set, which
    holds only batches without a producer id; ``dense``: as ``stored_batches``)."""
    if op == OP_NATIVE:
        verify_batch(batch)
    elif op == OP_KAFKA:
        verify_kafka_batch(batch)
    elif op == OP_KAFKA_SET:
        for _base, _op, part in stored_batches(op, bytes(batch), 0, dense=dense):
            if verify_kafka_batch(part).producer_id >= 0:
                raise CorruptRecord("a set of Kafka batches holds one with a producer id")
    else:
        raise CorruptRecord(f"unknown stored batch kind {op!r}")


def intact(command: bytes) -> bool:
    """Whether a produce command's batch passes its checksum (other commands carry no batch); a Raft
    entry's, so a set's offsets must follow one another."""
    if command[:1] != REGULAR or command[1:2] not in PRODUCE_OPS:
        return True
    try:
        verify_stored(command[1:2], command[2:], dense=True)
    except CorruptRecord:
        return False
    return True


def as_served(op: bytes, batch: bytes, base_offset: int, leader_epoch: int = -1) -> bytes:
    """The bytes a reader gets of a single batch (a set's: ``stored_batches``): native batches as
    stored, Kafka batches with their base offset and the leader epoch they were written in (the Raft
    term of their entry)."""
    return batch if op == OP_NATIVE else with_base_offset(batch, base_offset, leader_epoch)


def is_native(batch: bytes | memoryview) -> bool:
    return len(batch) > 0 and batch[0] in NATIVE_MAGICS


def served_count(batch: bytes) -> int:
    """The offsets a served batch (``as_served``) takes, from its header alone (it was verified on read)."""
    return (header_fields(batch) if is_native(batch) else kafka_header_fields(batch))[0]
