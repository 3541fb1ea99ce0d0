"""ACLs from an unmodified client (confluent-kafka's AdminClient) against a 3-node cluster:
CreateAcls / DescribeAcls / DeleteAcls go through the metadata group; a DENY on a topic makes
produce fail with TOPIC_AUTHORIZATION_FAILED and consume fail with it too (kraft's own protocol
enforces them as well), deleting the bindings gives access back; the bindings survive a restart of
every node; a topic nobody may describe is left out of the every-topic Metadata answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kraft import errors
from kraft.apis import Producer as NativeProducer
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]
DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED


def deny(topic: str, op: AclOperation) -> AclBinding:
    return AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:*", "*", op,
                      AclPermissionType.DENY)


def every_binding(admin: AdminClient) -> list[AclBinding]:
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                         AclPermissionType.ANY)
    return sorted(admin.describe_acls(f, request_timeout=30).result(30), key=str)


def produce_error(bootstrap: str, topic: str) -> Any:
    """The delivery error of one record (None: delivered), with a new producer (fresh metadata)."""
    results: list[Any] = []
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 15000})
    p.produce(topic, b"v", on_delivery=lambda err, _msg: results.append(err))
    p.flush(30)
    assert len(results) == 1
    return None if results[0] is None else results[0].code()


def consume(bootstrap: str, topic: str) -> Any:
    """The first record's value, or the error code the consumer reports first."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "acl-reader", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])

        def first() -> Any:
            msg = c.poll(0.5)
            if msg is None:
                return None
            return msg.error().code() if msg.error() else msg.value()
        return wait_for(first, 30, "a record or an error")
    finally:
        c.close()


def test_acls_deny_and_give_back_access_and_survive_a_restart(cluster3: Cluster) -> None:
    b = cluster3.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic("guarded", 1, 3), NewTopic("open", 1, 3)])["guarded"].result(30)
    cluster3.wait_leaders("guarded")
    cluster3.wait_leaders("open")
    assert produce_error(b, "guarded") is None
    assert every_binding(admin) == []

    # as librdkafka's 0119: DESCRIBE allowed (any binding on a topic closes it to what none allows),
    # READ and WRITE denied
    added = [deny("guarded", AclOperation.WRITE), deny("guarded", AclOperation.READ),
             AclBinding(ResourceType.TOPIC, "guarded", ResourcePatternType.LITERAL, "User:*", "*",
                        AclOperation.DESCRIBE, AclPermissionType.ALLOW),
             AclBinding(ResourceType.GROUP, "g-", ResourcePatternType.PREFIXED, "User:bob", "10.1.1.1",
                        AclOperation.READ, AclPermissionType.ALLOW)]
    for f in admin.create_acls(added, request_timeout=30).values():
        assert f.result(30) is None
    assert every_binding(admin) == sorted(added, key=str)

    assert produce_error(b, "guarded") == DENIED
    assert consume(b, "guarded") == DENIED
    # kraft's own protocol enforces them too: its clients are User:ANONYMOUS as well
    with NativeProducer(cluster3.bootstrap, linger_ms=0, delivery_timeout_ms=20000) as native:
        with pytest.raises(errors.TopicAuthorizationFailed):
            native.send("guarded", b"native").result(30)
        assert native.send("open", b"native").result(30) is not None
    assert produce_error(b, "open") is None  # other topics are untouched
    assert consume(b, "open") == b"native"  # the first record, the native producer's

    # every node restarts: the bindings are read back from the metadata group's rows
    cluster3.stop_all()
    cluster3.start_all()
    cluster3.wait_leaders("guarded")
    admin = AdminClient({"bootstrap.servers": b})
    assert every_binding(admin) == sorted(added, key=str)
    assert produce_error(b, "guarded") == DENIED

    topic_filter = AclBindingFilter(ResourceType.TOPIC, "guarded", ResourcePatternType.MATCH, None, None,
                                    AclOperation.ANY, AclPermissionType.ANY)
    deleted = admin.delete_acls([topic_filter], request_timeout=30)[topic_filter].result(30)
    assert sorted(deleted, key=str) == sorted(added[:3], key=str)
    assert [x.name for x in every_binding(admin)] == ["g-"]
    assert produce_error(b, "guarded") is None
    assert consume(b, "guarded") == b"v"


def test_a_topic_no_one_may_describe_is_hidden_and_named_ones_are_refused(cluster3: Cluster) -> None:
    b = cluster3.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    for f in admin.create_topics([NewTopic("secret", 1, 3), NewTopic("public", 1, 3)]).values():
        f.result(30)
    for f in admin.create_acls([deny("secret", AclOperation.ALL)], request_timeout=30).values():
        f.result(30)

    def listed() -> set[str] | None:
        names = set(admin.list_topics(timeout=30).topics)
        return names if "secret" not in names else None
    assert "public" in wait_for(listed, 30, "the denied topic left out of every-topic metadata")
    md = admin.list_topics(topic="secret", timeout=30).topics["secret"]
    assert md.error is not None and md.error.code() == DENIED
    with pytest.raises(KafkaException) as e:
        admin.delete_topics(["secret"], request_timeout=30)["secret"].result(30)
    assert e.value.args[0].code() == DENIED


def test_kraft_acl_cli_adds_lists_and_removes(cluster1: Cluster) -> None:
    """``kraft acl`` over the native protocol: a DENY it adds stops kraft's own producer at once
    (TOPIC_AUTHORIZATION_FAILED, not a wait for metadata), Kafka clients see the same bindings, and
    removing every binding that covers the topic gives access back."""
    from tests.cluster.test_cli import kraft

    b = cluster1.bootstrap
    kraft("topic", "create", "cli-t", "--partitions", "1", "--replication-factor", "1", "--bootstrap", b)
    added = json.loads(kraft("acl", "add", "--deny", "-o", "write", "--topic", "cli-t", "--json",
                             "--bootstrap", b).stdout)
    assert added == {"added": [{"resource": "topic", "name": "cli-t", "pattern": "literal", "principal": "User:*",
                                "host": "*", "operation": "write", "permission": "deny"}]}
    kraft("acl", "add", "--allow", "-o", "read", "-o", "describe", "--topic", "cli-", "--prefixed",
          "--principal", "User:bob", "--bootstrap", b)
    listed = json.loads(kraft("acl", "list", "--topic", "cli-t", "--json", "--bootstrap", b).stdout)["acls"]
    assert [(a["name"], a["operation"], a["permission"]) for a in listed] == [
        ("cli-", "read", "allow"), ("cli-", "describe", "allow"), ("cli-t", "write", "deny")]  # Kafka's codes' order
    refused = kraft("produce", "cli-t", "x", "--bootstrap", b, check=False)
    assert refused.returncode == 1 and "TOPIC_AUTHORIZATION_FAILED" in refused.stderr
    admin = AdminClient({"bootstrap.servers": cluster1.kafka_bootstrap})
    assert len(every_binding(admin)) == 3
    bad = kraft("acl", "add", "-o", "read", "--topic", "cli-t", "--principal", "bob", "--bootstrap", b, check=False)
    assert bad.returncode == 1 and "INVALID_REQUEST" in bad.stderr
    removed = json.loads(kraft("acl", "remove", "--topic", "cli-t", "--json", "--bootstrap", b).stdout)["removed"]
    assert [a["operation"] for a in removed] == ["write"]
    assert [a["name"] for a in json.loads(kraft("acl", "list", "--json", "--bootstrap", b).stdout)["acls"]] == [
        "cli-", "cli-"]
    # bob's prefixed bindings still cover cli-t, and allow User:ANONYMOUS nothing: still closed
    assert kraft("produce", "cli-t", "x", "--bootstrap", b, check=False).returncode == 1
    kraft("acl", "remove", "--topic", "cli-", "--prefixed", "--principal", "User:bob", "--bootstrap", b)
    assert json.loads(kraft("acl", "list", "--json", "--bootstrap", b).stdout)["acls"] == []
    kraft("produce", "cli-t", "x", "--bootstrap", b)
