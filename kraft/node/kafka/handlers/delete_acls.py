"""DeleteAcls (31): every ACL binding any of the request's filters matches is deleted, all in one
metadata entry; each filter is answered with the bindings it matched. A filter with an UNKNOWN code
is INVALID_REQUEST (that filter only, as in Kafka).

Versions 1-3 (v0 has no kio schema: not served); v2 is flexible. Needs ALTER on the cluster (else
every filter's result is CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import AclBinding, AclFilter, Operation

API_KEY = 31
MIN_VERSION = 1
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    filters = [AclFilter(f["resource_type_filter"], f.get("resource_name_filter"), f.get("pattern_type_filter", 3),
                         f.get("principal_filter"), f.get("host_filter"), f["operation"], f["permission_type"])
               for f in request["filters"]]
    denied = _auth.cluster_refusal(ctx, Operation.ALTER)
    if denied is not None:
        return {"throttle_time": 0, "filter_results": [_result(denied, []) for _ in filters]}
    answers: list[tuple[errors.KraftError | None, list[AclBinding]]] = []
    valid: list[AclFilter] = []
    for f in filters:
        try:
            f.validate()
        except errors.KraftError as e:
            answers.append((e, []))
            continue
        answers.append((None, []))
        valid.append(f)
    if valid:
        deleted = iter(await ctx.broker.delete_acls(valid))
        answers = [next(deleted) if e is None else (e, matched) for e, matched in answers]
    return {"throttle_time": 0, "filter_results": [_result(e, matched) for e, matched in answers]}


def _result(e: errors.KraftError | None, matched: list[AclBinding]) -> dict[str, Any]:
    return {"error_code": 0 if e is None else kafka_code(e), "error_message": None if e is None else e.message,
            "matching_acls": [{"error_code": 0, "error_message": None, "resource_type": b.resource_type,
                               "resource_name": b.resource_name, "pattern_type": b.pattern_type,
                               "principal": b.principal, "host": b.host, "operation": b.operation,
                               "permission_type": b.permission} for b in matched]}
