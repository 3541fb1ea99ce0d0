"""Which record batch layout real nodes name in their metadata answers (kraft.node.batch_format over
kraft.raft.host's hellos): columns once every other node has said it reads them, rows while a node
has not been heard from since the answering node started, and rows for good with ``batch_format =
rows``. Real node processes on 127.0.0.1, deadlines, every node stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def said(cluster: Cluster, node: int) -> str | None:
    try:
        code, body = cluster.call(node, "metadata", {"topics": []})
    except OSError:
        return None
    return body.get("batch_format") if code == 0 else None


def test_columns_once_every_node_is_heard_and_rows_while_one_is_not(cluster3: Cluster) -> None:
    wait_for(lambda: all(said(cluster3, n) == "columns" for n in (1, 2, 3)), 30, "every node naming columns")
    cluster3.kill(3)
    cluster3.kill(1)
    cluster3.start(1)  # node 1 has not heard node 3 since it started: it might run older code
    wait_for(lambda: said(cluster3, 1) == "rows", 30, "node 1 naming rows")
    assert said(cluster3, 2) == "columns"  # node 2 heard node 3 (this code) before it went down
    cluster3.start(3)
    wait_for(lambda: said(cluster3, 1) == "columns", 30, "node 1 naming columns once node 3 is back")


def test_batch_format_rows_keeps_rows(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 2, rf=2, extra="batch_format = rows")
    try:
        cluster.start_all()
        # Registered through the metadata group: the two have exchanged hellos by then.
        wait_for(lambda: cluster.registered([1, 2]), 30, "both nodes registered")
        assert {said(cluster, 1), said(cluster, 2)} == {"rows"}
    finally:
        cluster.stop_all()
