"""AlterConfigs (33): replaces a topic's configs with the ones given (any other goes back to its
default, as Kafka's non-incremental AlterConfigs does), checked whole and applied in one metadata
entry. Each resource is answered on its own. A BROKER resource's dynamic configs (``kraft.broker_config``)
are replaced the same way."""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.handlers._configs import alter_each
from kraft.topic_config import AlterOp, ConfigChange

API_KEY = 33
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    return await alter_each(ctx, request, _changes, replace=True)


def _changes(r: dict[str, Any]) -> list[ConfigChange]:
    # A null value sets nothing: the config goes back to its default with the others.
    return [ConfigChange(c["name"], AlterOp.SET, c["value"]) for c in r["configs"] if c["value"] is not None]
