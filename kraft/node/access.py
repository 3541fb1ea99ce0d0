"""The handlers' authorization checks, for both front ends: who a client is (kraft has no
authentication, so every client, Kafka or native, is ``User:ANONYMOUS`` at the address its connection
comes from) and whether the cluster's ACLs let it do an operation on a topic, a group or the cluster
(``kraft.authorizer`` decides, through the broker; cluster.ini's ``acl_allow_if_no_acl`` opens what no
binding covers).

Owns: those lookups, in the handlers' terms. Must not: decide anything itself, or choose the error
a handler answers with (each API has its own, Kafka's where Kafka has one).
"""

from __future__ import annotations

from collections.abc import Iterable

from kraft import errors
from kraft.authorizer import ANONYMOUS, Principal
from kraft.node.context import HandlerContext
from kraft.state.acls import CLUSTER_NAME, Operation, ResourceType


def principal(ctx: HandlerContext) -> Principal:
    return Principal(ANONYMOUS, ctx.client_host)


# Each check first asks the broker for the answer without bindings: a cluster without ACLs (the
# common case) then pays one call per check, not a principal and a lookup, on Produce and Fetch too.

def topic(ctx: HandlerContext, operation: Operation, name: str) -> bool:
    answer = ctx.broker.answer_without_acls()
    return answer if answer is not None else ctx.broker.authorize(principal(ctx), operation, ResourceType.TOPIC, name)


def topics_denied(ctx: HandlerContext, operation: Operation, names: Iterable[str]) -> set[str]:
    """The names (each checked once, however often given) on which ``operation`` is not allowed."""
    if ctx.broker.answer_without_acls():
        return set()
    return {name for name in set(names) if not topic(ctx, operation, name)}


def group(ctx: HandlerContext, operation: Operation, name: str) -> bool:
    answer = ctx.broker.answer_without_acls()
    return answer if answer is not None else ctx.broker.authorize(principal(ctx), operation, ResourceType.GROUP, name)


def cluster(ctx: HandlerContext, operation: Operation) -> bool:
    answer = ctx.broker.answer_without_acls()
    return answer if answer is not None else ctx.broker.authorize(principal(ctx), operation, ResourceType.CLUSTER,
                                                                  CLUSTER_NAME)


def any_topic(ctx: HandlerContext, operation: Operation) -> bool:
    answer = ctx.broker.answer_without_acls()
    return answer if answer is not None else ctx.broker.authorize_any_topic(principal(ctx), operation)


def operations(ctx: HandlerContext, resource_type: ResourceType, name: str, codes: Iterable[int]) -> int:
    """Kafka's authorized-operations bit field: bit ``code`` set for each operation allowed."""
    if ctx.broker.answer_without_acls():
        return sum(1 << code for code in codes)
    who = principal(ctx)
    return sum(1 << code for code in codes if ctx.broker.authorize(who, code, resource_type, name))


def require_topic(ctx: HandlerContext, operation: Operation, name: str) -> None:
    if not topic(ctx, operation, name):
        raise errors.TopicAuthorizationFailed(f"{operation.name} on topic {name!r} is not allowed")


def require_group(ctx: HandlerContext, operation: Operation, name: str) -> None:
    if not group(ctx, operation, name):
        raise errors.GroupAuthorizationFailed(f"{operation.name} on group {name!r} is not allowed")


def cluster_refusal(ctx: HandlerContext, operation: Operation) -> errors.ClusterAuthorizationFailed | None:
    """What to answer when ``operation`` on the cluster is not allowed (for handlers that answer each
    item with it instead of raising); None when it is allowed."""
    if cluster(ctx, operation):
        return None
    return errors.ClusterAuthorizationFailed(f"{operation.name} on the cluster is not allowed")


def require_cluster(ctx: HandlerContext, operation: Operation) -> None:
    refusal = cluster_refusal(ctx, operation)
    if refusal is not None:
        raise refusal


def require_create_topic(ctx: HandlerContext, name: str) -> None:
    """Kafka: creating a topic needs CREATE on the cluster, or on the topic."""
    if not (cluster(ctx, Operation.CREATE) or topic(ctx, Operation.CREATE, name)):
        raise errors.TopicAuthorizationFailed(f"CREATE on topic {name!r} is not allowed")


def require_idempotent_write(ctx: HandlerContext) -> None:
    """Kafka: an idempotent producer needs IDEMPOTENT_WRITE on the cluster, or WRITE on some topic."""
    if not (cluster(ctx, Operation.IDEMPOTENT_WRITE) or any_topic(ctx, Operation.WRITE)):
        raise errors.ClusterAuthorizationFailed("IDEMPOTENT_WRITE on the cluster is not allowed")
