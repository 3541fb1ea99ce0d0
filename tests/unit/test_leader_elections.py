"""The cluster's id and its leaders, against real nodes in this process (``InProcessCluster``): the id
a new cluster gets, ``Admin.describe_cluster``, preferred-leader elections on request
(``Admin.elect_leaders``, the native ``elect_leaders``, ``kraft cluster elect-leaders``) reaching each
partition's leader on whichever node it is, and the automatic hand-back every
``leader_balance_interval_ms``. Automatic balancing is off in the shared cluster, so a leader moved by
a test stays where it was put until an election moves it. (In-process timers are short: under load a
leadership may also move by itself, so partitions a test did not move may be "elected" too.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import cast

import pytest
from typer.testing import CliRunner

import cli
from kraft import Admin, ElectionNotNeeded, LeaderElection, PreferredLeaderNotAvailable, UnknownTopicOrPartition
from kraft.errors import LeaderNotAvailable, NotLeader
from kraft.node import elections
from kraft.node.broker import Broker
from kraft.node.broker_values import LeaderElection as BrokerElection
from kraft.node.broker_values import MetadataAnswer, NodeAddress, PartitionMetadata, TopicMetadata
from kraft.testing import InProcessCluster
from kraft.testing.local_cluster import RawClient, wait_for
from tests.unit.test_front_ends import StubBroker

PARTITIONS = 6


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    with InProcessCluster(nodes=3, leader_balance_interval_ms=0) as c:
        c.create_topic("t", partitions=PARTITIONS)
        yield c


@pytest.fixture
def admin(cluster: InProcessCluster) -> Iterator[Admin]:
    with Admin(cluster.bootstrap, request_timeout_ms=10_000) as a:
        yield a


def preferred(admin: Admin, topic: str) -> dict[int, int]:
    return {p.partition: p.replicas[0] for p in admin.describe_topic(topic).partitions}


def leaders(admin: Admin, topic: str) -> dict[int, int | None]:
    return {p.partition: p.leader for p in admin.describe_topic(topic).partitions}


def outcomes(results: list[LeaderElection]) -> dict[int, str]:
    return {r.partition: "elected" if r.error is None else r.error.name for r in results}


def test_a_new_cluster_has_an_id_that_every_node_answers(cluster: InProcessCluster, admin: Admin) -> None:
    described = admin.describe_cluster()
    assert described.cluster_id is not None and len(described.cluster_id) == 22
    assert described.cluster_id == cluster.cluster_id
    assert described.controller == cluster.controller
    assert [(n.node_id, f"{n.host}:{n.port}") for n in described.nodes] == [
        (i, cluster.address(i)) for i in cluster.node_ids]
    for node_id in cluster.node_ids:
        with Admin(cluster.address(node_id)) as one:
            assert one.describe_cluster().cluster_id == cluster.cluster_id


def test_elect_leaders_gives_each_partition_back_to_its_preferred_replica(cluster: InProcessCluster,
                                                                          admin: Admin) -> None:
    first = preferred(admin, "t")
    moved = {0: next(r for r in (1, 2, 3) if r != first[0]), 1: next(r for r in (3, 2, 1) if r != first[1])}
    for partition, leader in moved.items():
        cluster.set_leader("t", partition, leader)
    assert {p: leaders(admin, "t")[p] for p in moved} == moved

    results = admin.elect_leaders("t")
    assert [(r.topic, r.partition, r.preferred) for r in results] == [("t", p, first[p]) for p in range(PARTITIONS)]
    got = outcomes(results)
    assert {p: got[p] for p in moved} == {p: "elected" for p in moved}
    assert set(got.values()) <= {"elected", "ELECTION_NOT_NEEDED"}
    assert all(r.preferred_leads and r.leader == r.preferred for r in results)
    wait_for(lambda: leaders(admin, "t") == first, 10, "every preferred replica leading, as clients see it")

    def nothing_to_elect() -> bool:
        again = admin.elect_leaders()  # every topic
        assert {(r.topic, r.partition) for r in again} == {("t", p) for p in range(PARTITIONS)}
        return all(isinstance(r.error, ElectionNotNeeded) for r in again)

    wait_for(nothing_to_elect, 10, "every partition answered ELECTION_NOT_NEEDED")


def test_elect_leaders_of_some_partitions_and_of_what_does_not_exist(cluster: InProcessCluster,
                                                                     admin: Admin) -> None:
    assert [r.partition for r in admin.elect_leaders("t", [3, 1, 3])] == [1, 3]
    with pytest.raises(UnknownTopicOrPartition):
        admin.elect_leaders("nope")
    with pytest.raises(UnknownTopicOrPartition, match="no partition 9"):
        admin.elect_leaders("t", [9])
    with pytest.raises(ValueError, match="needs topic"):
        admin.elect_leaders(partitions=[0])


def test_a_leaderless_partition_is_answered_by_the_deadline(cluster: InProcessCluster, admin: Admin) -> None:
    cluster.set_leader("t", 2, None)
    try:
        (result,) = admin.elect_leaders("t", [2], timeout_ms=600)
        assert isinstance(result.error, LeaderNotAvailable) and result.leader is None
    finally:
        cluster.set_leader("t", 2, preferred(admin, "t")[2])


def test_only_the_leader_acts_on_the_internal_request(cluster: InProcessCluster, admin: Admin) -> None:
    """``local``: the request one node sends another; a node that does not lead says who does."""
    leader = leaders(admin, "t")[0]
    other = next(i for i in cluster.node_ids if i != leader)
    client = RawClient(int(cluster.address(other).rsplit(":", 1)[1]))
    try:
        code, body = client.call("elect_leaders", {"partitions": [{"topic": "t", "partition": 0}],
                                                   "timeout_ms": 1000, "local": True})
        code_bad, _ = client.call("elect_leaders", {"partitions": [{"topic": 5}]})
    finally:
        client.close()
    assert code == 0
    (answer,) = body["partitions"]
    if answer["error_code"] == NotLeader.code:  # node ``other`` is a follower of t/0
        assert answer["leader"] == leader
    else:  # it is the preferred replica, and says so
        assert answer["error_code"] == ElectionNotNeeded.code
    assert code_bad != 0, "a malformed request is refused whole"


def test_a_preferred_replica_that_is_down_does_not_take_over() -> None:
    with InProcessCluster(nodes=3, leader_balance_interval_ms=0) as cluster, \
            Admin(cluster.bootstrap, request_timeout_ms=10_000) as admin:
        cluster.create_topic("d", partitions=3)
        first = preferred(admin, "d")
        down = first[0]
        cluster.node_down(down)
        wait_for(lambda: all(v not in (None, down) for v in leaders(admin, "d").values()), 10,
                 "the others leading everything")
        results = admin.elect_leaders("d", timeout_ms=500)
        failed = {r.partition: r for r in results if not r.preferred_leads}
        assert set(failed) == {p for p, r in first.items() if r == down}
        assert all(isinstance(r.error, PreferredLeaderNotAvailable) and "not connected" in r.error.message
                   for r in failed.values())

        cluster.node_up(down)
        results = wait_for(lambda: (r := admin.elect_leaders("d", timeout_ms=2000)) and all(
            x.preferred_leads for x in r) and r, 30, "the restarted preferred replica elected")
        assert {r.partition for r in results if r.error is None} <= set(failed)
        assert leaders(admin, "d") == first


def test_leaders_return_to_the_preferred_replica_within_the_balance_interval() -> None:
    with InProcessCluster(nodes=3, leader_balance_interval_ms=200) as cluster, Admin(cluster.bootstrap) as admin:
        cluster.create_topic("b", partitions=1)
        first = preferred(admin, "b")[0]
        cluster.set_leader("b", 0, next(i for i in cluster.node_ids if i != first))
        wait_for(lambda: leaders(admin, "b")[0] == first, 10, "the preferred replica leading again")


def test_cli_elect_leaders_table_json_and_progress(cluster: InProcessCluster, admin: Admin) -> None:
    runner = CliRunner()
    cluster.create_topic("many", partitions=120, replication_factor=1)
    first = preferred(admin, "t")
    cluster.set_leader("t", 4, next(i for i in cluster.node_ids if i != first[4]))

    table = runner.invoke(cli.app, ["cluster", "elect-leaders", "--bootstrap", cluster.bootstrap, "--topic", "t"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["topic", "partition", "preferred", "leader", "result"]
    rows = {int(line.split()[1]): line.split() for line in lines[1:1 + PARTITIONS]}
    assert rows[4][2:] == [str(first[4]), str(first[4]), "elected"]
    assert all(rows[p][4:] in (["not", "needed"], ["elected"]) for p in rows), table.stdout
    elected = sum(r[4:] == ["elected"] for r in rows.values())
    assert lines[-1] == (f"6 partitions: {elected} elected, {6 - elected} already led by their preferred replica, "
                         "0 failed")
    assert table.stderr == "", "no progress lines for a few partitions"

    out = runner.invoke(cli.app, ["cluster", "elect-leaders", "--bootstrap", cluster.bootstrap, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert (doc["elected"] + doc["not_needed"], doc["failed"]) == (PARTITIONS + 120, 0)
    assert doc["partitions"][0] == {"topic": "many", "partition": 0, "preferred": doc["partitions"][0]["preferred"],
                                    "leader": doc["partitions"][0]["preferred"], "result": "not needed",
                                    "error": "ELECTION_NOT_NEEDED", "message": doc["partitions"][0]["message"]}
    progress = out.stderr.splitlines()
    assert progress[-1] == f"elect-leaders: {PARTITIONS + 120}/{PARTITIONS + 120} partitions answered"
    assert len(progress) == 2  # one line per request of ELECT_CHUNK partitions

    bad = runner.invoke(cli.app, ["cluster", "elect-leaders", "--bootstrap", cluster.bootstrap, "--partition", "1"])
    assert bad.exit_code == 2 and "--partition needs --topic" in bad.output


def test_cluster_status_shows_the_cluster_id(cluster: InProcessCluster) -> None:
    runner = CliRunner()
    doc = json.loads(runner.invoke(cli.app, ["cluster", "status", "--bootstrap", cluster.bootstrap, "--json"]).stdout)
    assert (doc["cluster_id"], doc["controller"]) == (cluster.cluster_id, cluster.controller)
    table = runner.invoke(cli.app, ["cluster", "status", "--bootstrap", cluster.bootstrap]).stdout
    assert f"cluster id: {cluster.cluster_id}  controller: {cluster.controller}" in table.splitlines()
    # an in-process cluster's metadata group: every node votes
    voters = doc["metadata_voters"]
    assert voters and voters == sorted(voters) and doc["metadata_learners"] == []
    assert f"metadata voters: {','.join(map(str, voters))}  learners: -" in table.splitlines()


class MovingLeaders(StubBroker):
    """Node 1 leads ``t``'s partitions as far as its metadata knows: 0's preferred replica never takes
    over (the leader waits its deadline), 1 has moved to another leader and back when first asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def metadata(self, topics: Sequence[str] | None) -> MetadataAnswer:
        return MetadataAnswer((NodeAddress(1, "h1", 9001),), 1, (
            TopicMetadata("t", (PartitionMetadata(0, 1, (2, 1)), PartitionMetadata(1, 1, (2, 1)))),))

    async def elect_preferred_leader(self, topic: str, partition: int, timeout_s: float) -> BrokerElection:
        self.asked.append(partition)
        if partition == 0:
            await asyncio.sleep(timeout_s)
            raise PreferredLeaderNotAvailable("node 2, the preferred replica, did not win its election in time")
        if self.asked.count(1) == 1:
            raise NotLeader("node 1 leads t/1 no more", leader=1)
        return BrokerElection(topic, partition, 2, 2)


def test_a_partition_asked_again_does_not_wait_for_another_ones_deadline() -> None:
    broker = MovingLeaders()
    results = asyncio.run(elections.elect_preferred_leaders(cast(Broker, broker), [("t", 0), ("t", 1)], 1.0))
    assert [(r.partition, type(r.error).__name__) for r in results] == [
        (0, "PreferredLeaderNotAvailable"), (1, "NoneType")]
    assert broker.asked.count(1) == 2
