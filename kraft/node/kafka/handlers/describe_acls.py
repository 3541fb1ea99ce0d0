"""DescribeAcls (29): the ACL bindings a filter matches, grouped by resource pattern.

Versions 1-3 (Kafka 3.7 also serves v0, which kio has no schema for: v0 clients, Kafka < 2.0, are
not served); v2 is flexible. Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED); a
filter with an UNKNOWN code is INVALID_REQUEST, as in Kafka.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import AclBinding, AclFilter, Operation

API_KEY = 29
MIN_VERSION = 1
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    refused = _auth.cluster_refusal(ctx, Operation.DESCRIBE)
    if refused is not None:
        return _error(refused)
    f = AclFilter(request["resource_type_filter"], request.get("resource_name_filter"),
                  request.get("pattern_type_filter", 3), request.get("principal_filter"), request.get("host_filter"),
                  request["operation"], request["permission_type"])
    try:
        f.validate()
    except errors.KraftError as e:
        return _error(e)
    return {"throttle_time": 0, "error_code": 0, "error_message": None,
            "resources": resources(ctx.broker.acls().matching(f))}


def resources(bindings: list[AclBinding]) -> list[dict[str, Any]]:
    """Bindings grouped by their resource pattern, as DescribeAcls answers them."""
    grouped: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for b in bindings:
        grouped.setdefault((b.resource_type, b.resource_name, b.pattern_type), []).append(
            {"principal": b.principal, "host": b.host, "operation": b.operation, "permission_type": b.permission})
    return [{"resource_type": rt, "resource_name": name, "pattern_type": pt, "acls": acls}
            for (rt, name, pt), acls in grouped.items()]


def _error(e: errors.KraftError) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": kafka_code(e), "error_message": e.message, "resources": []}
