"""IncrementalAlterConfigs (44): SET, DELETE, APPEND and SUBTRACT (the last two for list configs:
cleanup.policy) on a topic's configs or a BROKER resource's dynamic configs (``kraft.broker_config``),
checked whole and applied in one metadata entry. Each resource is answered on its own."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.handlers._configs import alter_each
from kraft.topic_config import AlterOp, ConfigChange

API_KEY = 44
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    return await alter_each(ctx, request, lambda r: [_change(c) for c in r["configs"]], replace=False)


def _change(config: dict[str, Any]) -> ConfigChange:
    try:
        op = AlterOp(config["config_operation"])
    except ValueError:
        raise errors.InvalidRequest(f"{config['name']}: unknown config operation {config['config_operation']} "
                                    "(0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT)") from None
    return ConfigChange(config["name"], op, config["value"])
