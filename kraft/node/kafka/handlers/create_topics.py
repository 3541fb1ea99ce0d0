"""CreateTopics (19): topics placed by kraft (manual replica assignments are refused), each answered
on its own. num_partitions / replication_factor -1 take cluster.ini's defaults. Topic configs are
checked against ``kraft.topic_config`` (an unknown name or a bad value: INVALID_CONFIG naming it, and
that topic is not created), with validate_only too."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 19
MIN_VERSION = 2
MAX_VERSION = 3


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    out = []
    for t in request["topics"]:
        res = {"name": t["name"], "error_code": 0, "error_message": None}
        try:
            if t.get("assignments"):
                raise errors.InvalidRequest("manual replica assignment is not supported; kraft places replicas")
            partitions = t["num_partitions"] if t["num_partitions"] != -1 else None
            rf = t["replication_factor"] if t["replication_factor"] != -1 else None
            configs = {c["name"]: c["value"] for c in t.get("configs") or []}
            if request.get("validate_only"):
                if ctx.broker.topic_exists(t["name"]):
                    raise errors.TopicAlreadyExists(f"topic {t['name']!r} already exists")
                ctx.broker.validate_topic_configs(configs)
            else:
                await ctx.broker.create_topic(t["name"], partitions, rf, configs)
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        out.append(res)
    return {"topics": out}
