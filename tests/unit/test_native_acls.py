"""ACLs on kraft's own protocol, over an in-process cluster of the real node parts: the native
requests check the same operations as their Kafka counterparts, for ``User:ANONYMOUS``; the ACL
requests themselves need DESCRIBE or ALTER on the cluster."""

from __future__ import annotations

import pytest

from kraft import Admin
from kraft.errors import ClusterAuthorizationFailed, GroupAuthorizationFailed, InvalidRequest, TopicAuthorizationFailed
from kraft.state.acls import AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType
from kraft.testing import InProcessCluster
from kraft.testing.local_cluster import RawClient

pytestmark = pytest.mark.timeout(60)


def deny(rt: ResourceType, name: str, op: Operation) -> AclBinding:
    return AclBinding(rt, name, PatternType.LITERAL, "User:*", "*", op, Permission.DENY)


def test_native_requests_are_checked_like_their_kafka_counterparts() -> None:
    with InProcessCluster(nodes=1) as cluster, Admin(cluster.bootstrap) as admin:
        cluster.create_topic("a", 1, 1)
        cluster.create_topic("b", 1, 1)
        raw = RawClient(int(cluster.address(cluster.node_ids[0]).rsplit(":", 1)[1]))
        try:
            for group in ("hidden", "shown"):
                code, _ = raw.call("offset_commit", {"group_id": group, "offsets": [
                    {"topic": "a", "partition": 0, "offset": 1}]})
                assert code == 0
            admin.create_acls([deny(ResourceType.TOPIC, "b", Operation.DESCRIBE),
                               deny(ResourceType.GROUP, "g", Operation.READ),
                               deny(ResourceType.GROUP, "hidden", Operation.DESCRIBE)])
            code, every = raw.call("metadata", {"topics": None})
            assert code == 0 and [t["name"] for t in every["topics"]] == ["a"]
            code, named = raw.call("metadata", {"topics": ["b", "a"]})
            assert {t["name"]: t["error_code"] for t in named["topics"]} == {"a": 0, "b": TopicAuthorizationFailed.code}
            code, _ = raw.call("join_group", {"group_id": "g", "topics": ["a"]})
            assert code == GroupAuthorizationFailed.code
            # any binding on a resource closes it to what none allows: g's DESCRIBE too
            code, _ = raw.call("describe_group", {"group_id": "g"})
            assert code == GroupAuthorizationFailed.code
            code, listed = raw.call("list_groups", {})
            assert {"hidden", "shown"} <= set(listed["groups"])  # DESCRIBE on the cluster sees every group (Kafka)
            admin.create_acls([deny(ResourceType.CLUSTER, "kafka-cluster", Operation.DESCRIBE),
                               AclBinding(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, "User:*", "*",
                                          Operation.ALTER, Permission.ALLOW)])
            code, listed = raw.call("list_groups", {})  # without it, only the groups it may describe
            assert "hidden" not in listed["groups"] and "shown" in listed["groups"]
            code, committed = raw.call("offset_commit", {"group_id": "shown", "offsets": [
                {"topic": "a", "partition": 0, "offset": 2}, {"topic": "b", "partition": 0, "offset": 2}]})
            assert [r["error_code"] for r in committed["results"]] == [0, TopicAuthorizationFailed.code]
            code, fetched = raw.call("offset_fetch", {"group_id": "shown"})
            assert [(o["topic"], o["offset"]) for o in fetched["offsets"]] == [("a", 2)]
            code, _ = raw.call("describe_configs", {"topic": "b"})
            assert code == TopicAuthorizationFailed.code
        finally:
            raw.close()
        # a malformed binding refuses the request; the ACL requests need the cluster's DESCRIBE/ALTER
        with pytest.raises(InvalidRequest):
            admin.create_acls([AclBinding(ResourceType.TOPIC, "x", PatternType.MATCH, "User:*", "*",
                                          Operation.READ, Permission.ALLOW)])
        admin.create_acls([deny(ResourceType.CLUSTER, "kafka-cluster", Operation.ALTER)])
        with pytest.raises(ClusterAuthorizationFailed):
            admin.delete_acls(AclFilter())
        with pytest.raises(ClusterAuthorizationFailed):  # a binding on the cluster closes its DESCRIBE too
            admin.describe_acls()
