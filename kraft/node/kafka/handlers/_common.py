"""What several Kafka handlers share: error codes for kraft errors, and where nodes' Kafka listeners are."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.protocol.kafka.codec import error_code


class CloseConnection(Exception):
    """Raised by a handler whose request must be answered by closing the connection (after the
    answers to the requests before it): a Produce with acks=0 that failed, as Kafka does, since the
    producer gets no answer and would otherwise never learn that it should refresh its metadata."""


def code_of(e: errors.KraftError) -> int:
    return int(error_code(e.code))


def kafka_listeners(broker: Any) -> dict[int, tuple[str, int, str | None]]:
    """Node id -> (host, kafka port, rack) of every node with a Kafka listener: the replicated node
    registry (what each node announced when it started) over this node's cluster.ini."""
    out = {n.id: (n.host, n.kafka_port, n.rack) for n in broker.config.nodes.values() if n.kafka_port}
    for n in broker.replicas.metadata.view.nodes.values():
        if n.kafka_port:
            out[n.id] = (n.host, n.kafka_port, n.rack)
    return out
