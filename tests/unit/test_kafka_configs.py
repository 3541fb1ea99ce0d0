"""The Kafka front end's config APIs (DescribeConfigs 32, AlterConfigs 33, IncrementalAlterConfigs 44,
and CreateTopics' configs) against a stub of the broker's public API that resolves with the real
``kraft.topic_config``: Kafka's sources, synonyms and types, each resource answered on its own, and
what goes to the broker. The bytes of every advertised version are checked by encoding the answers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from kraft import broker_config, errors, topic_config
from kraft.groups.coordinator import GroupCoordinator
from kraft.node import log_levels
from kraft.node.broker import Broker
from kraft.node.broker_values import MetadataAnswer, NodeAddress, TopicCreated
from kraft.node.context import NodeServices
from kraft.node.kafka import handlers as kafka_handlers
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.fetch_sessions import FetchSessions
from kraft.protocol.kafka.codec import encode_response
from kraft.topic_config import ConfigChange, ResolvedConfig
from tests.unit.allow_everything import AllowEverything

CLUSTER = {"retention.ms": 3600000}  # what cluster.ini's log_retention_ms would give


CREATED_UUID = uuid.UUID("2c4b6a8e-1f3d-4b5a-8c7e-9d0f1e2a3b4c")


class ConfigBroker(AllowEverything):
    """The broker's config methods over a dict of topics, resolving as the real broker does."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[str, object]] = {"t": {"cleanup.policy": "compact"}}
        self.calls: list[tuple[str, Any]] = []
        self.dynamic: dict[str, dict[str, str]] = {}  # dynamic broker configs, as the metadata group keeps them
        self.node_id = 1

    def _topic(self, name: str) -> dict[str, object]:
        if name not in self.topics:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        return self.topics[name]

    def describe_configs(self, topic: str) -> dict[str, ResolvedConfig]:
        return topic_config.resolve_levels(self._topic(topic), self._levels())

    def cluster_configs(self) -> dict[str, ResolvedConfig]:
        return topic_config.resolve_levels({}, self._levels())

    def _levels(self) -> dict[str, topic_config.DefaultLevels]:
        return broker_config.topic_default_levels(self.dynamic, self.node_id, CLUSTER)

    def validate_topic_configs(self, configs: Mapping[str, object]) -> dict[str, object]:
        return dict(topic_config.validate_configs(configs))

    async def alter_configs(self, topic: str, changes: Sequence[ConfigChange], *, replace: bool = False,
                            validate_only: bool = False) -> None:
        current = self._topic(topic)
        update = topic_config.plan_update(current, CLUSTER, changes, replace=replace)
        self.calls.append(("alter_configs", (topic, update, validate_only)))
        if not validate_only:
            self.topics[topic] = dict(update.applied_to(topic_config.validate_configs(current)))

    def describe_broker_configs(self, broker: str) -> list[broker_config.BrokerConfig]:
        return broker_config.describe(self.dynamic, broker, CLUSTER)

    async def alter_broker_configs(self, broker: str, changes: Sequence[ConfigChange], *, replace: bool = False,
                                   validate_only: bool = False) -> None:
        update = broker_config.plan_update(self.dynamic.get(broker, {}), changes, replace=replace)
        if not validate_only:
            self.dynamic[broker] = update.applied_to(self.dynamic.get(broker, {}))

    def topic_exists(self, name: str) -> bool:
        return name in self.topics

    async def create_topic(self, name: str, partitions: int | None, rf: int | None,
                           configs: Mapping[str, object] | None, assignment: object = None) -> TopicCreated:
        self.topics[name] = self.validate_topic_configs(configs or {})
        return TopicCreated(name, partitions or 1, rf or 1, CREATED_UUID)

    def check_topic(self, name: str, partitions: int | None, rf: int | None,
                    configs: Mapping[str, object] | None, assignment: object = None) -> TopicCreated:
        self.validate_topic_configs(configs or {})
        return TopicCreated(name, partitions or 1, rf or 1)

    def resolve_topic_configs(self, configs: Mapping[str, object]) -> dict[str, ResolvedConfig]:
        return topic_config.resolve(topic_config.validate_configs(configs), CLUSTER)

    def metadata(self, topics: Sequence[str] | None) -> MetadataAnswer:
        return MetadataAnswer((NodeAddress(1, "h1", 1, "RACK1"), NodeAddress(2, "h2", 2)), 1, ())


def kafka(broker: ConfigBroker, key: int, request: dict[str, Any], version: int | None = None) -> dict[str, Any]:
    handler = kafka_handlers.HANDLERS[key]
    services = NodeServices(cast(Broker, broker), cast(GroupCoordinator, None))
    ctx = KafkaContext(services, "h", "c", version or handler.MAX_VERSION, FetchSessions(10))
    answer = asyncio.run(handler.handle(ctx, request))
    assert answer is not None
    for v in range(handler.MIN_VERSION, handler.MAX_VERSION + 1):  # every advertised version encodes it
        encode_response(key, v, 1, answer)
    return answer


def describe(broker: ConfigBroker, *resources: tuple[int, str, list[str] | None], synonyms: bool = False,
             docs: bool = False) -> list[dict[str, Any]]:
    request = {"resources": [{"resource_type": t, "resource_name": n, "configuration_keys": k}
                             for t, n, k in resources], "include_synonyms": synonyms, "include_documentation": docs}
    return kafka(broker, 32, request)["results"]


def test_the_config_apis_are_advertised_at_the_versions_clients_use() -> None:
    versions = {v["api_key"]: (v["min_version"], v["max_version"]) for v in kafka_handlers.supported_versions()}
    # librdkafka 2.16 asks DescribeConfigs v1, kafka-python 3.0 v4; both AlterConfigs v2 and
    # IncrementalAlterConfigs v1 (flexible versions: compact encodings, tagged fields)
    assert versions[32] == (1, 4) and versions[33] == (0, 2) and versions[44] == (0, 1)


def test_describe_a_topic_with_kafkas_sources_types_and_synonyms() -> None:
    (result,) = describe(ConfigBroker(), (2, "t", None), synonyms=True, docs=True)
    assert (result["error_code"], result["resource_name"]) == (0, "t")
    by_name = {c["name"]: c for c in result["configs"]}
    assert list(by_name) == [k.name for k in topic_config.CONFIGS]
    policy, retention, ratio = by_name["cleanup.policy"], by_name["retention.ms"], by_name["min.cleanable.dirty.ratio"]
    assert (policy["value"], policy["config_source"], policy["read_only"], policy["config_type"]) == (
        "compact", 1, False, 7)  # TOPIC_CONFIG, LIST
    assert policy["synonyms"] == [{"name": "cleanup.policy", "value": "compact", "source": 1},
                                  {"name": "log.cleanup.policy", "value": "delete", "source": 5}]
    assert (retention["value"], retention["config_source"], retention["config_type"]) == ("3600000", 4, 5)
    assert retention["synonyms"] == [{"name": "log.retention.ms", "value": "3600000", "source": 4},
                                     {"name": "log.retention.ms", "value": "604800000", "source": 5}]
    assert (ratio["value"], ratio["config_source"], ratio["config_type"]) == ("0.5", 5, 6)
    assert "tombstone" in by_name["delete.retention.ms"]["documentation"]


def test_describe_picks_the_keys_asked_for_and_leaves_out_synonyms_and_docs_unless_asked() -> None:
    (result,) = describe(ConfigBroker(), (2, "t", ["retention.ms", "no.such.key"]))
    assert [(c["name"], c["synonyms"], c["documentation"]) for c in result["configs"]] == [
        ("retention.ms", [], None)]
    (everything,) = describe(ConfigBroker(), (2, "t", []))  # empty, as null: every config
    assert len(everything["configs"]) == len(topic_config.CONFIGS)


def test_describe_answers_each_resource_on_its_own() -> None:
    results = describe(ConfigBroker(), (2, "gone", None), (2, "t", ["cleanup.policy"]), (16, "1", None),
                       (4, "7", None), (4, "x", None), (8, "2", None), (8, "", None))
    assert [r["error_code"] for r in results] == [3, 0, 42, 42, 42, 42, 42]
    assert results[0]["configs"] == [] and "'gone' does not exist" in results[0]["error_message"]
    assert "resource type 16 is not supported" in results[2]["error_message"]
    assert "unexpected broker id: this is broker 1, not '2'" in results[5]["error_message"]
    assert "no broker '7' in this cluster (brokers: [1, 2])" in results[3]["error_message"]


@pytest.mark.parametrize("name", ["1", "2", ""])
def test_describe_a_broker_gives_cluster_ini_under_kafkas_broker_names(name: str) -> None:
    (result,) = describe(ConfigBroker(), (4, name, None), synonyms=True)
    by_name = {c["name"]: c for c in result["configs"]}
    assert by_name["log.retention.ms"] == {
        "name": "log.retention.ms", "value": "3600000", "read_only": False, "config_source": 4, "is_sensitive": False,
        "synonyms": [{"name": "log.retention.ms", "value": "3600000", "source": 4},
                     {"name": "log.retention.ms", "value": "604800000", "source": 5}],
        "config_type": 5, "documentation": None}
    assert (by_name["log.cleanup.policy"]["value"], by_name["log.cleanup.policy"]["config_source"]) == ("delete", 5)
    assert by_name["message.max.bytes"]["value"] == "1048576"


def test_describe_a_broker_gives_its_id_and_rack() -> None:
    """librdkafka's 0101 reads each broker's broker.rack (null without one, as Kafka)."""
    one, two, cluster = describe(ConfigBroker(), (4, "1", ["broker.id", "broker.rack"]), (4, "2", None), (4, "", None))
    assert one["configs"] == [
        {"name": "broker.id", "value": "1", "read_only": True, "config_source": 4, "is_sensitive": False,
         "synonyms": [], "config_type": 3, "documentation": None},
        {"name": "broker.rack", "value": "RACK1", "read_only": True, "config_source": 4, "is_sensitive": False,
         "synonyms": [], "config_type": 2, "documentation": None}]
    rack = {c["name"]: c for c in two["configs"]}["broker.rack"]
    assert (rack["value"], rack["config_source"]) == (None, 5)  # DEFAULT_CONFIG: no rack
    assert not {"broker.id", "broker.rack"} & {c["name"] for c in cluster["configs"]}, "\"\" is no one broker"


def alter(broker: ConfigBroker, key: int, resources: list[dict[str, Any]], validate_only: bool = False) -> list[Any]:
    return kafka(broker, key, {"resources": resources, "validate_only": validate_only})["responses"]


def test_alter_configs_replaces_the_topics_configs() -> None:
    broker = ConfigBroker()
    broker.topics["t"] = {"cleanup.policy": "compact", "segment.ms": 5}
    (ok,) = alter(broker, 33, [{"resource_type": 2, "resource_name": "t", "configs": [
        {"name": "retention.ms", "value": "1000"}, {"name": "segment.ms", "value": None}]}])
    assert (ok["error_code"], ok["resource_name"]) == (0, "t")
    assert broker.topics["t"] == {"retention.ms": 1000}  # what is not given goes back to its default


def test_alter_configs_refuses_each_bad_resource_and_changes_nothing_there() -> None:
    broker = ConfigBroker()
    results = alter(broker, 33, [
        {"resource_type": 2, "resource_name": "t", "configs": [{"name": "retention.ms", "value": "soon"},
                                                               {"name": "cleanup.policy", "value": "delete"}]},
        {"resource_type": 2, "resource_name": "gone", "configs": []},
        {"resource_type": 4, "resource_name": "1", "configs": [{"name": "broker.id", "value": "3"}]},
        {"resource_type": 4, "resource_name": "1", "configs": [{"name": "no.such.thing", "value": "3"}]},
    ])
    assert [r["error_code"] for r in results] == [40, 3, 42, 40]
    assert results[0]["error_message"] == "retention.ms: 'soon' is not an integer"
    assert "cannot update these configs dynamically: broker.id" in results[2]["error_message"]
    assert broker.dynamic == {}
    assert broker.topics["t"] == {"cleanup.policy": "compact"}


def test_incremental_alter_configs_ops() -> None:
    broker = ConfigBroker()
    (ok,) = alter(broker, 44, [{"resource_type": 2, "resource_name": "t", "configs": [
        {"name": "cleanup.policy", "config_operation": 2, "value": "delete"},
        {"name": "retention.ms", "config_operation": 0, "value": "1000"},
        {"name": "segment.ms", "config_operation": 1, "value": None}]}])
    assert ok["error_code"] == 0
    assert broker.topics["t"] == {"cleanup.policy": "compact,delete", "retention.ms": 1000}
    bad = alter(broker, 44, [
        {"resource_type": 2, "resource_name": "t", "configs": [{"name": "retention.ms", "config_operation": 9,
                                                               "value": "1"}]},
        {"resource_type": 2, "resource_name": "t", "configs": [{"name": "retention.ms", "config_operation": 2,
                                                               "value": "1"}]},
    ])
    assert [r["error_code"] for r in bad] == [42, 40]
    assert "unknown config operation 9" in bad[0]["error_message"]
    assert "APPEND is only for list configs" in bad[1]["error_message"]
    (checked,) = alter(broker, 44, [{"resource_type": 2, "resource_name": "t", "configs": [
        {"name": "retention.ms", "config_operation": 0, "value": "5"}]}], validate_only=True)
    assert checked["error_code"] == 0 and broker.topics["t"]["retention.ms"] == 1000


def test_create_topics_refuses_a_bad_config_per_topic_validate_only_included() -> None:
    broker = ConfigBroker()
    topic = {"num_partitions": 1, "replication_factor": 1, "assignments": []}
    for validate_only in (True, False):
        answer = kafka(broker, 19, {"validate_only": validate_only, "topics": [
            {"name": "good", "configs": [{"name": "cleanup.policy", "value": "compact"}], **topic},
            {"name": "bad", "configs": [{"name": "retention.ms", "value": "x"}], **topic}]})
        codes = [(t["name"], t["error_code"], t["error_message"]) for t in answer["topics"]]
        assert codes == [("good", 0, None), ("bad", 40, "retention.ms: 'x' is not an integer")]
        # v5+: what the topic has (or would have), every config with its source; v7: its id (nil if validated)
        good = answer["topics"][0]
        assert (good["num_partitions"], good["replication_factor"]) == (1, 1)
        assert good["topic_id"] == (uuid.UUID(int=0) if validate_only else CREATED_UUID)
        configs = {c["name"]: (c["value"], c["config_source"]) for c in good["configs"]}
        assert configs["cleanup.policy"] == ("compact", 1) and configs["retention.ms"][1] in (4, 5)
    assert broker.topics["good"] == {"cleanup.policy": "compact"} and "bad" not in broker.topics


def test_dynamic_broker_configs_are_altered_and_described_with_their_sources() -> None:
    """A broker's own value (DYNAMIC_BROKER_CONFIG, 2) over the cluster-wide one (""'s,
    DYNAMIC_DEFAULT_BROKER_CONFIG, 3) over cluster.ini's (4) over Kafka's default (5); validate_only
    stores nothing; AlterConfigs replaces a broker's dynamic configs whole."""
    broker = ConfigBroker()
    ok = alter(broker, 44, [
        {"resource_type": 4, "resource_name": "1", "configs": [
            {"name": "log.retention.ms", "config_operation": 0, "value": "1000"},
            {"name": "log.cleanup.policy", "config_operation": 2, "value": "compact"}]},
        {"resource_type": 4, "resource_name": "", "configs": [
            {"name": "log.retention.ms", "config_operation": 0, "value": "2000"}]},
        {"resource_type": 4, "resource_name": "2", "configs": [
            {"name": "background.threads", "config_operation": 0, "value": "4"}]}], validate_only=True)
    assert [r["error_code"] for r in ok] == [0, 0, 0] and broker.dynamic == {}
    alter(broker, 44, [
        {"resource_type": 4, "resource_name": "1", "configs": [
            {"name": "log.retention.ms", "config_operation": 0, "value": "1000"},
            {"name": "log.cleanup.policy", "config_operation": 2, "value": "compact"}]},
        {"resource_type": 4, "resource_name": "", "configs": [
            {"name": "log.retention.ms", "config_operation": 0, "value": "2000"}]}])
    one, cluster = describe(broker, (4, "1", ["log.retention.ms", "log.cleanup.policy"]),
                            (4, "", ["log.retention.ms"]), synonyms=True)
    policy, retention = one["configs"]  # in table order
    assert (retention["value"], retention["config_source"]) == ("1000", 2)
    assert [(s["value"], s["source"]) for s in retention["synonyms"]] == [
        ("1000", 2), ("2000", 3), ("3600000", 4), ("604800000", 5)]
    assert (policy["value"], policy["config_source"]) == ("compact,delete", 2)
    assert [(c["value"], c["config_source"]) for c in cluster["configs"]] == [("2000", 3)]
    (replaced,) = alter(broker, 33, [{"resource_type": 4, "resource_name": "1", "configs": [
        {"name": "num.io.threads", "value": "2"}]}])
    assert replaced["error_code"] == 0 and broker.dynamic["1"] == {"num.io.threads": "2"}


def test_a_topics_default_from_a_dynamic_broker_config_is_described_with_that_source() -> None:
    """A topic without its own value takes the node's dynamic broker config, else the cluster-wide
    one, else cluster.ini's: DescribeConfigs names that level (2, 3, 4) and lists every level as
    synonyms, most specific first, as Kafka."""
    broker = ConfigBroker()
    broker.dynamic = {"": {"log.retention.ms": "2000", "log.segment.bytes": "1048576"},
                      "1": {"log.retention.ms": "1000"}, "2": {"log.cleanup.policy": "compact"}}
    (result,) = describe(broker, (2, "t", ["retention.ms", "cleanup.policy", "segment.bytes"]), synonyms=True)
    by_name = {c["name"]: c for c in result["configs"]}
    retention, policy, segment = by_name["retention.ms"], by_name["cleanup.policy"], by_name["segment.bytes"]
    assert (retention["value"], retention["config_source"]) == ("1000", 2)  # node 1's own
    assert [(s["value"], s["source"]) for s in retention["synonyms"]] == [
        ("1000", 2), ("2000", 3), ("3600000", 4), ("604800000", 5)]
    assert (segment["value"], segment["config_source"]) == ("1048576", 3)  # the cluster-wide one
    assert (policy["value"], policy["config_source"]) == ("compact", 1)  # the topic's own; node 2's is not ours


def test_broker_loggers_are_described_and_set_on_the_node_asked() -> None:
    """BROKER_LOGGER (8): this node's loggers under Kafka's level names; IncrementalAlterConfigs SET
    and DELETE (back to the parent's level), as Kafka's; AlterConfigs refuses them."""
    name = "kraft.test_broker_loggers"
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    try:
        broker = ConfigBroker()
        (result,) = describe(broker, (8, "1", [name, "root"]), synonyms=True)
        assert [(c["name"], c["value"], c["config_source"]) for c in result["configs"]] == [
            ("root", log_levels.kafka_level(logging.getLogger().getEffectiveLevel()), 6), (name, "WARN", 6)]
        ok, upper, bad_level, bad_op, legacy = (
            alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
                {"name": name, "config_operation": 0, "value": "debug"}]}]),
            alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
                {"name": name, "config_operation": 0, "value": "TRACE"}]}], validate_only=True),
            alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
                {"name": name, "config_operation": 0, "value": "LOUD"}]}]),
            alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
                {"name": name, "config_operation": 2, "value": "INFO"}]}]),
            alter(broker, 33, [{"resource_type": 8, "resource_name": "1", "configs": [
                {"name": name, "value": "INFO"}]}]))
        assert [r[0]["error_code"] for r in (ok, upper, bad_level, bad_op, legacy)] == [0, 0, 40, 42, 42]
        assert logger.level == logging.DEBUG, "validate_only (TRACE) changed nothing"
        alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
            {"name": name, "config_operation": 1, "value": None}]}])
        assert logger.level == logging.NOTSET
        (root,) = alter(broker, 44, [{"resource_type": 8, "resource_name": "1", "configs": [
            {"name": "root", "config_operation": 1, "value": None}]}])
        assert root["error_code"] == 40
    finally:
        logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(("level", "kafka"), [(logging.DEBUG, "DEBUG"), (logging.WARNING, "WARN"), (25, "INFO"),
                                              (logging.CRITICAL, "FATAL"), (log_levels.OFF, "OFF"), (1, "TRACE")])
def test_python_levels_under_kafkas_names(level: int, kafka: str) -> None:
    assert log_levels.kafka_level(level) == kafka
