"""ApiVersions (18): the APIs and versions this node implements, from the handler registry.

Only v0 is taken; a client asking with a newer version gets the v0 answer with UNSUPPORTED_VERSION
and the list (KIP-511), and asks again with v0, as every client we tested does.
"""

from __future__ import annotations

from typing import Any

from kraft.node.kafka.context import KafkaContext

API_KEY = 18
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    from kraft.node.kafka.handlers import supported_versions  # the registry imports this module

    return {"error_code": 0, "api_keys": supported_versions()}
