"""The authorizer's rules (``kraft.authorizer``), as Kafka's AclAuthorizer applies them: which
bindings apply to a resource (literal, wildcard, prefixes), DENY over ALLOW, principal and host
wildcards, implied operations, ``allow_if_no_acl``; and the filters of DescribeAcls / DeleteAcls
(``kraft.state.acls``)."""

from __future__ import annotations

import pytest

from kraft import errors
from kraft.authorizer import ANONYMOUS, Principal, authorize, authorize_any_topic, authorize_cluster
from kraft.state.acls import (
    AclBinding,
    AclFilter,
    AclSet,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    validate_binding,
)

T, G, C = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY
O = Operation
ME = Principal(ANONYMOUS, "10.0.0.1")


def acl(name: str, op: Operation, perm: Permission, *, rt: ResourceType = T, pt: PatternType = LIT,
        principal: str = "User:*", host: str = "*") -> AclBinding:
    return AclBinding(rt, name, pt, principal, host, op, perm)


# (bindings, operation, topic, allow_if_no_acl, allowed?)
CASES = [
    pytest.param([], O.READ, "t", True, True, id="no acls, open"),
    pytest.param([], O.READ, "t", False, False, id="no acls, closed"),
    pytest.param([acl("other", O.ALL, DENY)], O.READ, "t", True, True, id="acls on another topic only"),
    pytest.param([acl("other", O.ALL, ALLOW)], O.READ, "t", False, False, id="closed, allowed elsewhere only"),
    pytest.param([acl("t", O.READ, ALLOW)], O.READ, "t", False, True, id="literal allow"),
    pytest.param([acl("t", O.WRITE, ALLOW)], O.READ, "t", True, False,
                 id="an acl on the topic closes it to what it does not allow"),
    pytest.param([acl("t", O.ALL, DENY)], O.WRITE, "t", True, False, id="deny all"),
    pytest.param([acl("t", O.ALL, ALLOW), acl("t", O.WRITE, DENY)], O.WRITE, "t", True, False, id="deny wins"),
    pytest.param([acl("t", O.ALL, ALLOW), acl("t", O.WRITE, DENY)], O.READ, "t", True, True,
                 id="a deny of one operation leaves the others"),
    pytest.param([acl("*", O.READ, DENY), acl("t", O.READ, ALLOW)], O.READ, "t", True, False,
                 id="wildcard deny wins over literal allow"),
    pytest.param([acl("*", O.READ, ALLOW)], O.READ, "anything", False, True, id="wildcard resource allow"),
    pytest.param([acl("orders-", O.READ, ALLOW, pt=PRE)], O.READ, "orders-eu", False, True, id="prefix allow"),
    pytest.param([acl("orders-", O.READ, ALLOW, pt=PRE)], O.READ, "order", False, False, id="not under the prefix"),
    pytest.param([acl("orders-", O.READ, DENY, pt=PRE), acl("orders-eu", O.READ, ALLOW)], O.READ, "orders-eu",
                 True, False, id="prefix deny wins over literal allow"),
    pytest.param([acl("orders-", O.READ, ALLOW, pt=LIT)], O.READ, "orders-eu", False, False,
                 id="a literal name is not a prefix"),
    pytest.param([acl("t", O.READ, ALLOW, principal="User:bob")], O.READ, "t", True, False,
                 id="allowed for another principal only"),
    pytest.param([acl("t", O.READ, ALLOW, principal=ANONYMOUS)], O.READ, "t", False, True, id="our principal"),
    pytest.param([acl("t", O.READ, DENY, principal="User:bob")], O.READ, "t", True, False,
                 id="denied to another principal: the topic has acls, none allows us"),
    pytest.param([acl("t", O.READ, ALLOW, host="10.0.0.2")], O.READ, "t", True, False, id="another host"),
    pytest.param([acl("t", O.READ, ALLOW, host="10.0.0.1")], O.READ, "t", False, True, id="our host"),
    pytest.param([acl("t", O.ALL, ALLOW), acl("t", O.READ, DENY, host="10.0.0.2")], O.READ, "t", True, True,
                 id="a deny for another host does not apply"),
    pytest.param([acl("t", O.READ, ALLOW)], O.DESCRIBE, "t", False, True, id="read implies describe"),
    pytest.param([acl("t", O.WRITE, ALLOW)], O.DESCRIBE, "t", False, True, id="write implies describe"),
    pytest.param([acl("t", O.DELETE, ALLOW)], O.DESCRIBE, "t", False, True, id="delete implies describe"),
    pytest.param([acl("t", O.ALTER, ALLOW)], O.DESCRIBE, "t", False, True, id="alter implies describe"),
    pytest.param([acl("t", O.CREATE, ALLOW)], O.DESCRIBE, "t", False, False, id="create does not imply describe"),
    pytest.param([acl("t", O.ALTER_CONFIGS, ALLOW)], O.DESCRIBE_CONFIGS, "t", False, True,
                 id="alter_configs implies describe_configs"),
    pytest.param([acl("t", O.DESCRIBE, ALLOW)], O.READ, "t", False, False, id="describe does not imply read"),
    pytest.param([acl("t", O.ALL, ALLOW), acl("t", O.READ, DENY)], O.DESCRIBE, "t", True, True,
                 id="a denied read does not deny the describe it implies"),
    pytest.param([acl("t", O.DESCRIBE, ALLOW), acl("t", O.READ, DENY)], O.READ, "t", True, False,
                 id="0119: describe allowed, read denied"),
    pytest.param([acl("t", O.READ, ALLOW, rt=G)], O.READ, "t", False, False, id="a group acl is not a topic acl"),
]


@pytest.mark.parametrize(("bindings", "operation", "topic", "open_", "expected"), CASES)
def test_topic_decisions(bindings: list[AclBinding], operation: Operation, topic: str, open_: bool,
                         expected: bool) -> None:
    assert authorize(AclSet.of(bindings), ME, operation, T, topic, open_) is expected


def test_cluster_resource() -> None:
    acls = AclSet.of([acl("kafka-cluster", O.ALTER, DENY, rt=C)])
    assert not authorize_cluster(acls, ME, O.ALTER, True)
    assert not authorize_cluster(acls, ME, O.DESCRIBE, True)  # acls on the cluster, none allows DESCRIBE
    assert authorize_cluster(AclSet.of([acl("t", O.ALL, DENY)]), ME, O.ALTER, True)


@pytest.mark.parametrize(("bindings", "open_", "expected"), [
    ([], True, True),
    ([], False, False),
    ([acl("t", O.WRITE, ALLOW)], False, True),
    ([acl("t", O.WRITE, ALLOW), acl("t", O.WRITE, DENY)], False, False),
    ([acl("t", O.WRITE, ALLOW), acl("*", O.ALL, DENY)], False, False),
    ([acl("t-", O.WRITE, ALLOW, pt=PRE), acl("t", O.WRITE, DENY, pt=PRE)], False, False),
    ([acl("t-", O.WRITE, ALLOW, pt=PRE), acl("t-x", O.WRITE, DENY)], False, True),
    ([acl("*", O.ALL, DENY)], True, False),
])
def test_write_on_some_topic(bindings: list[AclBinding], open_: bool, expected: bool) -> None:
    """An idempotent producer without IDEMPOTENT_WRITE on the cluster needs WRITE on some topic."""
    assert authorize_any_topic(AclSet.of(bindings), ME, O.WRITE, open_) is expected


B1 = acl("orders", O.READ, ALLOW, principal="User:a")
B2 = acl("orders", O.WRITE, DENY, principal="User:b", host="h")
B3 = acl("ord", O.READ, ALLOW, pt=PRE)
B4 = acl("*", O.DESCRIBE, ALLOW)
B5 = acl("orders", O.READ, ALLOW, rt=G)
ALL_BINDINGS = [B1, B2, B3, B4, B5]


@pytest.mark.parametrize(("f", "expected"), [
    (AclFilter(), ALL_BINDINGS),
    (AclFilter(T), [B1, B2, B3, B4]),
    (AclFilter(T, "orders", PatternType.LITERAL), [B1, B2]),
    (AclFilter(T, "orders", PatternType.ANY), [B1, B2]),
    (AclFilter(T, "orders", PatternType.MATCH), [B1, B2, B3, B4]),
    (AclFilter(T, "ord", PatternType.PREFIXED), [B3]),
    (AclFilter(T, "*", PatternType.LITERAL), [B4]),
    (AclFilter(ResourceType.ANY, "orders", PatternType.ANY), [B1, B2, B5]),
    (AclFilter(principal="User:b"), [B2]),
    (AclFilter(host="h"), [B2]),
    (AclFilter(operation=O.READ), [B1, B3, B5]),
    (AclFilter(permission=DENY), [B2]),
])
def test_filters(f: AclFilter, expected: list[AclBinding]) -> None:
    assert [b for b in ALL_BINDINGS if f.matches(b)] == expected
    assert sorted(AclSet.of(ALL_BINDINGS).matching(f)) == sorted(expected)


@pytest.mark.parametrize("f", [AclFilter(resource_type=0), AclFilter(pattern_type=0), AclFilter(operation=0),
                               AclFilter(permission=0), AclFilter(operation=99)])
def test_filters_with_unknown_codes_are_invalid(f: AclFilter) -> None:
    with pytest.raises(errors.InvalidRequest):
        f.validate()


@pytest.mark.parametrize(("binding", "message"), [
    (AclBinding(0, "t", LIT, "User:a", "*", O.READ, ALLOW), "Invalid resourceType"),
    (AclBinding(ResourceType.ANY, "t", LIT, "User:a", "*", O.READ, ALLOW), "Invalid resourceType"),
    (AclBinding(T, "t", PatternType.MATCH, "User:a", "*", O.READ, ALLOW), "Invalid patternType"),
    (AclBinding(T, "t", PatternType.ANY, "User:a", "*", O.READ, ALLOW), "Invalid patternType"),
    (AclBinding(T, "t", LIT, "User:a", "*", O.ANY, ALLOW), "Invalid operation"),
    (AclBinding(T, "t", LIT, "User:a", "*", O.READ, Permission.ANY), "Invalid permissionType"),
    (AclBinding(T, "", LIT, "User:a", "*", O.READ, ALLOW), "Resource name should not be empty"),
    (AclBinding(C, "my-cluster", LIT, "User:a", "*", O.ALTER, ALLOW), "kafka-cluster"),
    (AclBinding(T, "t", LIT, "bob", "*", O.READ, ALLOW), "Could not parse principal"),
])
def test_invalid_bindings(binding: AclBinding, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        validate_binding(binding)


def test_a_binding_row_round_trips_and_keys_differ() -> None:
    for b in ALL_BINDINGS:
        assert AclBinding.from_row(b.row()) == b
    assert len({b.key() for b in ALL_BINDINGS}) == len(ALL_BINDINGS)
