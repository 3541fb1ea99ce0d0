"""Rebalance and decommission with real nodes (issue 13): a cluster grows from 3 to 5 nodes under load
and is rebalanced, then two nodes are decommissioned, while a consumer group reads throughout: no
acknowledged record is lost and the group skips none. A decommission the remaining nodes could not
hold is refused with its code and changes nothing; ``--dry-run`` moves nothing."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin
from kraft.testing.local_cluster import Cluster, wait_for
from tests.cluster.test_cli import kraft
from tests.cluster.test_groups import PARTITIONS, TOPIC, Member, close_all, stable
from tests.cluster.test_replication import BackgroundProducer, check_acked_present, create_topic

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

FOUNDS = "founds the cluster"
JOINS_AS_LEARNER = "joins every group as a non-voting learner"
FAST = "leader_balance_interval_ms = 1000"  # leadership follows a move's new preferred replica sooner


def registered(admin: Admin) -> set[int]:
    """The nodes a plan counts: before any topic exists, exactly the registered ones."""
    return set(admin.plan_rebalance().replicas_before)


def replicas(admin: Admin, topic: str) -> list[list[int]]:
    return [list(p.replicas) for p in admin.describe_topic(topic).partitions]


def replicas_if(admin: Admin, topic: str, planned: dict[int, list[int]]) -> list[list[int]] | None:
    """The topic's replicas once the metadata asked has every partition of ``planned`` as planned."""
    now = replicas(admin, topic)
    return now if all(now[p] == r for p, r in planned.items()) else None


def spread(counts: Counter[int], nodes: list[int]) -> int:
    return max(counts.get(n, 0) for n in nodes) - min(counts.get(n, 0) for n in nodes)


def cli_json(*args: str, check: bool = True) -> dict[str, object]:
    out = kraft(*args, "--json", check=check)
    parsed: dict[str, object] = json.loads(out.stdout)
    return parsed


@pytest.fixture
def growing(tmp_path: Path) -> Iterator[Cluster]:
    """cluster.ini lists 5 nodes; 1-3 start (and found the cluster), 4 and 5 later."""
    c = Cluster(tmp_path, 5, extra=FAST)
    try:
        c.start_nodes([1, 2, 3])
        yield c
    finally:
        c.stop_all()


def test_grow_rebalance_and_decommission_under_load_with_a_group_reading(growing: Cluster) -> None:
    c = growing
    with Admin(c.bootstrap) as admin:
        wait_for(lambda: registered(admin) == {1, 2, 3}, 30, "nodes 1-3 to register")
    assert all(FOUNDS in c.log(n) for n in (1, 2, 3)), "the first three found the cluster together"
    create_topic(c, TOPIC, PARTITIONS, 3)
    with Admin(c.bootstrap) as admin:
        assert all(set(r) <= {1, 2, 3} for r in replicas(admin, TOPIC)), "no replica on a node never started"
    bp = BackgroundProducer(c.bootstrap, TOPIC, PARTITIONS)
    members = [Member(c, "readers", f"m{i}").start() for i in range(2)]
    bp.start()
    try:
        wait_for(lambda: stable(members), 30, "the group to settle")
        wait_for(lambda: len(bp.acked) >= 1000, 60, "1000 acknowledged records before the cluster grows")

        c.start(4)
        c.start(5)
        with Admin(c.bootstrap) as admin:
            wait_for(lambda: registered(admin) >= {4, 5}, 60, "nodes 4 and 5 to register")
            assert all(JOINS_AS_LEARNER in c.log(n) for n in (4, 5))
            plan = admin.plan_rebalance()
            assert plan.replicas_before[4] == plan.replicas_before[5] == 0, "nothing moves until asked"

        dry = cli_json("cluster", "rebalance", "--dry-run", "--bootstrap", c.bootstrap)
        assert dry["moves"] and dry["dry_run"] is True
        done = cli_json("cluster", "rebalance", "--timeout-s", "180", "--bootstrap", c.bootstrap)
        assert done["done"] is True
        planned = {m["partition"]: m["planned"] for m in done["moves"]}  # type: ignore[attr-defined]
        with Admin(c.bootstrap) as admin:
            assert admin.plan_rebalance().moves == [], "balanced: a second rebalance has nothing to do"
            # As every node's metadata has it (one may apply the end of a move a moment later).
            after = wait_for(lambda: replicas_if(admin, TOPIC, planned), 30, "the planned replicas in the metadata")
        assert spread(Counter(n for r in after for n in r), [1, 2, 3, 4, 5]) <= 1
        assert spread(Counter(r[0] for r in after), [1, 2, 3, 4, 5]) <= 1
        preferred = {p: r[0] for p, r in enumerate(after)}
        wait_for(lambda: c.leaders(TOPIC) == preferred, 60, "leader balancing to hand each partition to its "
                 "preferred replica")
        grown_at = time.monotonic()
        wait_for(lambda: bp.acked_after(grown_at) >= 300, 60, "writes after the rebalance")

        out = cli_json("cluster", "decommission", "--node", "4", "--node", "5", "--timeout-s", "180",
                       "--bootstrap", c.bootstrap)
        assert out["empty"] is True and out["nodes"] == [4, 5] and out["left_metadata_group"] is True
        with Admin(c.bootstrap) as admin:
            described = admin.describe_cluster()
            assert not {4, 5} & (set(described.metadata_voters) | set(described.metadata_learners))
        assert out["moved_replicas"] == 6, "each replica on 4 and 5 moved once"
        for node in (4, 5):
            assert c.node_status(node)["groups"] == [], f"node {node} dropped every replica"
        with Admin(c.bootstrap) as admin:
            wait_for(lambda: all(set(r) <= {1, 2, 3} for r in replicas(admin, TOPIC)), 30, "replicas on 1-3 only")
        shrunk_at = time.monotonic()
        wait_for(lambda: bp.acked_after(shrunk_at) >= 300, 60, "writes after the decommissions")
    finally:
        bp.stop()
    try:
        with Admin(c.bootstrap) as admin:
            ends = {p.partition: p.high_watermark for p in admin.describe_topic(TOPIC).partitions}

        def read_to_the_end() -> bool:
            last: dict[int, int] = defaultdict(lambda: -1)
            for m in members:
                for p, o, _ in list(m.seen):
                    last[p] = max(last[p], o)
            return all(last[p] >= ends[p] - 1 for p in range(PARTITIONS))

        wait_for(read_to_the_end, 90, "the group to read to the end")
    finally:
        close_all(members)
    for m in members:
        m.check()
    seen: dict[int, dict[int, bytes]] = defaultdict(dict)
    for m in members:
        for p, o, v in m.seen:
            seen[p][o] = v
    for p in range(PARTITIONS):
        assert sorted(seen[p]) == list(range(ends[p])), f"partition {p}: the group skipped offsets"
    assert all(seen[p].get(o) == v for p, o, v, _ in bp.acked), "the group read every acknowledged record"
    check_acked_present(c, TOPIC, PARTITIONS, bp.acked)


def test_decommission_is_refused_when_the_rest_cannot_hold_the_replication_factor(cluster3: Cluster) -> None:
    create_topic(cluster3, "wide", 2, 3)
    with Admin(cluster3.bootstrap) as admin:
        wait_for(lambda: registered(admin) == {1, 2, 3}, 30, "every node to register")
        plan = admin.plan_rebalance()
    refused = kraft("cluster", "decommission", "--node", "3", "--json", "--bootstrap", cluster3.bootstrap, check=False)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)
    assert (error["error"], error["code"]) == ("NOT_ENOUGH_NODES", 1006)
    assert "too few to hold wide (replication factor 3)" in error["message"]
    text = kraft("cluster", "decommission", "--node", "9", "--bootstrap", cluster3.bootstrap, check=False)
    assert text.returncode == 1 and "error: BROKER_ID_NOT_REGISTERED: node 9 is not registered" in text.stderr
    with Admin(cluster3.bootstrap) as admin:
        assert admin.plan_rebalance() == plan, "node 3 was not marked: no move off it is planned"
        assert admin.list_partition_reassignments() == {}
        admin.create_topic("still-three", 1, 3)  # and it still takes new replicas


def test_dry_run_moves_nothing_and_the_rebalance_then_shows_progress(cluster4: Cluster) -> None:
    create_topic(cluster4, "skewed", 4, 3)
    with Admin(cluster4.bootstrap) as admin:
        admin.reassign_partitions({("skewed", p): [1, 2, 3] for p in range(4)})  # node 4 holds nothing
        # Done, and seen so by the node describe asks (its metadata may apply the end of a move later).
        wait_for(lambda: admin.list_partition_reassignments() == {} and replicas(admin, "skewed") == [[1, 2, 3]] * 4,
                 60, "the skew to be in place")
    out = kraft("cluster", "rebalance", "--dry-run", "--bootstrap", cluster4.bootstrap)
    assert "dry run: nothing was moved" in out.stdout
    assert "replicas now" in out.stdout and "leaders before" in out.stdout
    planned = cli_json("cluster", "rebalance", "--dry-run", "--bootstrap", cluster4.bootstrap)
    assert {"node": 4, "before": 0, "after": 3} in planned["replicas_per_node"]  # type: ignore[operator]
    with Admin(cluster4.bootstrap) as admin:
        assert admin.list_partition_reassignments() == {}
        assert replicas(admin, "skewed") == [[1, 2, 3]] * 4
    # Then carried out, in text: the plan, a progress line per partition state change, the end.
    out = kraft("cluster", "rebalance", "--timeout-s", "120", "--bootstrap", cluster4.bootstrap)
    assert "moves done: 0/" in out.stderr and "moving skewed/" in out.stderr
    assert "rebalance done" in out.stdout
    with Admin(cluster4.bootstrap) as admin:
        assert admin.plan_rebalance().moves == []
