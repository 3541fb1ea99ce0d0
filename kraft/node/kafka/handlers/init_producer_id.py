"""InitProducerId (22): a producer id from the metadata group for an idempotent Kafka producer (the
same id space as kraft's own producers; epoch 0). Transactional ids are refused: no transactions.

Versions 0-4, as Kafka 3.7: v2 is flexible; v3+ may name the producer's current id and epoch
(KIP-360). Kafka's coordinator, for a producer without a transactional id, always hands out a new
producer id at epoch 0 whatever the request names (an idempotent producer bumps its epoch itself
and asks for a new id only when it must), and so does kraft; a request naming only one of the two
is INVALID_REQUEST, as Kafka answers it.
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext

API_KEY = 22
MIN_VERSION = 0
MAX_VERSION = 4
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("transactional_id") is not None:
        raise errors.InvalidRequest("transactions are not supported")
    named = (request.get("producer_id", NO_PRODUCER_ID) != NO_PRODUCER_ID,
             request.get("producer_epoch", NO_PRODUCER_EPOCH) != NO_PRODUCER_EPOCH)
    if named[0] != named[1]:
        raise errors.InvalidRequest("producer_id and producer_epoch must both be set, or both be -1")
    _auth.require_idempotent_write(ctx)
    answer = await ctx.broker.init_producer_id()
    return {"error_code": 0, "producer_id": answer.producer_id, "producer_epoch": answer.producer_epoch}
