"""What a Kafka-protocol handler is given: the node's services, the client's address, the facts
of the request header it needs (client id, the API version being answered), and the Kafka listener's
fetch session cache (Fetch's, KIP-227: it belongs to the Kafka front end, not to the broker).

Owns: ``KafkaContext``. Must not: carry the request body (a handler gets that on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.node.context import HandlerContext
from kraft.node.kafka.fetch_sessions import FetchSessions


@dataclass(frozen=True, slots=True)
class KafkaContext(HandlerContext):
    client_id: str
    version: int
    fetch_sessions: FetchSessions
