"""Read a stopped node's replica of a partition straight from its LMDB (for log-equality checks)."""

from __future__ import annotations

from pathlib import Path

import lmdb

from kraft.log.entry import BATCH_AT, OP_AT, OP_NATIVE, stored_batches
from kraft.log.index_rows import INDEX_ROW, emptied
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, gid_key, gid_u64_key
from kraft.protocol.batch import decode_batch
from kraft.protocol.kafka.records import decode_kafka_batch


def read_replica(node_dir: Path, gid: int) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record of partition ``gid`` in this node's store."""
    env = lmdb.open(str(node_dir), readonly=True, lock=False, max_dbs=16)
    try:
        offsets = env.open_db(DB_OFFSETS, create=False)
        journal = env.open_db(DB_JOURNAL, create=False)
        out = []
        prefix = gid_key(gid)
        with env.begin() as txn, txn.cursor(offsets) as cur:
            if cur.set_range(prefix):
                for key, row in cur:
                    if key[:8] != prefix:
                        break
                    raft_index, base, _ = INDEX_ROW.unpack_from(row)
                    value = None if emptied(row) else txn.get(gid_u64_key(gid, raft_index), db=journal)
                    if value is None:
                        continue  # compaction emptied the batch, or retention removed it just now
                    for part_base, op, part in stored_batches(value[OP_AT:BATCH_AT], value[BATCH_AT:], base):
                        decode = decode_batch if op == OP_NATIVE else decode_kafka_batch
                        decoded = decode(part, part_base)
                        out.extend((rec[0], rec[2], rec[3]) for rec in decoded)
        return out
    finally:
        env.close()
