"""A batch damaged on disk is detected when read, never served, and repaired from another replica."""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb
import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.log.index_rows import INDEX_ROW
from kraft.log.store import DB_JOURNAL, DB_OFFSETS, gid_key, gid_u64_key
from kraft.state.metadata import partition_gid
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


def damage_first_batch(node_dir: Path, gid: int) -> None:
    """Flip one byte in the body of the partition's first batch, as a bad sector would."""
    env = lmdb.open(str(node_dir), max_dbs=16)
    try:
        offsets = env.open_db(DB_OFFSETS, create=False)
        journal = env.open_db(DB_JOURNAL, create=False)
        with env.begin(write=True) as txn, txn.cursor(offsets) as cur:
            assert cur.set_range(gid_key(gid))
            raft_index = INDEX_ROW.unpack_from(cur.value())[0]
            key = gid_u64_key(gid, raft_index)
            value = bytearray(txn.get(key, db=journal))
            value[-5] ^= 0xFF
            txn.put(key, bytes(value), db=journal)
    finally:
        env.close()


def read_values(bootstrap: str, topic: str, n: int) -> list[bytes | None]:
    consumer = Consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        out: list[bytes | None] = []
        wait_for(lambda: out.extend(r.value for r in consumer.poll(timeout_ms=300)) or len(out) >= n, 60,
                 "every record back")
        return out
    finally:
        consumer.close()


def test_damaged_batch_is_not_served_and_is_repaired_from_a_replica(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("c", partitions=1, replication_factor=3)
        leaders = cluster.wait_leaders("c")
        values = [struct.pack(">I", i) * 25 for i in range(200)]
        with Producer(cluster.bootstrap, linger_ms=20) as producer:
            for v in values:
                producer.send("c", value=v, partition=0)
            producer.flush()
        preferred = leaders[0]
        others = [n for n in cluster.procs if n != preferred]
        # An acknowledgement needs a majority only: wait until the third copy is there too, or the
        # kill below can leave a replica without the batch this test damages.
        wait_for(lambda: all(g["high_watermark"] == len(values) for n in cluster.procs
                             for g in cluster.node_status(n)["groups"]), 30, "every replica to apply every batch")
        for n in cluster.procs:
            cluster.kill(n)
        gid = partition_gid(1, 0)
        for n in (preferred, others[0]):  # two of three copies damaged; one intact copy remains
            damage_first_batch(cluster.root / "data" / str(n), gid)
        cluster.start_all()
        cluster.wait_leaders("c")
        wait_for(lambda: cluster.leaders("c").get(0) == preferred, 60, "the damaged preferred replica to lead")
        assert read_values(cluster.bootstrap, "c", len(values)) == values
        assert "repaired from node" in cluster.log(preferred)
    finally:
        cluster.stop_all()
