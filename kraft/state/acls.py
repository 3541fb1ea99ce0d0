"""ACL bindings: Kafka's access control entries as cluster state, and the filters that find them.

Owns: the binding value (``AclBinding``: a resource pattern and an access control entry, with Kafka's
numeric codes for resource types, pattern types, operations and permissions), the filter value
(``AclFilter``: Kafka's ``AclBindingFilter``, with its matching rules), their validation (what
CreateAcls and DeleteAcls refuse with INVALID_REQUEST), the row form a binding is stored and
replicated as (a list, one row per binding: ``binding_row`` / ``binding_key``), and ``AclSet``, the
immutable set of bindings a ``MetadataView`` carries, indexed for the authorizer.
Must not: decide whether a request is allowed (``kraft.authorizer`` does), or know how rows are
stored (``kraft.log.rows``) or replicated (``kraft.state.metadata``'s ``create_acls`` /
``delete_acls`` commands).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack

from kraft import errors


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1  # filters only
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1  # filters only: any pattern type, the name taken literally
    MATCH = 2  # filters only: every pattern that would apply to the name
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    UNKNOWN = 0
    ANY = 1  # filters only
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1  # filters only
    DENY = 2
    ALLOW = 3


WILDCARD_RESOURCE = "*"
WILDCARD_PRINCIPAL = "User:*"
WILDCARD_HOST = "*"
CLUSTER_NAME = "kafka-cluster"  # the only name a CLUSTER resource has


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    """One access control entry on one resource pattern (Kafka's ``AclBinding``)."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int

    def row(self) -> list[Any]:
        return [self.resource_type, self.resource_name, self.pattern_type, self.principal, self.host,
                self.operation, self.permission]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AclBinding:
        rt, name, pt, principal, host, op, perm = row
        return cls(int(rt), str(name), int(pt), str(principal), str(host), int(op), int(perm))

    def key(self) -> bytes:
        """The binding's identity as a fixed-size key (a name may be long: its SHA-256 of the row)."""
        return hashlib.sha256(msgpack.packb(self.row(), use_bin_type=True)).digest()


def _known(enum: type[IntEnum], value: int) -> bool:
    return value in enum._value2member_map_ and value != 0


def validate_binding(b: AclBinding) -> None:
    """Refuse what Kafka's broker refuses in a CreateAcls (INVALID_REQUEST, its messages)."""
    if not _known(ResourceType, b.resource_type) or b.resource_type == ResourceType.ANY:
        raise errors.InvalidRequest(f"Invalid resourceType {b.resource_type}")
    if b.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise errors.InvalidRequest(f"Invalid patternType {b.pattern_type}")
    if not _known(Operation, b.operation) or b.operation == Operation.ANY:
        raise errors.InvalidRequest(f"Invalid operation {b.operation}")
    if b.permission not in (Permission.ALLOW, Permission.DENY):
        raise errors.InvalidRequest(f"Invalid permissionType {b.permission}")
    if not b.resource_name:
        raise errors.InvalidRequest("Resource name should not be empty")
    if b.resource_type == ResourceType.CLUSTER and b.resource_name != CLUSTER_NAME:
        raise errors.InvalidRequest(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    kind, sep, name = b.principal.partition(":")
    if not sep or not kind or not name:
        raise errors.InvalidRequest(f"Could not parse principal from `{b.principal}` (no colon is found "
                                    f"separating principal type from principal name)")
    if not b.host:
        raise errors.InvalidRequest("Host should not be empty")


@dataclass(frozen=True, slots=True)
class AclFilter:
    """Kafka's ``AclBindingFilter``: None fields match anything; ANY codes match any value; the
    pattern type MATCH matches every pattern that applies to the name (the literal name, the
    wildcard ``*``, and prefixes of it)."""

    resource_type: int = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: int = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: int = Operation.ANY
    permission: int = Permission.ANY

    def validate(self) -> None:
        """UNKNOWN (or unheard-of) codes make a filter invalid, as in Kafka (INVALID_REQUEST)."""
        for enum, value, what in ((ResourceType, self.resource_type, "resource type"),
                                  (PatternType, self.pattern_type, "pattern type"),
                                  (Operation, self.operation, "operation"),
                                  (Permission, self.permission, "permission type")):
            if not _known(enum, value):
                raise errors.InvalidRequest(f"the filter has an unknown {what}: {value}")

    def matches(self, b: AclBinding) -> bool:
        return self.matches_pattern(b) and self.matches_entry(b)

    def matches_pattern(self, b: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != b.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != b.pattern_type:
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type in (PatternType.ANY, b.pattern_type):
            return self.resource_name == b.resource_name
        # MATCH
        if b.pattern_type == PatternType.LITERAL:
            return b.resource_name in (self.resource_name, WILDCARD_RESOURCE)
        return b.pattern_type == PatternType.PREFIXED and self.resource_name.startswith(b.resource_name)

    def matches_entry(self, b: AclBinding) -> bool:
        return ((self.principal is None or self.principal == b.principal)
                and (self.host is None or self.host == b.host)
                and (self.operation == Operation.ANY or self.operation == b.operation)
                and (self.permission == Permission.ANY or self.permission == b.permission))

    def row(self) -> list[Any]:
        return [self.resource_type, self.resource_name, self.pattern_type, self.principal, self.host,
                self.operation, self.permission]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AclFilter:
        rt, name, pt, principal, host, op, perm = row
        return cls(int(rt), None if name is None else str(name), int(pt), None if principal is None else str(principal),
                   None if host is None else str(host), int(op), int(perm))


@dataclass(frozen=True)
class AclSet:
    """Every binding of the cluster, immutable, indexed by resource type: literal names (the wildcard
    ``*`` among them) in a dict, prefixed patterns in a list (few, in practice)."""

    bindings: tuple[AclBinding, ...] = ()
    _literal: dict[tuple[int, str], tuple[AclBinding, ...]] = field(default_factory=dict, repr=False, compare=False)
    _prefixed: dict[int, tuple[AclBinding, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, bindings: Iterable[AclBinding]) -> AclSet:
        ordered = tuple(sorted(set(bindings)))
        literal: dict[tuple[int, str], list[AclBinding]] = {}
        prefixed: dict[int, list[AclBinding]] = {}
        for b in ordered:
            if b.pattern_type == PatternType.PREFIXED:
                prefixed.setdefault(b.resource_type, []).append(b)
            else:
                literal.setdefault((b.resource_type, b.resource_name), []).append(b)
        return cls(ordered, {k: tuple(v) for k, v in literal.items()}, {k: tuple(v) for k, v in prefixed.items()})

    def __len__(self) -> int:
        return len(self.bindings)

    def applying_to(self, resource_type: int, name: str) -> list[AclBinding]:
        """The bindings whose pattern covers resource ``name`` (Kafka's ``matchingAcls``): its literal
        name, the wildcard, and every prefix of it."""
        out = list(self._literal.get((resource_type, name), ()))
        if name != WILDCARD_RESOURCE:
            out += self._literal.get((resource_type, WILDCARD_RESOURCE), ())
        out += [b for b in self._prefixed.get(resource_type, ()) if name.startswith(b.resource_name)]
        return out

    def matching(self, f: AclFilter) -> list[AclBinding]:
        return [b for b in self.bindings if f.matches(b)]


EMPTY_ACLS = AclSet()
