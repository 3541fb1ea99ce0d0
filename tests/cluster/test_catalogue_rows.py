"""A node started on a disk whose metadata catalogue is one row (the layout before rows per topic,
partition and node) serves it as before, and keeps working after its first metadata entry rewrote
the catalogue in rows: the old disk is made by writing the node's own catalogue back in the old
layout while it is down (kill -9: what was fsynced is what the disk holds)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kraft import Consumer, Producer, TopicPartition
from kraft.log.lmdb_store import LmdbStore
from kraft.log.rows import MetadataRows
from kraft.log.store import DB_PSTATE, gid_key
from kraft.state.metadata import METADATA_GID, MetadataMachine
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = pytest.mark.cluster


def rewrite_in_the_old_layout(data_dir: Path) -> None:
    store = LmdbStore(data_dir, fsync=True, map_size_mb=1024)
    try:
        rows = MetadataRows(store, METADATA_GID)
        catalogue = MetadataMachine(rows).state()["catalogue"]
        assert "topics" not in (rows.load_state() or {}), "this node wrote its catalogue in rows"
        for kind in (b"t", b"p", b"n"):
            assert store.delete_prefix(DB_PSTATE, gid_key(METADATA_GID) + kind) or kind == b"n"
        rows.save_state(catalogue)  # the old head: topics with their partitions, nodes, counters
        store.commit()
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_a_disk_with_the_catalogue_in_one_row_is_served_and_migrated(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 1, rf=1)
    try:
        cluster.start_all()
        assert cluster.call(1, "create_topic", {"name": "old", "partitions": 3})[0] == 0
        cluster.wait_leaders("old")
        with Producer(cluster.bootstrap) as producer:
            for p in range(3):
                producer.send("old", value=b"before", partition=p).result(timeout=30)
        cluster.kill(1, signal.SIGKILL)
        rewrite_in_the_old_layout(tmp_path / "data" / "1")
        cluster.start(1)
        assert set(cluster.wait_leaders("old", timeout_s=60)) == {0, 1, 2}, "the old row's topic is served"
        assert cluster.call(1, "create_topic", {"name": "new", "partitions": 2})[0] == 0  # rewrites it in rows
        cluster.wait_leaders("new", timeout_s=60)
        cluster.kill(1, signal.SIGKILL)
        cluster.start(1)
        assert set(cluster.wait_leaders("old", timeout_s=60)) == {0, 1, 2}
        assert set(cluster.wait_leaders("new", timeout_s=60)) == {0, 1}
        with Producer(cluster.bootstrap) as producer:
            producer.send("old", value=b"after", partition=1).result(timeout=30)
        with Consumer(cluster.bootstrap) as consumer:
            consumer.assign([TopicPartition("old", 1)])
            consumer.seek(TopicPartition("old", 1), 0)
            values: list[bytes] = []
            wait_for(lambda: values.extend(r.value for r in consumer.poll(timeout_ms=500)) or len(values) >= 2,
                     30, "both records of old/1")
            assert values == [b"before", b"after"]
        cluster.kill(1, signal.SIGKILL)
        store = LmdbStore(tmp_path / "data" / "1", fsync=False, map_size_mb=1024)
        try:
            rows = MetadataRows(store, METADATA_GID)
            assert "topics" not in (rows.load_state() or {}), "the head row no longer holds the catalogue"
            assert {name: len(t["partitions"]) for name, t in rows.load_topics().items()} == {"old": 3, "new": 2}
        finally:
            store.close()
    finally:
        cluster.stop_all()
