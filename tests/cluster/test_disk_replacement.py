"""A node loses its disk (kill -9, data directory deleted, started again with the same id): it
rejoins every group as a learner, catches up, is promoted, and the cluster then survives the loss
of another node without losing an acknowledged record (issue 13)."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import pytest

from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_cli import kraft
from tests.cluster.test_replication import BackgroundProducer, check_acked_present, create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

JOINS_AS_LEARNER = "joins every group as a non-voting learner"


def wipe_and_restart(cluster: Cluster, node: int) -> None:
    cluster.kill(node)
    shutil.rmtree(cluster.root / "data" / str(node))
    cluster.start(node)


def status_of(cluster: Cluster, node: int) -> dict[str, Any] | None:
    try:
        return cluster.node_status(node)
    except (OSError, AssertionError):
        return None


def under_replicated(cluster: Cluster) -> int | None:
    """``kraft cluster status``'s count of under-replicated partitions (None: not known now)."""
    out = kraft("cluster", "status", "--bootstrap", cluster.bootstrap, "--json", check=False)
    if out.returncode != 0:
        return None
    count = json.loads(out.stdout)["under_replicated_partitions"]
    return None if count is None else int(count)


def voter_everywhere(cluster: Cluster, node: int, partitions: int) -> bool:
    status = status_of(cluster, node)
    return (status is not None and not status["metadata_learner"] and not status["rejoining"]
            and len(status["groups"]) == partitions and not any(g["learner"] for g in status["groups"]))


def test_a_replaced_disk_catches_up_then_the_cluster_survives_another_failure(cluster3: Cluster) -> None:
    create_topic(cluster3, "events", 3, 3)
    bp = BackgroundProducer(cluster3.bootstrap, "events", 3)
    bp.start()
    try:
        wait_for(lambda: len(bp.acked) >= 2000, 60, "2000 acknowledged records before the disk is lost")
        said = cluster3.log(3).count(JOINS_AS_LEARNER)
        wipe_and_restart(cluster3, 3)
        wait_for(lambda: cluster3.log(3).count(JOINS_AS_LEARNER) > said, 30, "node 3 to say it lost its disk")
        wait_for(lambda: voter_everywhere(cluster3, 3, 3), 90, "node 3 to catch up and be promoted everywhere")
        wait_for(lambda: under_replicated(cluster3) == 0, 30, "no partition under-replicated")
        cluster3.kill(1)
        killed_at = time.monotonic()
        wait_for(lambda: bp.acked_after(killed_at) >= 500, 30, "writes to succeed again after node 1 died")
        first_after = min(a[3] for a in bp.acked if a[3] > killed_at)
        assert first_after - killed_at < 15, "writes resumed too late"
        wait_for(lambda: under_replicated(cluster3) == 3, 30, "every partition under-replicated without node 1")
    finally:
        bp.stop()
    check_acked_present(cluster3, "events", 3, bp.acked)


def test_another_failure_before_the_replaced_disk_caught_up_loses_nothing(cluster3: Cluster) -> None:
    create_topic(cluster3, "events", 3, 3)
    bp = BackgroundProducer(cluster3.bootstrap, "events", 3)
    bp.start()
    try:
        wait_for(lambda: len(bp.acked) >= 2000, 60, "2000 acknowledged records before the disk is lost")
        wipe_and_restart(cluster3, 3)
        cluster3.kill(1)  # node 3 is not a voter yet: writes may stop, nothing acknowledged may go
        stopped_at = time.monotonic()
        cluster3.start(1)
        wait_for(lambda: bp.acked_after(stopped_at) >= 500, 60, "writes to succeed again once node 1 is back")
        time_to_resume = time.monotonic() - stopped_at
        assert time_to_resume < 60
        wait_for(lambda: voter_everywhere(cluster3, 3, 3), 90, "node 3 to catch up and be promoted everywhere")
    finally:
        bp.stop()
    check_acked_present(cluster3, "events", 3, bp.acked)
