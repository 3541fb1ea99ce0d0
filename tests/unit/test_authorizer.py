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
Op = Operation
ME = Principal(ANONYMOUS, "10.0.0.1")


def acl(name: str, op: Operation, perm: Permission, *, rt: ResourceType = T, pt: PatternType = LIT,
        principal: str = "User:*", host: str = "*") -> AclBinding:
    return AclBinding(rt, name, pt, principal, host, op, perm)


# (bindings, operation, topic, allow_if_no_acl, allowed?)
CASES = [
    pytest.param([], Op.READ, "t", True, True, id="no acls, open"),
    pytest.param([], Op.READ, "t", False, False, id="no acls, closed"),
    pytest.param([acl("other", Op.ALL, DENY)], Op.READ, "t", True, True, id="acls on another topic only"),
    pytest.param([acl("other", Op.ALL, ALLOW)], Op.READ, "t", False, False, id="closed, allowed elsewhere only"),
    pytest.param([acl("t", Op.READ, ALLOW)], Op.READ, "t", False, True, id="literal allow"),
    pytest.param([acl("t", Op.WRITE, ALLOW)], Op.READ, "t", True, False,
                 id="an acl on the topic closes it to what it does not allow"),
    pytest.param([acl("t", Op.ALL, DENY)], Op.WRITE, "t", True, False, id="deny all"),
    pytest.param([acl("t", Op.ALL, ALLOW), acl("t", Op.WRITE, DENY)], Op.WRITE, "t", True, False, id="deny wins"),
    pytest.param([acl("t", Op.ALL, ALLOW), acl("t", Op.WRITE, DENY)], Op.READ, "t", True, True,
                 id="a deny of one operation leaves the others"),
    pytest.param([acl("*", Op.READ, DENY), acl("t", Op.READ, ALLOW)], Op.READ, "t", True, False,
                 id="wildcard deny wins over literal allow"),
    pytest.param([acl("*", Op.READ, ALLOW)], Op.READ, "anything", False, True, id="wildcard resource allow"),
    pytest.param([acl("orders-", Op.READ, ALLOW, pt=PRE)], Op.READ, "orders-eu", False, True, id="prefix allow"),
    pytest.param([acl("orders-", Op.READ, ALLOW, pt=PRE)], Op.READ, "order", False, False, id="not under the prefix"),
    pytest.param([acl("orders-", Op.READ, DENY, pt=PRE), acl("orders-eu", Op.READ, ALLOW)], Op.READ, "orders-eu",
                 True, False, id="prefix deny wins over literal allow"),
    pytest.param([acl("orders-", Op.READ, ALLOW, pt=LIT)], Op.READ, "orders-eu", False, False,
                 id="a literal name is not a prefix"),
    pytest.param([acl("t", Op.READ, ALLOW, principal="User:bob")], Op.READ, "t", True, False,
                 id="allowed for another principal only"),
    pytest.param([acl("t", Op.READ, ALLOW, principal=ANONYMOUS)], Op.READ, "t", False, True, id="our principal"),
    pytest.param([acl("t", Op.READ, DENY, principal="User:bob")], Op.READ, "t", True, False,
                 id="denied to another principal: the topic has acls, none allows us"),
    pytest.param([acl("t", Op.READ, ALLOW, host="10.0.0.2")], Op.READ, "t", True, False, id="another host"),
    pytest.param([acl("t", Op.READ, ALLOW, host="10.0.0.1")], Op.READ, "t", False, True, id="our host"),
    pytest.param([acl("t", Op.ALL, ALLOW), acl("t", Op.READ, DENY, host="10.0.0.2")], Op.READ, "t", True, True,
                 id="a deny for another host does not apply"),
    pytest.param([acl("t", Op.READ, ALLOW)], Op.DESCRIBE, "t", False, True, id="read implies describe"),
    pytest.param([acl("t", Op.WRITE, ALLOW)], Op.DESCRIBE, "t", False, True, id="write implies describe"),
    pytest.param([acl("t", Op.DELETE, ALLOW)], Op.DESCRIBE, "t", False, True, id="delete implies describe"),
    pytest.param([acl("t", Op.ALTER, ALLOW)], Op.DESCRIBE, "t", False, True, id="alter implies describe"),
    pytest.param([acl("t", Op.CREATE, ALLOW)], Op.DESCRIBE, "t", False, False, id="create does not imply describe"),
    pytest.param([acl("t", Op.ALTER_CONFIGS, ALLOW)], Op.DESCRIBE_CONFIGS, "t", False, True,
                 id="alter_configs implies describe_configs"),
    pytest.param([acl("t", Op.DESCRIBE, ALLOW)], Op.READ, "t", False, False, id="describe does not imply read"),
    pytest.param([acl("t", Op.ALL, ALLOW), acl("t", Op.READ, DENY)], Op.DESCRIBE, "t", True, True,
                 id="a denied read does not deny the describe it implies"),
    pytest.param([acl("t", Op.DESCRIBE, ALLOW), acl("t", Op.READ, DENY)], Op.READ, "t", True, False,
                 id="0119: describe allowed, read denied"),
    pytest.param([acl("t", Op.READ, ALLOW, rt=G)], Op.READ, "t", False, False, id="a group acl is not a topic acl"),
]


@pytest.mark.parametrize(("bindings", "operation", "topic", "open_", "expected"), CASES)
def test_topic_decisions(bindings: list[AclBinding], operation: Operation, topic: str, open_: bool,
                         expected: bool) -> None:
    assert authorize(AclSet.of(bindings), ME, operation, T, topic, open_) is expected


def test_cluster_resource() -> None:
    acls = AclSet.of([acl("kafka-cluster", Op.ALTER, DENY, rt=C)])
    assert not authorize_cluster(acls, ME, Op.ALTER, True)
    assert not authorize_cluster(acls, ME, Op.DESCRIBE, True)  # acls on the cluster, none allows DESCRIBE
    assert authorize_cluster(AclSet.of([acl("t", Op.ALL, DENY)]), ME, Op.ALTER, True)


@pytest.mark.parametrize(("bindings", "open_", "expected"), [
    ([], True, True),
    ([], False, False),
    ([acl("t", Op.WRITE, ALLOW)], False, True),
    ([acl("t", Op.WRITE, ALLOW), acl("t", Op.WRITE, DENY)], False, False),
    ([acl("t", Op.WRITE, ALLOW), acl("*", Op.ALL, DENY)], False, False),
    ([acl("t-", Op.WRITE, ALLOW, pt=PRE), acl("t", Op.WRITE, DENY, pt=PRE)], False, False),
    ([acl("t-", Op.WRITE, ALLOW, pt=PRE), acl("t-x", Op.WRITE, DENY)], False, True),
    ([acl("*", Op.ALL, DENY)], True, False),
])
def test_write_on_some_topic(bindings: list[AclBinding], open_: bool, expected: bool) -> None:
    """An idempotent producer without IDEMPOTENT_WRITE on the cluster needs WRITE on some topic."""
    assert authorize_any_topic(AclSet.of(bindings), ME, Op.WRITE, open_) is expected


B1 = acl("orders", Op.READ, ALLOW, principal="User:a")
B2 = acl("orders", Op.WRITE, DENY, principal="User:b", host="h")
B3 = acl("ord", Op.READ, ALLOW, pt=PRE)
B4 = acl("*", Op.DESCRIBE, ALLOW)
B5 = acl("orders", Op.READ, ALLOW, rt=G)
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
    (AclFilter(operation=Op.READ), [B1, B3, B5]),
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
    (AclBinding(0, "t", LIT, "User:a", "*", Op.READ, ALLOW), "Invalid resourceType"),
    (AclBinding(ResourceType.ANY, "t", LIT, "User:a", "*", Op.READ, ALLOW), "Invalid resourceType"),
    (AclBinding(T, "t", PatternType.MATCH, "User:a", "*", Op.READ, ALLOW), "Invalid patternType"),
    (AclBinding(T, "t", PatternType.ANY, "User:a", "*", Op.READ, ALLOW), "Invalid patternType"),
    (AclBinding(T, "t", LIT, "User:a", "*", Op.ANY, ALLOW), "Invalid operation"),
    (AclBinding(T, "t", LIT, "User:a", "*", Op.READ, Permission.ANY), "Invalid permissionType"),
    (AclBinding(T, "", LIT, "User:a", "*", Op.READ, ALLOW), "Resource name should not be empty"),
    (AclBinding(C, "my-cluster", LIT, "User:a", "*", Op.ALTER, ALLOW), "kafka-cluster"),
    (AclBinding(T, "t", LIT, "bob", "*", Op.READ, ALLOW), "Could not parse principal"),
])
def test_invalid_bindings(binding: AclBinding, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        validate_binding(binding)


def test_a_binding_row_round_trips_and_keys_differ() -> None:
    for b in ALL_BINDINGS:
        assert AclBinding.from_row(b.row()) == b
    assert len({b.key() for b in ALL_BINDINGS}) == len(ALL_BINDINGS)
