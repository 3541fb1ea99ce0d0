"""DeleteTopics (20): each topic deleted through the metadata group, each answered on its own.

Versions 1-6, as Kafka 3.7: v4 is flexible, v5 answers an error message, v6 names each topic by
name or by topic id (a topic id no topic has: UNKNOWN_TOPIC_ID; an entry with both or neither:
INVALID_REQUEST, as Kafka) and answers both.
"""

from __future__ import annotations

import uuid
from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers.metadata import NIL
from kraft.state.acls import Operation

API_KEY = 20
MIN_VERSION = 1
MAX_VERSION = 6
BY_ID_FROM = 6  # the version that lists topics as {name, topic_id}


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    if ctx.version >= BY_ID_FROM:
        wanted = [(t.get("name"), t.get("topic_id") or NIL) for t in request["topics"]]
    else:
        wanted = [(name, NIL) for name in request["topic_names"]]
    out = []
    for name, topic_id in wanted:
        res: dict[str, Any] = {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None}
        try:
            res["name"] = name = _name(ctx, name, topic_id)
            if not _auth.topic(ctx, Operation.DELETE, name):
                raise errors.TopicAuthorizationFailed(f"DELETE on topic {name!r} is not allowed")
            res["topic_id"] = ctx.broker.topic_uuid(name) or NIL
            await ctx.broker.delete_topic(name)
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        out.append(res)
    return {"responses": out}


def _name(ctx: KafkaContext, name: str | None, topic_id: uuid.UUID) -> str:
    if (name is None) == (topic_id == NIL):
        raise errors.InvalidRequest("name a topic by its name or by its topic id, not both or neither")
    if name is not None:
        return name
    found = ctx.broker.topic_name(topic_id)
    if found is None:
        raise errors.UnknownTopicId(f"no topic has the id {topic_id}")
    return found
