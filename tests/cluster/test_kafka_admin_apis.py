"""Kafka admin APIs from unmodified clients against real nodes (confluent-kafka's AdminClient, and
kafka-python's for OffsetDelete, which confluent-kafka's Python API does not expose):
ListGroups v4+ with group states and a states filter, OffsetDelete (DeleteConsumerGroupOffsets),
dynamic broker configs (IncrementalAlterConfigs / DescribeConfigs of a BROKER resource, kept
across a node restart) and SCRAM credentials (Alter/DescribeUserScramCredentials)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka import KafkaAdminClient
from kafka import TopicPartition as KPTopicPartition
from kafka.errors import GroupAuthorizationFailedError, GroupIdNotFoundError, GroupSubscribedToTopicError, NoError

from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(150)]


def _admin(cluster: Cluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": cluster.kafka_bootstrap})


def _subscribed_member(cluster: Cluster, group: str, topics: list[str]) -> CKConsumer:
    member = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": group,
                         "session.timeout.ms": 6000})
    member.subscribe(topics)

    def joined() -> list[CKTopicPartition] | None:
        member.poll(0.2)  # the consumer joins from poll
        return member.assignment() or None
    wait_for(joined, 30, f"a member of {group} got its assignment")
    return member


def _commit(cluster: Cluster, group: str, offsets: list[CKTopicPartition]) -> None:
    committer = CKConsumer({"bootstrap.servers": cluster.kafka_bootstrap, "group.id": group})
    committer.commit(offsets=offsets, asynchronous=False)
    committer.close()


def test_list_groups_with_states_and_delete_offsets(cluster1: Cluster) -> None:
    admin = _admin(cluster1)
    admin.create_topics([NewTopic("lg", 2, 1), NewTopic("other", 1, 1)])["lg"].result(30)
    cluster1.wait_leaders("lg")
    cluster1.wait_leaders("other")
    _commit(cluster1, "idle", [CKTopicPartition("lg", 0, 5), CKTopicPartition("lg", 1, 7),
                               CKTopicPartition("other", 0, 3)])
    _commit(cluster1, "busy", [CKTopicPartition("lg", 0, 1), CKTopicPartition("other", 0, 2)])
    member = _subscribed_member(cluster1, "busy", ["lg"])
    try:
        states = {g.group_id: g.state for g in admin.list_consumer_groups().result(30).valid}
        assert states["idle"] == ConsumerGroupState.EMPTY
        assert states["busy"] == ConsumerGroupState.STABLE
        empty = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(30).valid
        assert "idle" in {g.group_id for g in empty} and "busy" not in {g.group_id for g in empty}
        assert all(not g.is_simple_consumer_group for g in empty)

        # An empty group: the commits named go, the others stay.
        offsets = KafkaAdminClient(bootstrap_servers=cluster1.kafka_bootstrap, request_timeout_ms=30000)
        assert offsets.delete_group_offsets("idle", [KPTopicPartition("lg", 1)]) == {
            KPTopicPartition("lg", 1): NoError}
        reader = CKConsumer({"bootstrap.servers": cluster1.kafka_bootstrap, "group.id": "idle"})
        left = reader.committed([CKTopicPartition("lg", 0), CKTopicPartition("lg", 1),
                                 CKTopicPartition("other", 0)], timeout=30)
        reader.close()
        assert [p.offset for p in left] == [5, -1001, 3]

        # An active group: its subscribed topic is refused per partition; an unsubscribed one goes.
        busy = offsets.delete_group_offsets("busy", [KPTopicPartition("lg", 0), KPTopicPartition("other", 0)])
        assert busy == {KPTopicPartition("lg", 0): GroupSubscribedToTopicError, KPTopicPartition("other", 0): NoError}
        reader = CKConsumer({"bootstrap.servers": cluster1.kafka_bootstrap, "group.id": "busy"})
        left = reader.committed([CKTopicPartition("lg", 0), CKTopicPartition("other", 0)], timeout=30)
        reader.close()
        assert [p.offset for p in left] == [1, -1001]
        with pytest.raises(GroupIdNotFoundError):
            offsets.delete_group_offsets("nonesuch", [KPTopicPartition("lg", 0)])
        offsets.close()
    finally:
        member.close()


def _broker_configs(admin: AdminClient, broker: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.BROKER, broker)
    entries: dict[str, ConfigEntry] = admin.describe_configs([resource])[resource].result(30)
    return entries


def _alter(admin: AdminClient, broker: str, *entries: ConfigEntry) -> None:
    """Incremental changes to a broker's configs, retried while the metadata group has no leader
    (NOT_CONTROLLER: the cluster just started, or its leader was just restarted)."""
    resource = ConfigResource(ResourceType.BROKER, broker, incremental_configs=list(entries))

    def altered() -> bool:
        try:
            admin.incremental_alter_configs([resource])[resource].result(30)
        except KafkaException as e:
            if e.args[0].code() == KafkaError.NOT_CONTROLLER:
                return False
            raise
        return True
    deadline_s = 30
    end = time.monotonic() + deadline_s
    while not altered():
        assert time.monotonic() < end, f"no metadata leader to alter broker {broker!r} within {deadline_s} s"
        time.sleep(0.1)  # sleep-ok: retry pacing of a deadline-bounded wait


def _raw_alter(cluster: Cluster, broker: str, name: str, value: str | None) -> None:
    """SET (DELETE for None) one dynamic config of ``broker`` by a raw IncrementalAlterConfigs: for the
    cluster-wide defaults ("" resource), which both Python clients refuse to name."""
    raw = RawKafka(cluster.kafka_ports[2])
    try:
        answer = raw.call(44, 1, {"resources": [{"resource_type": 4, "resource_name": broker, "configs": [
            {"name": name, "config_operation": 0 if value is not None else 1, "value": value}]}],
            "validate_only": False})
    finally:
        raw.close()
    assert answer["responses"][0]["error_code"] == 0, answer


def _produce_error(cluster: Cluster, topic: str, size: int) -> int | None:
    """The error code of producing one record of ``size`` bytes (None: stored)."""
    outcome: list[KafkaError | None] = []
    producer = CKProducer({"bootstrap.servers": cluster.kafka_bootstrap, "retries": 0})
    producer.produce(topic, b"x" * size, on_delivery=lambda err, _msg: outcome.append(err))
    assert producer.flush(30) == 0
    return None if outcome[0] is None else int(outcome[0].code())


def test_dynamic_broker_configs_survive_a_restart(cluster3: Cluster) -> None:
    admin = _admin(cluster3)
    _alter(admin, "1", ConfigEntry("sasl.kerberos.min.time.before.relogin", "58000",
                                   incremental_operation=AlterConfigOpType.SET),
           ConfigEntry("log.cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND))
    _raw_alter(cluster3, "", "log.retention.ms", "3600000")

    def described(node_broker: str) -> dict[str, ConfigEntry]:
        return _broker_configs(admin, node_broker)
    one = described("1")
    relogin = one["sasl.kerberos.min.time.before.relogin"]
    assert (relogin.value, relogin.source) == ("58000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert one["log.cleanup.policy"].value == "compact,delete"
    retention = one["log.retention.ms"]
    assert (retention.value, retention.source) == ("3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert [s.source for s in retention.synonyms.values()][-1] == ConfigSource.DEFAULT_CONFIG.value
    two = described("2")  # another broker: only the cluster-wide value reaches it
    assert two["sasl.kerberos.min.time.before.relogin"].source == ConfigSource.DEFAULT_CONFIG.value
    assert two["log.retention.ms"].value == "3600000"

    # A topic without its own value takes the cluster-wide dynamic default.
    admin.create_topics([NewTopic("dyn", 1, 3)])["dyn"].result(30)
    topic = ConfigResource(ResourceType.TOPIC, "dyn")
    topic_retention = admin.describe_configs([topic])[topic].result(30)["retention.ms"]
    assert (topic_retention.value, topic_retention.source) == (
        "3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)

    # ... and its leader acts on it: a cluster-wide message.max.bytes refuses a larger batch.
    cluster3.wait_leaders("dyn")
    _raw_alter(cluster3, "", "message.max.bytes", "1000")
    assert _produce_error(cluster3, "dyn", 4000) == KafkaError.MSG_SIZE_TOO_LARGE
    _raw_alter(cluster3, "", "message.max.bytes", None)
    assert _produce_error(cluster3, "dyn", 4000) is None

    # Refusals, as Kafka's: unknown INVALID_CONFIG, read-only INVALID_REQUEST; nothing stored.
    for name, code in (("no.such.config", KafkaError.INVALID_CONFIG), ("broker.id", KafkaError.INVALID_REQUEST)):
        with pytest.raises(KafkaException) as refused:
            _alter(admin, "1", ConfigEntry(name, "1", incremental_operation=AlterConfigOpType.SET))
        assert refused.value.args[0].code() == code

    cluster3.kill(1)
    cluster3.start(1)
    admin = _admin(cluster3)
    wait_for(lambda: described("1")["sasl.kerberos.min.time.before.relogin"].value == "58000", 60,
             "node 1's dynamic config after its restart")
    _alter(admin, "1", ConfigEntry("sasl.kerberos.min.time.before.relogin", "",
                                   incremental_operation=AlterConfigOpType.DELETE),
           ConfigEntry("log.cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SUBTRACT))
    after = described("1")
    assert after["sasl.kerberos.min.time.before.relogin"].source == ConfigSource.DEFAULT_CONFIG.value
    assert after["log.cleanup.policy"].value == "delete"


def test_scram_credentials(cluster1: Cluster) -> None:
    admin = _admin(cluster1)
    with pytest.raises(KafkaException) as unknown:
        admin.describe_user_scram_credentials(["alice"])["alice"].result(30)
    assert unknown.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND

    sha256 = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 10000)
    results = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", sha256, b"secret", b"salt"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 1000), b"pw", b"s"),
    ])
    results["alice"].result(30)
    with pytest.raises(KafkaException) as weak:
        results["bob"].result(30)
    assert weak.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL

    described = admin.describe_user_scram_credentials(["alice"])["alice"].result(30)
    assert [(c.mechanism, c.iterations) for c in described.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_256, 10000)]
    everyone = admin.describe_user_scram_credentials().result(30)
    assert set(everyone) == {"alice"}

    admin.alter_user_scram_credentials([UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)])[
        "alice"].result(30)
    with pytest.raises(KafkaException) as gone:
        admin.describe_user_scram_credentials(["alice"])["alice"].result(30)
    assert gone.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    with pytest.raises(KafkaException) as again:
        admin.alter_user_scram_credentials([UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)])[
            "alice"].result(30)
    assert again.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND


def test_acls_guard_the_admin_apis(cluster1: Cluster) -> None:
    """With DENY bindings, as Kafka: broker configs and SCRAM credentials need the cluster's
    ALTER_CONFIGS / ALTER / DESCRIBE, OffsetDelete the group's DELETE."""
    admin = _admin(cluster1)
    admin.create_topics([NewTopic("guarded", 1, 1)])["guarded"].result(30)
    cluster1.wait_leaders("guarded")
    _commit(cluster1, "kept", [CKTopicPartition("guarded", 0, 4)])  # a group OffsetDelete finds

    def deny(kind: ResourceType, name: str, op: AclOperation) -> AclBinding:
        return AclBinding(kind, name, ResourcePatternType.LITERAL, "User:*", "*", op, AclPermissionType.DENY)
    bindings = [deny(ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER_CONFIGS),
                deny(ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER),
                deny(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE),
                deny(ResourceType.GROUP, "kept", AclOperation.DELETE)]
    for f in admin.create_acls(bindings, request_timeout=30).values():
        f.result(30)

    with pytest.raises(KafkaException) as configs:
        _alter(admin, "1", ConfigEntry("background.threads", "3", incremental_operation=AlterConfigOpType.SET))
    assert configs.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as alter:
        admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "eve", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"pw", b"salt")])["eve"].result(30)
    assert alter.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # Kafka's answer (a top-level error, no results) crashes confluent-kafka 2.16's
    # describe_user_scram_credentials (a segmentation fault), so it is read raw.
    raw = RawKafka(cluster1.kafka_ports[1])
    try:
        described = raw.call(50, 0, {"users": [{"name": "eve"}]})
    finally:
        raw.close()
    assert (described["error_code"], described["results"]) == (KafkaError.CLUSTER_AUTHORIZATION_FAILED, [])
    offsets = KafkaAdminClient(bootstrap_servers=cluster1.kafka_bootstrap, request_timeout_ms=30000)
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            offsets.delete_group_offsets("kept", [KPTopicPartition("guarded", 0)])
    finally:
        offsets.close()
