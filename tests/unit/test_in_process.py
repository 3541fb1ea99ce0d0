"""The in-process cluster's own controls: what each does to the real nodes, and a clean stop."""

from __future__ import annotations

import socket
import threading

import pytest

from kraft import Producer
from kraft.errors import LeaderNotAvailable, NotLeader, UnknownTopicOrPartition
from kraft.log.memory_store import MemoryStore
from kraft.node.host import NodeHost
from kraft.protocol.batch import encode_batch
from kraft.raft.host import RaftHost
from kraft.testing import InProcessCluster
from kraft.testing.local_cluster import RawClient
from kraft.testing.memory_raft import MemoryNetwork

pytestmark = pytest.mark.timeout(60)


def node_host_members() -> set[str]:
    return {n for n in vars(NodeHost) if not n.startswith("_")} | set(NodeHost.__annotations__)


def test_both_hosts_have_what_the_replicas_and_broker_use():
    network = MemoryNetwork(0.01)
    memory_host = network.add(1, MemoryStore())
    raft_host = RaftHost(1, ("127.0.0.1", 0), {}, MemoryStore())
    raft_host.start()
    try:
        for host in (memory_host, raft_host):
            assert [m for m in sorted(node_host_members()) if not hasattr(host, m)] == []
    finally:
        assert raft_host.stop()


def port_of(cluster: InProcessCluster, node_id: int) -> int:
    return int(cluster.address(node_id).rsplit(":", 1)[1])


def produce(raw: RawClient, topic: str, partition: int, value: bytes) -> dict:
    code, body = raw.call("produce", {"acks": -1, "timeout_ms": 2000, "entries": [
        {"topic": topic, "partition": partition, "batch": encode_batch([(1, None, value, [])])}]})
    assert code == 0
    return body["results"][0]


def test_stop_ends_every_thread_and_closes_every_port():
    before = set(threading.enumerate())
    cluster = InProcessCluster(nodes=2).start()
    cluster.create_topic("t")
    with Producer(cluster.bootstrap) as p:
        p.send("t", b"v").result(5)
        ports = [port_of(cluster, n) for n in cluster.node_ids]
        cluster.stop()
    assert [t.name for t in set(threading.enumerate()) - before] == []
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    cluster.stop()  # twice is fine


def test_set_leader_moves_and_removes_the_leader_for_every_node():
    with InProcessCluster(nodes=3) as cluster:
        cluster.create_topic("t", partitions=1)
        preferred = cluster.leader("t", 0)
        other = next(n for n in cluster.node_ids if n != preferred)
        cluster.set_leader("t", 0, other)
        assert cluster.leader("t", 0) == other
        cluster.set_leader("t", 0, None)
        assert cluster.leader("t", 0) is None
        for node in cluster.node_ids:
            raw = RawClient(port_of(cluster, node))
            try:
                assert produce(raw, "t", 0, b"x")["error_code"] in (LeaderNotAvailable.code, NotLeader.code)
                code, meta = raw.call("metadata", {"topics": ["t"]})
                assert code == 0 and meta["topics"][0]["partitions"][0]["leader"] is None
            finally:
                raw.close()
        cluster.set_leader("t", 0, preferred)
        assert cluster.append("t", 0, [b"after"]) == 0
        with pytest.raises(ValueError):
            cluster.set_leader("t", 0, 9)
        with pytest.raises(UnknownTopicOrPartition):
            cluster.leader("nope", 0)


def test_one_replica_cannot_be_left_without_a_leader():
    with InProcessCluster(nodes=2) as cluster:
        cluster.create_topic("t", replication_factor=1)
        with pytest.raises(ValueError, match="one replica"):
            cluster.set_leader("t", 0, None)


def test_per_partition_failure_spares_the_other_partitions_of_a_request():
    with InProcessCluster(nodes=1) as cluster:
        cluster.create_topic("t", partitions=2)
        cluster.fail_next("produce", "t", 1, error_code=NotLeader.code)
        raw = RawClient(port_of(cluster, 1))
        try:
            batch = encode_batch([(1, None, b"v", [])])
            code, body = raw.call("produce", {"acks": -1, "timeout_ms": 2000, "entries": [
                {"topic": "t", "partition": p, "batch": batch} for p in (0, 1)]})
        finally:
            raw.close()
        assert code == 0
        assert [(r["partition"], r["error_code"]) for r in body["results"]] == [(0, 0), (1, NotLeader.code)]
        assert (cluster.high_watermark("t", 0), cluster.high_watermark("t", 1)) == (1, 0)
        assert cluster.requests["produce"] == 1
        with pytest.raises(ValueError):
            cluster.fail_next("metadata", "t", 0)


def test_node_down_and_up_restart_a_node_from_its_store():
    with InProcessCluster(nodes=3) as cluster:
        cluster.create_topic("t", partitions=1)
        first = cluster.leader("t", 0)
        assert first is not None
        cluster.append("t", 0, [b"a", b"b"])
        cluster.node_down(first)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port_of(cluster, first)), timeout=2).close()
        assert cluster.append("t", 0, [b"c"]) == 2  # the survivors elect a leader and commit
        assert cluster.leader("t", 0) not in (None, first)
        cluster.node_up(first)
        cluster.set_leader("t", 0, first)  # it caught up (a transfer needs that), from a store that kept a, b
        assert [r[3] for r in cluster.records("t", 0)] == [b"a", b"b", b"c"]
        raw = RawClient(port_of(cluster, first))
        try:
            assert produce(raw, "t", 0, b"d")["base_offset"] == 3
        finally:
            raw.close()


def test_set_controller_moves_the_group_coordinator():
    with InProcessCluster(nodes=2) as cluster:
        assert cluster.controller == 1
        cluster.set_controller(2)
        assert cluster.controller == 2
        raw = RawClient(port_of(cluster, 1))
        try:
            code, body = raw.call("find_coordinator", {"group_id": "g"})
            assert code == 0 and body["node_id"] == 2
        finally:
            raw.close()
