"""alter_configs: set and delete a topic's configs in one metadata entry, all checked first (one bad
key refuses the whole request with INVALID_CONFIG, naming it); ``validate_only`` stops after the check."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation
from kraft.topic_config import AlterOp, ConfigChange

API = "alter_configs"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    topic = field(body, "topic", str)
    access.require_topic(ctx, Operation.ALTER_CONFIGS, topic)
    values: dict[Any, Any] = field(body, "set", dict, {})
    delete: list[Any] = field(body, "delete", list, [])
    if not all(isinstance(k, str) for k in values) or not all(isinstance(k, str) for k in delete):
        raise InvalidRequest("config names must be strings")
    changes = [ConfigChange(name, AlterOp.SET, value) for name, value in values.items()]
    changes += [ConfigChange(name, AlterOp.DELETE) for name in delete]
    await ctx.broker.alter_configs(topic, changes, validate_only=field(body, "validate_only", bool, False))
    return {}
