"""What a Kafka-protocol handler is given: the node's services, the client's address, and the facts
of the request header it needs (client id, the API version being answered).

Owns: ``KafkaContext``. Must not: carry the request body (a handler gets that on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.node.context import HandlerContext


@dataclass(frozen=True, slots=True)
class KafkaContext(HandlerContext):
    client_id: str
    version: int
