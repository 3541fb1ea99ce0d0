"""CreateAcls (30): ACL bindings added to the cluster (one metadata entry for the request), each
answered on its own: INVALID_REQUEST with Kafka's message for what Kafka refuses (an UNKNOWN or ANY
code, a pattern type other than LITERAL/PREFIXED, an empty name, a CLUSTER resource not named
``kafka-cluster``, a principal without ``Type:``). A binding that exists already is no error.

Versions 1-3 (v0, LITERAL only, has no kio schema: not served); v2 is flexible. Needs ALTER on the
cluster (else every result is CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import AclBinding, Operation, validate_binding

API_KEY = 30
MIN_VERSION = 1
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    creations = request["creations"]
    denied = _auth.cluster_refusal(ctx, Operation.ALTER)
    if denied is not None:
        return {"throttle_time": 0, "results": [_result(denied) for _ in creations]}
    results: list[errors.KraftError | None] = []
    valid: list[AclBinding] = []
    for c in creations:
        binding = AclBinding(c["resource_type"], c["resource_name"], c.get("resource_pattern_type", 3),
                             c["principal"], c["host"], c["operation"], c["permission_type"])
        try:
            validate_binding(binding)
        except errors.KraftError as e:
            results.append(e)
            continue
        results.append(None)
        valid.append(binding)
    if valid:
        created = iter(await ctx.broker.create_acls(valid))
        results = [next(created) if r is None else r for r in results]
    return {"throttle_time": 0, "results": [_result(r) for r in results]}


def _result(e: errors.KraftError | None) -> dict[str, Any]:
    return {"error_code": 0, "error_message": None} if e is None else {"error_code": kafka_code(e),
                                                                        "error_message": e.message}
