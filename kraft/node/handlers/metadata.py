"""metadata: nodes, topics, partitions, replicas and leaders as this node knows them."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node.handlers._body import field

API = "metadata"


async def handle(broker: Any, body: dict[str, Any]) -> dict[str, Any]:
    topics = field(body, "topics", list, None)
    if topics is not None and not all(isinstance(t, str) for t in topics):
        raise InvalidRequest("topics must be a list of strings")
    return broker.metadata(topics)
