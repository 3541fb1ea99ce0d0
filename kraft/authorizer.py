"""The authorizer: whether a principal at a host may do an operation on a resource, by the cluster's
ACL bindings, with the semantics of Kafka's ``AclAuthorizer`` (``StandardAuthorizer`` in KRaft).

The rules, in order:
- the bindings that apply are those of the resource's type whose pattern covers its name: the
  literal name, the wildcard ``*``, and any PREFIXED pattern the name starts with;
- none apply: allowed if ``allow_if_no_acl`` (Kafka's ``allow.everyone.if.no.acl.found``), else denied;
- a DENY binding for the principal (or ``User:*``), the host (or ``*``) and the operation (or ALL)
  denies, whatever allows it (DENY wins);
- else an ALLOW binding for the principal (or ``User:*``) and host (or ``*``) allows, for the
  operation, ALL, or an operation that implies it: DESCRIBE is implied by READ, WRITE, DELETE and
  ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS (an implied operation allows only: a DENY of READ does
  not deny DESCRIBE);
- else denied.

kraft has no authentication: every Kafka client is ``User:ANONYMOUS`` (``ANONYMOUS``), its host the
address its connection comes from.
Owns: those rules, as pure functions over an ``AclSet``. Must not: read the metadata view or know any
request (the handlers of both front ends ask, through ``kraft.node.access``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kraft.state.acls import (
    CLUSTER_NAME,
    WILDCARD_HOST,
    WILDCARD_PRINCIPAL,
    WILDCARD_RESOURCE,
    AclBinding,
    AclSet,
    Operation,
    PatternType,
    Permission,
    ResourceType,
)

ANONYMOUS = "User:ANONYMOUS"
# A name no binding is expected to cover but the wildcard and prefixes of it (Kafka's "hardcode").
_NO_SUCH_TOPIC = "hardcode"

# The operations whose ALLOW also allows the key (Kafka's AclAuthorizer: "implied" operations).
_ALLOWED_BY: dict[int, frozenset[int]] = {
    Operation.DESCRIBE: frozenset({Operation.DESCRIBE, Operation.READ, Operation.WRITE, Operation.DELETE,
                                   Operation.ALTER}),
    Operation.DESCRIBE_CONFIGS: frozenset({Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: a principal (``User:name``) from a host (an IP address as the node sees it)."""

    name: str
    host: str


def _applies_to(b: AclBinding, who: Principal) -> bool:
    return b.principal in (who.name, WILDCARD_PRINCIPAL) and b.host in (who.host, WILDCARD_HOST)


def decide(bindings: Iterable[AclBinding], who: Principal, operation: int, allow_if_no_acl: bool) -> bool:
    """The decision over the bindings that apply to one resource (``AclSet.applying_to``)."""
    found = False
    allowed = False
    allowing = _ALLOWED_BY.get(operation, frozenset({operation}))
    for b in bindings:
        found = True
        if not _applies_to(b, who):
            continue
        if b.permission == Permission.DENY:
            if b.operation in (operation, Operation.ALL):
                return False
        elif b.permission == Permission.ALLOW and (b.operation == Operation.ALL or b.operation in allowing):
            allowed = True
    return allowed or (not found and allow_if_no_acl)


def authorize(acls: AclSet, who: Principal, operation: int, resource_type: int, name: str,
              allow_if_no_acl: bool) -> bool:
    """May ``who`` do ``operation`` on the resource (``resource_type``, ``name``)?"""
    if not acls.bindings:
        return allow_if_no_acl  # the common case, a cluster without ACLs: no lookups
    return decide(acls.applying_to(resource_type, name), who, operation, allow_if_no_acl)


def authorize_cluster(acls: AclSet, who: Principal, operation: int, allow_if_no_acl: bool) -> bool:
    return authorize(acls, who, operation, ResourceType.CLUSTER, CLUSTER_NAME, allow_if_no_acl)


def authorize_any_topic(acls: AclSet, who: Principal, operation: int, allow_if_no_acl: bool) -> bool:
    """May ``who`` do ``operation`` on some topic? (Kafka's ``authorizeByResourceType``, which an
    idempotent producer without IDEMPOTENT_WRITE on the cluster needs for WRITE.) As Kafka: allowed
    if a topic no binding names would be (``allow_if_no_acl``); else denied by a DENY on the
    wildcard; else allowed by an ALLOW on a literal name or a prefix that no DENY covers."""
    if authorize(acls, who, operation, ResourceType.TOPIC, _NO_SUCH_TOPIC, allow_if_no_acl):
        return True
    topic = [b for b in acls.bindings if b.resource_type == ResourceType.TOPIC and _applies_to(b, who)]
    denials = [b for b in topic if b.permission == Permission.DENY and b.operation in (operation, Operation.ALL)]
    if any(d.pattern_type == PatternType.LITERAL and d.resource_name == WILDCARD_RESOURCE for d in denials):
        return False
    allowing = _ALLOWED_BY.get(operation, frozenset({operation}))
    for b in topic:
        if b.permission != Permission.ALLOW or not (b.operation == Operation.ALL or b.operation in allowing):
            continue
        literal = b.pattern_type == PatternType.LITERAL
        if any((d.pattern_type == PatternType.LITERAL and literal and d.resource_name == b.resource_name)
               or (d.pattern_type == PatternType.PREFIXED and b.resource_name.startswith(d.resource_name))
               for d in denials):
            continue
        return True
    return False

