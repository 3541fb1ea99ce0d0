"""AlterConfigs (33): replaces a topic's configs with the ones given (any other goes back to its
default, as Kafka's non-incremental AlterConfigs does), checked whole and applied in one metadata
entry. Each resource is answered on its own; broker configs are cluster.ini's and cannot change here."""

from __future__ import annotations

from typing import Any

from kraft import errors
from kraft.node import access as _auth
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.handlers._configs import alter_each
from kraft.state.acls import Operation
from kraft.topic_config import AlterOp, ConfigChange

API_KEY = 33
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    async def alter(r: dict[str, Any]) -> None:
        if not _auth.topic(ctx, Operation.ALTER_CONFIGS, r["resource_name"]):
            raise errors.TopicAuthorizationFailed(f"ALTER_CONFIGS on topic {r['resource_name']!r} is not allowed")
        # A null value sets nothing: the config goes back to its default with the others.
        changes = [ConfigChange(c["name"], AlterOp.SET, c["value"]) for c in r["configs"] if c["value"] is not None]
        await ctx.broker.alter_configs(r["resource_name"], changes, replace=True,
                                       validate_only=bool(request.get("validate_only")))

    return await alter_each(ctx, request, alter)
