"""metadata: the cluster's id, nodes, topics, partitions, replicas and leaders as this node knows them."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node.broker_values import TopicMetadata
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.node.handlers._errors import wire_code

API = "metadata"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    topics = field(body, "topics", list, None)
    if topics is not None and not all(isinstance(t, str) for t in topics):
        raise InvalidRequest("topics must be a list of strings")
    meta = ctx.broker.metadata(topics)
    return {"cluster_id": meta.cluster_id,
            "nodes": [{"id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack} for n in meta.nodes],
            "controller": meta.controller, "topics": [_topic(t) for t in meta.topics],
            "metadata_voters": list(meta.metadata_voters), "metadata_learners": list(meta.metadata_learners)}


def _topic(t: TopicMetadata) -> dict[str, Any]:
    return {"name": t.name, "error_code": 0 if t.error is None else wire_code(t.error),
            "partitions": [{"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas)}
                           for p in t.partitions]}
