"""The durability promise, per fsync policy: kill -9 of every node at once loses nothing acknowledged.

With ``fsync = never`` this holds because the data is in the OS page cache, which outlives the
processes; with ``always`` each replica also synced before acknowledging (the power-loss case).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kraft import Admin, Producer
from kraft.testing.local_cluster import Cluster
from tests.cluster.test_replication import check_acked_present

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_kill_every_node_loses_nothing_acknowledged(tmp_path: Path, fsync: str) -> None:
    cluster = Cluster(tmp_path, 3, fsync=fsync)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("d", partitions=3, replication_factor=3)
        cluster.wait_leaders("d")
        acked = []
        with Producer(cluster.bootstrap, acks="all", linger_ms=1) as producer:
            futures = [(b"d%05d" % i, producer.send("d", value=b"d%05d" % i, partition=i % 3)) for i in range(3000)]
            for value, fut in futures:
                meta = fut.result(timeout=60)
                acked.append((meta.partition, meta.offset, value, 0.0))
            # The moment the last acknowledgement arrives, every node dies at once.
            for node in (1, 2, 3):
                cluster.kill(node, signal.SIGKILL)
        cluster.start_all()
        cluster.wait_leaders("d")
        check_acked_present(cluster, "d", 3, acked)
    finally:
        cluster.stop_all()


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_power_loss_of_every_node(tmp_path: Path, fsync: str) -> None:
    """Every node loses every write after its last fsync (its data file is put back to the copy it
    took right after each synced commit). fsync=always keeps every acknowledged record; fsync=never
    loses them, as README says: it only promises to survive process crashes."""
    cluster = Cluster(tmp_path, 3, fsync=fsync, sync_snapshots=True)
    try:
        cluster.start_all()
        with Admin(cluster.bootstrap) as admin:
            admin.create_topic("d", partitions=1, replication_factor=3)
        cluster.wait_leaders("d")
        acked = []
        with Producer(cluster.bootstrap, acks="all", linger_ms=1) as producer:
            futures = [(b"d%05d" % i, producer.send("d", value=b"d%05d" % i, partition=0)) for i in range(500)]
            for value, fut in futures:
                meta = fut.result(timeout=60)
                acked.append((meta.partition, meta.offset, value, 0.0))
            for node in (1, 2, 3):
                cluster.kill(node, signal.SIGKILL)
        for node in (1, 2, 3):
            data = cluster.root / "data" / str(node)
            synced = data / "data.mdb.synced"
            (data / "data.mdb").unlink()
            if synced.exists():
                synced.rename(data / "data.mdb")
            (data / "lock.mdb").unlink(missing_ok=True)
        cluster.start_all()
        if fsync == "always":
            cluster.wait_leaders("d")
            check_acked_present(cluster, "d", 1, acked)
        else:
            with Admin(cluster.bootstrap) as admin:
                assert "d" not in admin.list_topics(), "nothing was synced, so nothing survives"
    finally:
        cluster.stop_all()
