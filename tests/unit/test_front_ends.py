"""Both front ends against the broker's and the coordinator's typed API, without a node: each turns
its own wire shape into the broker's values and the answers (and kraft errors) back into its own,
and neither reaches past that API. The byte-level behaviour is covered by the cluster tests."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from kraft import errors, topic_config
from kraft.groups.coordinator import GroupCoordinator
from kraft.node import handlers as native_handlers
from kraft.node.broker import Broker
from kraft.node.broker_values import (
    FetchedPartition,
    FetchRequest,
    LogDir,
    MetadataAnswer,
    NodeAddress,
    NodeStatus,
    PartitionFetch,
    PartitionMetadata,
    PartitionsCreated,
    ProducerId,
    ReplicaStatus,
    TopicCreated,
    TopicMetadata,
)
from kraft.node.context import HandlerContext, NodeServices
from kraft.node.kafka import handlers as kafka_handlers
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.fetch_sessions import FetchSessions
from kraft.placement import new_partitions
from kraft.protocol.kafka.records import encode_kafka_batch, with_base_offset
from kraft.raft.faults import NetworkFaults
from kraft.topic_config import ResolvedConfig
from tests.unit.allow_everything import AllowEverything

T_UUID = uuid.UUID("5b1e9a2c-7d4f-4e8a-9c3b-2a1f0e9d8c7b")  # topic t's Kafka topic id
KAFKA_BATCH = with_base_offset(encode_kafka_batch([(5, b"k", b"v", [])]), 10)


class StubBroker(AllowEverything):
    """The broker's public API and nothing else, answering with fixed typed values."""

    node_id = 1
    request_timeout_ms = 30_000

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.faults: NetworkFaults | None = None

    async def fetch(self, request: FetchRequest) -> list[FetchedPartition]:
        assert isinstance(request, FetchRequest)
        assert all(isinstance(p, PartitionFetch) for p in request.partitions)
        self.calls.append(("fetch", request))
        out = []
        for p in request.partitions:
            if p.topic == "gone":
                out.append(FetchedPartition(p.topic, p.partition, -1, -1, (), errors.NotLeader("moved", leader=2)))
            else:
                out.append(FetchedPartition(p.topic, p.partition, 11, 0, [(10, KAFKA_BATCH)]))
        return out

    def metadata(self, topics: Sequence[str] | None) -> MetadataAnswer:
        self.calls.append(("metadata", topics))
        return MetadataAnswer(
            (NodeAddress(1, "h1", 9001, None, 9194), NodeAddress(2, "h2", 9002, "r2")), 2,
            (TopicMetadata("t", (PartitionMetadata(0, 1, (1, 2)), PartitionMetadata(1, 2, (2, 1), 4, (2,)),
                                 PartitionMetadata(2, None, (1, 2)))),
             TopicMetadata("nope", (), errors.UnknownTopicOrPartition("no such topic"))))

    def kafka_listeners(self) -> dict[int, NodeAddress]:
        return {1: NodeAddress(1, "h1", 9092, None)}  # node 2 speaks no Kafka

    def find_coordinator(self) -> NodeAddress:
        return NodeAddress(2, "h2", 9002, "r2")

    def topic_exists(self, name: str) -> bool:
        return name == "t"

    async def auto_create_topics(self, names: Sequence[str]) -> dict[str, errors.KraftError]:
        self.calls.append(("auto_create_topics", list(names)))
        return {n: errors.LeaderNotAvailable("being created") for n in names}

    def validate_topic_configs(self, configs: Mapping[str, object]) -> dict[str, object]:
        return dict(configs)

    def check_topic(self, name: str, partitions: int | None, rf: int | None,
                    configs: Mapping[str, object] | None, assignment: object = None) -> TopicCreated:
        if self.topic_exists(name):
            raise errors.TopicAlreadyExists(f"topic {name!r} already exists")
        return TopicCreated(name, partitions or 3, rf or 2)

    def resolve_topic_configs(self, configs: Mapping[str, object]) -> dict[str, ResolvedConfig]:
        return topic_config.resolve(topic_config.validate_configs(configs), {})

    def topic_name(self, topic_uuid: uuid.UUID) -> str | None:
        return "t" if topic_uuid == T_UUID else None

    def topic_uuid(self, name: str) -> uuid.UUID | None:
        return T_UUID if name == "t" else None

    async def create_topic(self, name: str, partitions: int | None, rf: int | None,
                           configs: Mapping[str, object] | None, assignment: object = None) -> TopicCreated:
        self.calls.append(("create_topic", (name, partitions, rf, configs)))
        return TopicCreated(name, partitions or 3, rf or 2)

    async def create_partitions(self, topic: str, total: int, assignment: Sequence[Sequence[int]] | None = None,
                                *, validate_only: bool = False) -> PartitionsCreated:
        """Topic "t" of ``metadata`` (3 partitions, RF 2, nodes 1 and 2) grows, placed or checked by
        the real placement; nothing is remembered."""
        self.calls.append(("create_partitions", (topic, total, assignment, validate_only)))
        if topic != "t":
            raise errors.UnknownTopicOrPartition(f"topic {topic!r} does not exist")
        added = new_partitions([(1, None), (2, None)], [(1, 2), (2, 1), (1, 2)], total, assignment=assignment)
        return PartitionsCreated(topic, 3, total, tuple(tuple(r) for r in added))

    async def init_producer_id(self) -> ProducerId:
        return ProducerId(7, 0)

    def node_status(self) -> NodeStatus:
        return NodeStatus(1, {2: True}, (ReplicaStatus("t", 0, 1, 4, 9, 11, 2, 640, False, 12,
                                                       {2: ("learner", 3)}),))

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        self.calls.append(("delete_records", (topic, partition, before_offset)))
        if topic != "t" or partition > 2:
            raise errors.UnknownTopicOrPartition(f"{topic}/{partition} does not exist")
        if partition == 1:
            raise errors.NotLeader("node 2 leads t/1", leader=2)
        if before_offset > 11:
            raise errors.OffsetOutOfRange(f"cannot delete records before {before_offset}: the high watermark is 11")
        return 11 if before_offset == -1 else max(before_offset, 2)

    def log_dir(self) -> LogDir:
        return LogDir("/data/1", 1000, 400)

    def set_network_faults(self, faults: NetworkFaults | None) -> None:
        self.faults = faults


class StubCoordinator:
    def __init__(self) -> None:
        self.joins: list[tuple[Any, ...]] = []

    async def join(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.joins.append(args)
        return {"generation": 1}


def native_ctx(broker: StubBroker, coordinator: StubCoordinator | None = None) -> HandlerContext:
    services = NodeServices(cast(Broker, broker), cast(GroupCoordinator, coordinator or StubCoordinator()))
    return HandlerContext(services, "10.0.0.9")


def kafka_ctx(broker: StubBroker, version: int = 4) -> KafkaContext:
    services = NodeServices(cast(Broker, broker), cast(GroupCoordinator, StubCoordinator()))
    return KafkaContext(services, "10.0.0.9", "client-1", version, FetchSessions(10))


def native(api: str, ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(native_handlers.HANDLERS[api](ctx, body))


def kafka(key: int, ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any] | None:
    return asyncio.run(kafka_handlers.HANDLERS[key].handle(ctx, request))


def test_native_fetch_takes_its_defaults_and_answers_each_partition() -> None:
    broker = StubBroker()
    got = native("fetch", native_ctx(broker), {"partitions": [
        {"topic": "t", "partition": 0, "offset": 10}, {"topic": "gone", "partition": 1, "offset": 0, "max_bytes": 5}]})
    (_, request), = broker.calls
    # No "columns": a consumer from before batches in columns, whose answer is read for rows.
    assert request == FetchRequest((PartitionFetch("t", 0, 10), PartitionFetch("gone", 1, 0, 5)),
                                   max_wait_ms=500, min_bytes=1, max_bytes=8 * 1024 * 1024, in_rows=True)
    assert got == {"partitions": [
        {"topic": "t", "partition": 0, "error_code": 0, "message": "", "high_watermark": 11,
         "log_start_offset": 0, "batches": [(10, KAFKA_BATCH)]},
        {"topic": "gone", "partition": 1, "error_code": errors.NotLeader.code, "message": "moved",
         "high_watermark": -1, "log_start_offset": -1, "batches": (), "leader": 2}]}


def test_native_fetch_refuses_a_wrong_type() -> None:
    with pytest.raises(errors.InvalidRequest):
        native("fetch", native_ctx(StubBroker()), {"partitions": [{"topic": "t", "partition": 0, "offset": "0"}]})


def test_kafka_fetch_asks_for_kip74_limits_and_answers_in_kafka_codes() -> None:
    broker = StubBroker()
    part = {"partition": 0, "fetch_offset": 10, "partition_max_bytes": 100}
    got = kafka(1, kafka_ctx(broker), {"max_wait": -5, "min_bytes": 1, "max_bytes": 1000,
                                       "topics": [{"topic": "t", "partitions": [part]},
                                                  {"topic": "gone", "partitions": [part]}]})
    (_, request), = broker.calls
    assert request == FetchRequest((PartitionFetch("t", 0, 10, 100), PartitionFetch("gone", 0, 10, 100)),
                                   max_wait_ms=0, min_bytes=1, max_bytes=1000, strict_max_bytes=True)
    assert got is not None
    ok, moved = (t["partitions"][0] for t in got["responses"])
    assert (ok["error_code"], ok["high_watermark"], ok["records"]) == (0, 11, KAFKA_BATCH)
    assert (moved["error_code"], moved["records"]) == (6, b"")


def test_native_metadata_lists_client_listeners_and_topic_errors() -> None:
    got = native("metadata", native_ctx(StubBroker()), {})
    assert got["nodes"] == [{"id": 1, "host": "h1", "port": 9001, "rack": None, "http_port": 9194},
                            {"id": 2, "host": "h2", "port": 9002, "rack": "r2", "http_port": None}]
    assert got["controller"] == 2
    assert got["topics"][0]["partitions"][1] == {"partition": 1, "leader": 2, "replicas": [2, 1],
                                                 "leader_epoch": 4, "isr": [2]}
    assert got["topics"][1] == {"name": "nope", "error_code": errors.UnknownTopicOrPartition.code, "partitions": []}


@pytest.mark.parametrize(("allow", "created", "code"), [
    (True, True, errors.LeaderNotAvailable.code),  # being created: the client asks again
    (False, False, errors.UnknownTopicOrPartition.code),
])
def test_native_metadata_auto_creates_only_when_asked(allow: bool, created: bool, code: int) -> None:
    broker = StubBroker()
    got = native("metadata", native_ctx(broker), {"topics": ["t", "nope"], "allow_auto_topic_creation": allow})
    assert (("auto_create_topics", ["nope"]) in broker.calls) is created
    assert got["topics"][1]["error_code"] == code


@pytest.mark.parametrize(("version", "allow", "created", "code"), [
    (7, True, True, 5),  # LEADER_NOT_AVAILABLE while it is being created
    (7, False, False, 3),  # UNKNOWN_TOPIC_OR_PARTITION
    (3, None, True, 5),  # before v4 a Metadata request always allows it
])
def test_kafka_metadata_auto_creates_where_the_request_allows(version: int, allow: bool | None, created: bool,
                                                             code: int) -> None:
    broker = StubBroker()
    request: dict[str, Any] = {"topics": [{"name": "t"}, {"name": "nope"}]}
    if allow is not None:
        request["allow_auto_topic_creation"] = allow
    got = kafka(3, kafka_ctx(broker, version), request)
    assert got is not None
    assert (("auto_create_topics", ["nope"]) in broker.calls) is created
    assert got["topics"][1]["error_code"] == code
    assert got["topics"][0]["partitions"][1]["leader_epoch"] == 4
    assert got["topics"][0]["partitions"][1]["isr_nodes"] == (2,)


def test_kafka_metadata_lists_kafka_listeners_and_hides_leaders_without_one() -> None:
    got = kafka(3, kafka_ctx(StubBroker()), {"topics": None})
    assert got is not None
    assert got["brokers"] == [{"node_id": 1, "host": "h1", "port": 9092, "rack": None}]
    assert got["controller_id"] == 1  # the controller (2) has no Kafka listener: this node stands in
    parts = got["topics"][0]["partitions"]
    assert [(p["error_code"], p["leader_id"]) for p in parts] == [(0, 1), (5, -1), (5, -1)]
    assert got["topics"][1]["error_code"] == 3


def test_kafka_find_coordinator_needs_the_coordinators_kafka_listener() -> None:
    got = kafka(10, kafka_ctx(StubBroker(), 1), {"key": "g", "key_type": 0})
    assert got is not None and got["error_code"] == errors.CoordinatorNotAvailable.code
    batched = kafka(10, kafka_ctx(StubBroker(), 4), {"key_type": 0, "coordinator_keys": ["g", "h"]})
    assert batched is not None and [(c["key"], c["error_code"]) for c in batched["coordinators"]] == [
        ("g", errors.CoordinatorNotAvailable.code), ("h", errors.CoordinatorNotAvailable.code)]
    assert native("find_coordinator", native_ctx(StubBroker()), {"group_id": "g"}) == {
        "node_id": 2, "host": "h2", "port": 9002}


def test_create_topics_validate_only_asks_whether_the_topic_exists() -> None:
    broker = StubBroker()
    topic = {"num_partitions": -1, "replication_factor": -1, "assignments": [], "configs": []}
    got = kafka(19, kafka_ctx(broker), {"validate_only": True, "topics": [{"name": "t", **topic},
                                                                          {"name": "u", **topic}]})
    assert got is not None
    assert [t["error_code"] for t in got["topics"]] == [errors.TopicAlreadyExists.code, 0]
    assert broker.calls == []
    assert native("create_topic", native_ctx(broker), {"name": "u"}) == {
        "name": "u", "partitions": 3, "replication_factor": 2}


def test_small_answers_convert_field_by_field() -> None:
    broker = StubBroker()
    assert native("init_producer_id", native_ctx(broker), {}) == {"producer_id": 7, "producer_epoch": 0}
    assert kafka(22, kafka_ctx(broker), {"transactional_id": None}) == {
        "error_code": 0, "producer_id": 7, "producer_epoch": 0}
    assert native("node_status", native_ctx(broker), {}) == {
        "node_id": 1, "peers": {2: True}, "metadata_learner": False, "rejoining": False,
        "learner_throttle": {"bytes_per_s": 0, "sent_bytes": 0, "held": 0}, "groups": [
            {"topic": "t", "partition": 0, "leader": 1, "term": 4, "commit_index": 9, "high_watermark": 11,
             "log_start_offset": 2, "size_bytes": 640, "learner": False, "last_index": 12,
             "applied_index": 0, "compaction_settled": True, "serving": False,
             "followers": {2: {"state": "learner", "behind": 3}}}]}
    assert native("api_versions", native_ctx(broker), {})["node_id"] == 1


def test_native_delete_records_answers_each_partition_on_its_own() -> None:
    broker = StubBroker()
    got = native("delete_records", native_ctx(broker), {"topic": "t", "partitions": [
        {"partition": 0, "offset": 5}, {"partition": 1, "offset": 5}, {"partition": 7, "offset": 5},
        {"partition": 0, "offset": 12}, {"partition": 0, "offset": -1}, {"partition": "0", "offset": 1}]})
    assert got == {"topic": "t", "partitions": [
        {"partition": 0, "low_watermark": 5, "error_code": 0, "message": ""},
        {"partition": 1, "low_watermark": -1, "error_code": errors.NotLeader.code, "message": "node 2 leads t/1",
         "leader": 2},
        {"partition": 7, "low_watermark": -1, "error_code": errors.UnknownTopicOrPartition.code,
         "message": "t/7 does not exist"},
        {"partition": 0, "low_watermark": -1, "error_code": errors.OffsetOutOfRange.code,
         "message": "cannot delete records before 12: the high watermark is 11"},
        {"partition": 0, "low_watermark": 11, "error_code": 0, "message": ""},
        {"partition": "0", "low_watermark": -1, "error_code": errors.InvalidRequest.code,
         "message": "field 'partition' has the wrong type (str)"}]}
    assert ("delete_records", ("t", 0, -1)) in broker.calls  # -1 (the high watermark) is the broker's to resolve
    with pytest.raises(errors.InvalidRequest):
        native("delete_records", native_ctx(broker), {"partitions": [{"partition": 0, "offset": 1}]})


def test_kafka_delete_records_answers_low_watermarks_in_kafka_codes() -> None:
    asked = ((0, 1), (1, 5), (2, -1), (0, 99))
    got = kafka(21, kafka_ctx(StubBroker()), {"timeout": 1000, "topics": [
        {"name": "t", "partitions": [{"partition_index": p, "offset": o} for p, o in asked]},
        {"name": "gone", "partitions": [{"partition_index": 0, "offset": 3}]}]})
    assert got == {"throttle_time": 0, "topics": [
        {"name": "t", "partitions": [
            {"partition_index": 0, "low_watermark": 2, "error_code": 0},  # below the log start: no change
            {"partition_index": 1, "low_watermark": -1, "error_code": 6},  # NOT_LEADER_OR_FOLLOWER
            {"partition_index": 2, "low_watermark": 11, "error_code": 0},
            {"partition_index": 0, "low_watermark": -1, "error_code": 1}]},  # OFFSET_OUT_OF_RANGE
        {"name": "gone", "partitions": [{"partition_index": 0, "low_watermark": -1, "error_code": 3}]}]}


def test_kafka_describe_log_dirs_reports_this_nodes_replicas_under_its_data_dir() -> None:
    everything = kafka(35, kafka_ctx(StubBroker()), {"topics": None})
    partition = {"partition_index": 0, "partition_size": 640, "offset_lag": 0, "is_future_key": False}
    assert everything == {"throttle_time": 0, "error_code": 0, "results": [
        {"error_code": 0, "log_dir": "/data/1", "total_bytes": 1000, "usable_bytes": 400,
         "topics": [{"name": "t", "partitions": [partition]}]}]}
    asked = kafka(35, kafka_ctx(StubBroker()), {"topics": [{"topic": "t", "partitions": [1, 0]},
                                                           {"topic": "other", "partitions": [0]}]})
    assert asked is not None and asked["results"][0]["topics"] == [{"name": "t", "partitions": [partition]}]
    for topics in ([{"topic": "t", "partitions": [1]}], [{"topic": "t", "partitions": []}], []):
        none = kafka(35, kafka_ctx(StubBroker()), {"topics": topics})
        assert none is not None and none["results"][0]["topics"] == []


def test_native_join_names_the_connections_host_not_a_body_field() -> None:
    coordinator = StubCoordinator()
    native("join_group", native_ctx(StubBroker(), coordinator),
           {"group_id": "g", "topics": ["t"], "_client_host": "spoofed"})
    assert coordinator.joins[0][3] == "10.0.0.9"


def test_debug_faults_go_through_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAFT_FAULTS", "1")
    broker = StubBroker()
    native("debug_faults", native_ctx(broker), {"blocked": [2], "loss": 0.5})
    assert broker.faults is not None and broker.faults.blocked == {2} and broker.faults.loss == 0.5


HANDLER_SOURCES = sorted([*Path(native_handlers.__file__).parent.glob("*.py"),
                          *Path(kafka_handlers.__file__).parent.glob("*.py")])


@pytest.mark.parametrize("path", HANDLER_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_handlers_stay_on_the_public_api(path: Path) -> None:
    source = path.read_text()
    assert not re.search(r"broker\.(host|replicas|groups|config|store|_)", source)
    assert not re.search(r"coordinator\.(groups|waiters|sync_waiters|metadata|_)", source)
    if "kafka" in path.parts:  # the Kafka front end never speaks the native protocol's shapes
        assert "kraft.node.handlers" not in source
