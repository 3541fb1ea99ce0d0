"""DeleteGroups (42) from an unmodified client (confluent-kafka's AdminClient) against a 3-node
cluster: an empty group's commits go (on every node, through the metadata group), a group with a
member is refused NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition as CKTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def _delete(admin: AdminClient, group: str) -> str:
    """'' when deleted, else the error's name."""
    try:
        admin.delete_consumer_groups([group], request_timeout=30)[group].result(30)
        return ""
    except KafkaException as e:
        return str(e.args[0].name())


def test_delete_groups(cluster3: Cluster) -> None:
    admin = AdminClient({"bootstrap.servers": cluster3.kafka_bootstrap})
    admin.create_topics([NewTopic("dg", 2, 3)])["dg"].result(30)
    cluster3.wait_leaders("dg")
    committer = CKConsumer({"bootstrap.servers": cluster3.kafka_bootstrap, "group.id": "gone"})
    committer.commit(offsets=[CKTopicPartition("dg", 0, 0)], asynchronous=False)
    committer.close()
    member = CKConsumer({"bootstrap.servers": cluster3.kafka_bootstrap, "group.id": "busy",
                         "session.timeout.ms": 6000})
    try:
        member.subscribe(["dg"])

        def joined() -> list[CKTopicPartition] | None:
            member.poll(0.2)  # the consumer joins from poll
            return member.assignment() or None
        wait_for(joined, 30, "the member joined")
        assert _delete(admin, "busy") == "NON_EMPTY_GROUP"
        assert _delete(admin, "nonesuch") == "GROUP_ID_NOT_FOUND"
        listed = {g.group_id for g in admin.list_consumer_groups().result(30).valid}
        assert {"gone", "busy"} <= listed
        assert _delete(admin, "gone") == ""
        assert "gone" not in {g.group_id for g in admin.list_consumer_groups().result(30).valid}
        for node in cluster3.alive():  # replicated: no node answers the deleted commit any more
            reader = CKConsumer({"bootstrap.servers": f"127.0.0.1:{cluster3.kafka_ports[node]}", "group.id": "gone"})
            assert reader.committed([CKTopicPartition("dg", 0)], timeout=30)[0].offset < 0
            reader.close()
        assert _delete(admin, "gone") == "GROUP_ID_NOT_FOUND"
    finally:
        member.close()
