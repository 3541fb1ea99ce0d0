"""DescribeCluster (60) and ElectLeaders (43) on the wire: requests as kafka-python encodes them, for
every version kraft advertises, decoded by kraft's codec, answered by the handlers over a stub of the
broker's typed API, and the answers read back by kafka-python. Elections across real nodes are in
tests/unit/test_leader_elections.py (native) and tests/cluster/test_leaders.py (Kafka clients)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from kafka.protocol.admin import (
    DescribeClusterRequest,
    DescribeClusterResponse,
    ElectLeadersRequest,
    ElectLeadersResponse,
)
from kafka.protocol.api_key import ApiKey
from kafka.protocol.broker_version_data import infer_broker_version_from_api_versions

from kraft import errors
from kraft.node.broker_values import (
    LeaderElection,
    MetadataAnswer,
    NodeAddress,
    PartitionMetadata,
    TopicMetadata,
)
from kraft.node.kafka import handlers as kafka_handlers
from kraft.node.kafka.handlers import describe_cluster
from kraft.protocol.kafka.codec import decode_request, encode_response
from tests.unit.test_front_ends import StubBroker, kafka_ctx

# t/0 led by its preferred replica, t/1 by another one, t/2 leaderless; all led here (node 1) or nowhere.
ELECTED = {("t", 1)}


class ClusterStub(StubBroker):
    def __init__(self, cluster_id: str | None = "Cl-uster-Id_aaaaaaaaaa") -> None:
        super().__init__()
        self._cluster_id = cluster_id

    def cluster_id(self) -> str | None:
        return self._cluster_id

    def kafka_listeners(self) -> dict[int, NodeAddress]:
        return {1: NodeAddress(1, "h1", 9092, "r1"), 2: NodeAddress(2, "h2", 9092, "r2")}

    def metadata(self, topics: Sequence[str] | None) -> MetadataAnswer:
        t = TopicMetadata("t", (PartitionMetadata(0, 1, (1, 2)), PartitionMetadata(1, 1, (2, 1)),
                                PartitionMetadata(2, None, (1, 2))))
        known = {"t": t}
        names = sorted(known) if topics is None else topics
        return MetadataAnswer((NodeAddress(1, "h1", 9001), NodeAddress(2, "h2", 9002)), 2, tuple(
            known.get(n) or TopicMetadata(n, (), errors.UnknownTopicOrPartition("no such topic")) for n in names))

    async def elect_preferred_leader(self, topic: str, partition: int, timeout_s: float) -> LeaderElection:
        self.calls.append(("elect_preferred_leader", (topic, partition)))
        if (topic, partition) in ELECTED:
            return LeaderElection(topic, partition, 2, 2)
        raise errors.ElectionNotNeeded(f"node 1 leads {topic}/{partition}")


def answer(request: Any, version: int, broker: StubBroker) -> dict[str, Any]:
    """The response, as kafka-python reads it, to kafka-python's ``request`` at ``version``."""
    request.with_header(correlation_id=41, client_id="kp")
    decoded = decode_request(bytes(request.encode(version=version, header=True)))
    assert (decoded.api_key, decoded.api_version) == (request.API_KEY, version)
    body = asyncio.run(kafka_handlers.HANDLERS[decoded.api_key].handle(kafka_ctx(broker), decoded.body))
    assert body is not None
    frame = encode_response(decoded.api_key, version, decoded.correlation_id, body)
    response_cls = DescribeClusterResponse if decoded.api_key == 60 else ElectLeadersResponse
    response = response_cls.decode(frame[4:], version=version, header=True)
    assert response.header.correlation_id == 41
    result: dict[str, Any] = response.to_dict()
    return result


def advertised(key: int) -> list[int]:
    m = kafka_handlers.HANDLERS[key]
    return list(range(m.MIN_VERSION, m.MAX_VERSION + 1))


def test_the_advertised_versions() -> None:
    assert advertised(60) == [0, 1]  # v2 adds fenced brokers
    assert advertised(43) == [0, 1, 2]


def test_advertising_them_leaves_kafka_pythons_broker_version_alone() -> None:
    ranges = {ApiKey(m["api_key"]): (m["min_version"], m["max_version"])
              for m in kafka_handlers.supported_versions() if m["api_key"] in ApiKey._value2member_map_}
    without = {k: v for k, v in ranges.items() if k not in (ApiKey.DescribeCluster, ApiKey.ElectLeaders)}
    assert infer_broker_version_from_api_versions(ranges) == infer_broker_version_from_api_versions(without)


@pytest.mark.parametrize("version", advertised(60))
@pytest.mark.parametrize(("asked", "operations"), [
    (False, None),  # Kafka's "not asked" (INT32_MIN), which kafka-python reads as None
    (True, [5, 7, 8, 9, 10, 11, 12]),  # every AclOperation Kafka defines on the cluster (no authorizer)
])
def test_describe_cluster(version: int, asked: bool, operations: list[int] | None) -> None:
    got = answer(DescribeClusterRequest(include_cluster_authorized_operations=asked), version, ClusterStub())
    assert (got["error_code"], got["cluster_id"], got["controller_id"]) == (0, "Cl-uster-Id_aaaaaaaaaa", 2)
    assert got["brokers"] == [{"broker_id": 1, "host": "h1", "port": 9092, "rack": "r1"},
                              {"broker_id": 2, "host": "h2", "port": 9092, "rack": "r2"}]
    assert got["authorized_operations"] == operations


def test_describe_clusters_operations_bitfield() -> None:
    # CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12
    assert describe_cluster.ALL_CLUSTER_OPERATIONS == 0b1_1111_1010_0000 == 8096


@pytest.mark.parametrize(("cluster_id", "endpoint_type", "code"), [
    (None, 1, 5),  # LEADER_NOT_AVAILABLE: a new cluster's first moments
    ("c", 2, 115),  # UNSUPPORTED_ENDPOINT_TYPE: controllers are not described separately
])
def test_describe_cluster_errors(cluster_id: str | None, endpoint_type: int, code: int) -> None:
    got = answer(DescribeClusterRequest(include_cluster_authorized_operations=False, endpoint_type=endpoint_type),
                 1, ClusterStub(cluster_id))
    assert got["error_code"] == code and got["error_message"] and got["brokers"] == []


def results(got: dict[str, Any]) -> dict[tuple[str, int], int]:
    return {(t["topic"], p["partition_id"]): p["error_code"]
            for t in got["replica_election_results"] for p in t["partition_result"]}


@pytest.mark.parametrize("version", advertised(43))
def test_elect_preferred_leaders(version: int) -> None:
    broker = ClusterStub()
    got = answer(ElectLeadersRequest(election_type=0, topic_partitions=[("t", [0, 1, 2]), ("nope", [0])],
                                     timeout_ms=50), version, broker)
    assert results(got) == {("t", 0): 84, ("t", 1): 0, ("t", 2): 5, ("nope", 0): 3}
    assert sorted(args for call, args in broker.calls if call == "elect_preferred_leader") == [("t", 0), ("t", 1)]
    if version >= 1:
        assert got["error_code"] == 0


@pytest.mark.parametrize("version", advertised(43))
def test_electing_every_partition_leaves_out_those_that_needed_none(version: int) -> None:
    got = answer(ElectLeadersRequest(election_type=0, topic_partitions=None, timeout_ms=50), version, ClusterStub())
    assert results(got) == {("t", 1): 0, ("t", 2): 5}


@pytest.mark.parametrize("version", [1, 2])
def test_unclean_elections_are_never_needed_or_impossible(version: int) -> None:
    broker = ClusterStub()
    got = answer(ElectLeadersRequest(election_type=1, topic_partitions=[("t", [0, 2]), ("nope", [0])],
                                     timeout_ms=50), version, broker)
    assert results(got) == {("t", 0): 84, ("t", 2): 83, ("nope", 0): 3}
    assert not [c for c, _ in broker.calls if c == "elect_preferred_leader"], "nothing is elected"


def test_an_unknown_election_type_is_an_invalid_request() -> None:
    got = answer(ElectLeadersRequest(election_type=7, topic_partitions=[("t", [0])], timeout_ms=50), 2, ClusterStub())
    assert (got["error_code"], got["replica_election_results"]) == (42, [])
