"""metadata: the cluster's id, nodes, topics, partitions, replicas, leaders (with their leader epochs)
and in-sync replicas as this node knows them, and the record batch layout producers are to write
(cluster.ini's ``batch_format``).

With ``allow_auto_topic_creation`` (default false), named topics that do not exist are created with
the cluster's defaults when cluster.ini's ``auto_create_topics`` is on (kraft's Producer asks so, as
Kafka's producers do); such a topic answers LEADER_NOT_AVAILABLE until this node has it.
"""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest, KraftError, TopicAuthorizationFailed
from kraft.node import access
from kraft.node.broker_values import TopicMetadata
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.node.handlers._errors import wire_code
from kraft.state.acls import Operation

API = "metadata"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    topics = field(body, "topics", list, None)
    if topics is not None and not all(isinstance(t, str) for t in topics):
        raise InvalidRequest("topics must be a list of strings")
    not_yet: dict[str, KraftError] = {}
    denied: list[str] = []
    if topics is None:
        if ctx.broker.acls():  # every topic this client may describe, as Kafka's answer
            topics = [t for t in ctx.broker.topic_names() if access.topic(ctx, Operation.DESCRIBE, t)]
    else:
        denied = [t for t in topics if not access.topic(ctx, Operation.DESCRIBE, t)]
        topics = [t for t in topics if t not in denied]
    if topics and field(body, "allow_auto_topic_creation", bool, False):
        missing = [t for t in topics if not ctx.broker.topic_exists(t)]
        for t in missing:
            try:
                access.require_create_topic(ctx, t)
            except KraftError as e:
                not_yet[t] = e
        not_yet.update(await ctx.broker.auto_create_topics([t for t in missing if t not in not_yet]))
    meta = ctx.broker.metadata(topics)
    unauthorized = TopicAuthorizationFailed("DESCRIBE on the topic is not allowed")
    return {"cluster_id": meta.cluster_id,
            "nodes": [{"id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack, "http_port": n.http_port}
                      for n in meta.nodes],
            "controller": meta.controller, "topics": [_topic(t, not_yet) for t in meta.topics] + [
                {"name": t, "error_code": wire_code(unauthorized), "partitions": []} for t in denied],
            "metadata_voters": list(meta.metadata_voters), "metadata_learners": list(meta.metadata_learners),
            "batch_format": meta.batch_format}


def _topic(t: TopicMetadata, not_yet: dict[str, KraftError]) -> dict[str, Any]:
    error = not_yet.get(t.name, t.error) if t.error is not None else None
    return {"name": t.name, "error_code": 0 if error is None else wire_code(error),
            "partitions": [{"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas),
                            "leader_epoch": p.leader_epoch, "isr": list(p.isr)}
                           for p in t.partitions]}
