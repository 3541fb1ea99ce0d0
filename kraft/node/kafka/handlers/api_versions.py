"""ApiVersions (18): the APIs and versions this node implements, from the handler registry.

Versions 0-3, as Kafka 3.7. v3 (a flexible request, KIP-511) carries the client's software name and
version: as Kafka, a name or version that is not ``[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?``
gets INVALID_REQUEST with an empty list. A client asking with a version above 3 gets the v0 answer
with UNSUPPORTED_VERSION and the list (``kraft.node.kafka.server``), and asks again with one we have.
The answer carries no features (Kafka's ``supported_features``/``finalized_features`` describe
KRaft feature levels such as ``metadata.version``, which kraft does not have).
"""

from __future__ import annotations

import re
from typing import Any

from kraft import errors
from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.error_codes import kafka_code

API_KEY = 18
MIN_VERSION = 0
MAX_VERSION = 3
_SOFTWARE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")  # Kafka's ApiVersionsRequest.isValid


async def handle(ctx: KafkaContext, request: dict[str, Any]) -> dict[str, Any]:
    from kraft.node.kafka.handlers import supported_versions  # the registry imports this module

    if ctx.version >= 3:
        for field in ("client_software_name", "client_software_version"):
            if not _SOFTWARE.fullmatch(request.get(field) or ""):
                return {"error_code": kafka_code(errors.InvalidRequest), "api_keys": []}
    return {"error_code": 0, "api_keys": supported_versions(), "throttle_time": 0}
