"""AlterUserScramCredentials (51, KIP-554): delete and upsert users' SCRAM credentials (mechanism,
iterations, salt and the salted password the client computed), replicated by the metadata group in
one entry. Answered per user (``kraft.scram`` lists the errors). kraft has no SASL listener: the
credentials are stored and described, not used to authenticate anyone. ACLs: ALTER on the cluster,
else CLUSTER_AUTHORIZATION_FAILED for every user, as Kafka."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.scram import Deletion, Upsertion, users_of
from kraft.state.acls import Operation

API_KEY = 51
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    deletions = [Deletion(d["name"], d["mechanism"]) for d in request["deletions"]]
    upsertions = [Upsertion(u["name"], u["mechanism"], u["iterations"], bytes(u["salt"]), bytes(u["salted_password"]))
                  for u in request["upsertions"]]
    try:
        _auth.require_cluster(ctx, Operation.ALTER)  # as Kafka: ALTER on the cluster, every user refused
        outcome = await ctx.broker.alter_scram_credentials(deletions, upsertions)
    except errors.KraftError as e:
        users = users_of(deletions, upsertions)
        return {"throttle_time": 0, "results": [{"user": u, "error_code": kafka_code(e), "error_message": e.message}
                                                for u in users]}
    return {"throttle_time": 0, "results": [{"user": user, "error_code": kafka_code(e) if e else 0,
                                             "error_message": e.message if e else None}
                                            for user, e in outcome.items()]}
