"""CreateTopics (19): topics placed by kraft, or on the replicas a request names (``assignments``,
checked as Kafka does: partitions 0, 1, ... in order, the same number of distinct registered nodes
each; INVALID_REPLICA_ASSIGNMENT otherwise, and INVALID_REQUEST with num_partitions or
replication_factor other than -1 beside them), each answered on its own. num_partitions /
replication_factor -1 take cluster.ini's defaults. Topic configs are
checked against ``kraft.topic_config`` (an unknown name or a bad value: INVALID_CONFIG naming it, and
that topic is not created), with validate_only too.

Versions 2-7, as Kafka 3.7: v5+ answers carry the topic's partitions, replication factor and every
config with its value and source (validate_only too: what the topic would have), v5 is flexible,
v7 answers the new topic's id (nil for validate_only, as Kafka).
"""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers._configs import SOURCE_CODES
from kraft.node.kafka.handlers.metadata import NIL
from kraft.state.acls import Operation
from kraft.topic_config import format_value

API_KEY = 19
MIN_VERSION = 2
MAX_VERSION = 7


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    out = []
    for t in request["topics"]:
        res: dict[str, Any] = {"name": t["name"], "topic_id": NIL, "error_code": 0, "error_message": None,
                               "num_partitions": -1, "replication_factor": -1, "configs": None}
        try:
            if not (_auth.cluster(ctx, Operation.CREATE) or _auth.topic(ctx, Operation.CREATE, t["name"])):
                raise errors.TopicAuthorizationFailed(f"CREATE on topic {t['name']!r} is not allowed")
            # Kafka's manual replica assignment: an empty list is none (kraft places the replicas).
            manual = [(a["partition_index"], list(a["broker_ids"])) for a in t.get("assignments") or []] or None
            partitions = t["num_partitions"] if t["num_partitions"] != -1 else None
            rf = t["replication_factor"] if t["replication_factor"] != -1 else None
            configs = {c["name"]: c["value"] for c in t.get("configs") or []}
            if request.get("validate_only"):
                created = ctx.broker.check_topic(t["name"], partitions, rf, configs, assignment=manual)
            else:
                created = await ctx.broker.create_topic(t["name"], partitions, rf, configs, assignment=manual)
            res.update(topic_id=created.topic_uuid, num_partitions=created.partitions,
                       replication_factor=created.replication_factor,
                       configs=[{"name": c.name, "value": format_value(c.value), "read_only": False,
                                 "config_source": SOURCE_CODES[c.source], "is_sensitive": False}
                                for c in ctx.broker.resolve_topic_configs(configs).values()])
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        out.append(res)
    return {"topics": out}
