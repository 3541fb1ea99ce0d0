"""IncrementalAlterConfigs (44): SET, DELETE, APPEND and SUBTRACT (the last two for list configs:
cleanup.policy) on a topic's configs, checked whole and applied in one metadata entry. Each resource
is answered on its own; broker configs are cluster.ini's and cannot change here."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.handlers._configs import alter_each
from kraft.state.acls import Operation
from kraft.topic_config import AlterOp, ConfigChange

API_KEY = 44
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    async def alter(r: dict[str, Any]) -> None:
        if not _auth.topic(ctx, Operation.ALTER_CONFIGS, r["resource_name"]):
            raise errors.TopicAuthorizationFailed(f"ALTER_CONFIGS on topic {r['resource_name']!r} is not allowed")
        await ctx.broker.alter_configs(r["resource_name"], [_change(c) for c in r["configs"]],
                                       validate_only=bool(request.get("validate_only")))

    return await alter_each(ctx, request, alter)


def _change(config: dict[str, Any]) -> ConfigChange:
    try:
        op = AlterOp(config["config_operation"])
    except ValueError:
        raise errors.InvalidRequest(f"{config['name']}: unknown config operation {config['config_operation']} "
                                    "(0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT)") from None
    return ConfigChange(config["name"], op, config["value"])
