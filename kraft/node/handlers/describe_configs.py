"""describe_configs: every config of a topic with its value, its source (default, cluster, topic) and
the value it would have without the topic's own, as this node resolves them."""

from __future__ import annotations

from typing import Any

from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field
from kraft.state.acls import Operation

API = "describe_configs"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    topic = field(body, "topic", str)
    access.require_topic(ctx, Operation.DESCRIBE_CONFIGS, topic)
    configs = ctx.broker.describe_configs(topic)
    return {"topic": topic, "configs": [
        {"name": c.name, "value": c.value, "source": c.source.value, "default": c.default}
        for c in configs.values()]}
