"""The Kafka handlers' authorization checks: who a Kafka client is (kraft has no authentication, so
every client is ``User:ANONYMOUS`` at the address its connection comes from) and whether the
cluster's ACLs let it do an operation on a topic, a group or the cluster (``kraft.authorizer``
decides; cluster.ini's ``acl_allow_if_no_acl`` opens what no binding covers).

Owns: those lookups, in the handlers' terms. Must not: decide anything itself, or choose the error
a handler answers with (each API has Kafka's own).
"""

from __future__ import annotations

from collections.abc import Iterable

from kraft.authorizer import ANONYMOUS, Principal
from kraft.node.kafka.context import KafkaContext
from kraft.state.acls import CLUSTER_NAME, Operation, ResourceType


def principal(ctx: KafkaContext) -> Principal:
    return Principal(ANONYMOUS, ctx.client_host)


def topic(ctx: KafkaContext, operation: Operation, name: str) -> bool:
    return ctx.broker.authorize(principal(ctx), operation, ResourceType.TOPIC, name)


def group(ctx: KafkaContext, operation: Operation, name: str) -> bool:
    return ctx.broker.authorize(principal(ctx), operation, ResourceType.GROUP, name)


def cluster(ctx: KafkaContext, operation: Operation) -> bool:
    return ctx.broker.authorize(principal(ctx), operation, ResourceType.CLUSTER, CLUSTER_NAME)


def any_topic(ctx: KafkaContext, operation: Operation) -> bool:
    return ctx.broker.authorize_any_topic(principal(ctx), operation)


def operations(ctx: KafkaContext, resource_type: ResourceType, name: str, codes: Iterable[int]) -> int:
    """Kafka's authorized-operations bit field: bit ``code`` set for each operation allowed."""
    who = principal(ctx)
    return sum(1 << code for code in codes if ctx.broker.authorize(who, code, resource_type, name))
