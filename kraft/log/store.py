"""The LogStore protocol: a node's ordered key/value tables, one writer, readers on any thread.

Owns: the protocol every storage user codes against (``LogStore`` for the Raft driver thread,
``ReadView`` for readers), the names of the node's tables, and the key layout they share (an 8-byte
group id, ``gid``, before every key, so one table holds every group's rows and a group's rows are
one contiguous key range).
Must not: know LMDB (``kraft.log.lmdb_store``) or what a row means (the journal, the partition log
and ``kraft.log.rows`` do).

The write side is one implicit batch per driver loop: the first ``get``/``scan``/``put``/``delete``
opens it on the calling thread, every call until ``commit``/``abort`` must come from that thread
(another thread gets an AssertionError), and ``commit`` makes everything written since the last
commit visible to readers at once — and durable, with one fsync, when the store was opened with
``fsync``. The writer's own ``get`` and ``scan`` see its uncommitted writes; a ``ReadView`` sees
committed data only, as of the moment it was opened (``MemoryStore``, on the writer's own thread:
as of each call).

Keys are 1..``KEY_BYTES_MAX`` bytes (LMDB's limit; longer or empty keys raise ValueError in every
implementation). ``scan`` yields ``(key, value)`` in key order over ``start <= key < stop`` (no
``stop``: to the end of the table), in descending order with ``reverse``. A scan must be consumed
or dropped before the same table is written again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol

KEY_BYTES_MAX = 511

# The node's tables (LMDB named databases of one environment; each keyed by gid prefix).
DB_JOURNAL = b"journal"  # gid+raft idx -> journal row (kraft.log.entry)
DB_RAFTMETA = b"raftmeta"  # gid -> msgpack {term, vote, commit}
DB_OFFSETS = b"offsets"  # gid+last offset of batch -> raft idx(8) + base offset(8) + max timestamp(8)
DB_PSTATE = b"pstate"  # gid[+suffix] -> a group's state rows (kraft.log.rows)
DB_PRODUCERS = b"producers"  # gid+producer id -> msgpack idempotence state of that producer
DB_NAMES = (DB_JOURNAL, DB_RAFTMETA, DB_OFFSETS, DB_PSTATE, DB_PRODUCERS)

GID = struct.Struct(">Q")
GID_U64 = struct.Struct(">QQ")


def gid_key(gid: int) -> bytes:
    return GID.pack(gid)


def gid_u64_key(gid: int, n: int) -> bytes:
    return GID_U64.pack(gid, n)


def u64_of(key: bytes) -> int:
    """The number after the gid in a ``gid_u64_key``."""
    return int.from_bytes(key[8:16], "big")


def prefix_stop(prefix: bytes) -> bytes | None:
    """The first key after every key that starts with ``prefix`` (None: no such key, scan to the end)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class ReadView(Protocol):
    """Committed data as of when the view was opened (``LogStore.read``)."""

    def get(self, table: bytes, key: bytes) -> bytes | None: ...

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]: ...


class LogStore(Protocol):
    """A node's tables. The write side belongs to one thread at a time (see the module docstring)."""

    fsync: bool

    # --- the writer's batch (sees its own uncommitted writes) -----------------------------------
    def get(self, table: bytes, key: bytes) -> bytes | None: ...

    def scan(self, table: bytes, start: bytes, stop: bytes | None = None, *,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]: ...

    def put(self, table: bytes, key: bytes, value: bytes) -> None: ...

    def delete(self, table: bytes, key: bytes) -> bool:
        """Remove ``key``; whether it was there."""
        ...

    def delete_prefix(self, table: bytes, prefix: bytes) -> int:
        """Remove every key starting with ``prefix``; how many there were."""
        ...

    def delete_range(self, table: bytes, start: bytes, stop: bytes | None, budget: int, unit_bytes: int = 0) -> int:
        """Remove rows of keys in ``[start, stop)`` in key order while less than ``budget`` is spent
        (so at least one row when ``budget`` > 0): a row costs 1, plus 1 per whole ``unit_bytes`` of
        its value (0: rows only). The cost spent; below ``budget``, no row is left in the range.
        Values are not read (LMDB: only their length, without copying them)."""
        ...

    def has_writes(self) -> bool:
        """Something was written since the last commit (so the next commit syncs anyway)."""
        ...

    def commit(self) -> bool:
        """Commit (and with ``fsync``, sync) everything written since the last commit; False if nothing was."""
        ...

    def abort(self) -> None:
        """Drop everything written since the last commit."""
        ...

    # --- readers on any thread ------------------------------------------------------------------
    def read(self) -> AbstractContextManager[ReadView]: ...

    def close(self) -> None:
        """Abort an open batch and release the store."""
        ...
