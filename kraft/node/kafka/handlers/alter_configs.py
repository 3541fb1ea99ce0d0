"""AlterConfigs (33): replaces a topic's configs with the ones given (any other goes back to its
default, as Kafka's non-incremental AlterConfigs does), checked whole and applied in one metadata
entry. Each resource is answered on its own; broker configs are cluster.ini's and cannot change here."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code
from kraft.node.kafka.handlers._configs import BROKER, TOPIC, check_broker, unsupported
from kraft.topic_config import AlterOp, ConfigChange

API_KEY = 33
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    responses = []
    for r in request["resources"]:
        res: dict[str, Any] = {"resource_type": r["resource_type"], "resource_name": r["resource_name"],
                               "error_code": 0, "error_message": None}
        try:
            if r["resource_type"] == TOPIC:
                # A null value sets nothing: the config goes back to its default with the others.
                changes = [ConfigChange(c["name"], AlterOp.SET, c["value"]) for c in r["configs"]
                           if c["value"] is not None]
                await ctx.broker.alter_configs(r["resource_name"], changes, replace=True,
                                               validate_only=bool(request.get("validate_only")))
            elif r["resource_type"] == BROKER:
                check_broker(ctx, r["resource_name"])
                raise errors.InvalidRequest("broker configs are the [cluster] section of cluster.ini: "
                                            "they cannot be changed while nodes run")
            else:
                raise unsupported(r["resource_type"])
        except errors.KraftError as e:
            res["error_code"], res["error_message"] = kafka_code(e), e.message
        responses.append(res)
    return {"throttle_time": 0, "responses": responses}
