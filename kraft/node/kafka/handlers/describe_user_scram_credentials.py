"""DescribeUserScramCredentials (50, KIP-554): the SCRAM mechanisms and iteration counts of users
(every user with credentials when none is named), from the metadata group's records on this node.
Per user: RESOURCE_NOT_FOUND without credentials, DUPLICATE_RESOURCE when named twice. Salts and
salted passwords are never answered. kraft has no SASL listener: the credentials are stored, not
used to authenticate anyone (``kraft.scram``). ACLs: DESCRIBE on the cluster, else
CLUSTER_AUTHORIZATION_FAILED, as Kafka."""

from __future__ import annotations

from typing import Any

from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.state.acls import Operation

API_KEY = 50
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    refused = _auth.cluster_refusal(ctx, Operation.DESCRIBE)  # as Kafka: DESCRIBE on the cluster
    if refused is not None:
        return {"throttle_time": 0, "error_code": kafka_code(refused), "error_message": refused.message,
                "results": []}
    users = None if request["users"] is None else [u["name"] for u in request["users"]]
    results = [{"user": d.user, "error_code": kafka_code(d.error) if d.error else 0,
                "error_message": d.error.message if d.error else None,
                "credential_infos": [{"mechanism": m, "iterations": i} for m, i in d.credentials]}
               for d in ctx.broker.describe_scram_credentials(users)]
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "results": results}
