"""The registry of Kafka-protocol handlers: the single list of the Kafka APIs a node answers, and at
which versions. ApiVersions answers from it, so only what is implemented is advertised.

Each handler module has the same shape: ``API_KEY``, ``MIN_VERSION``, ``MAX_VERSION`` and
``async handle(ctx, request) -> response | None``, where request and response are plain dicts named
as in Kafka's message schemas (``kraft.protocol.kafka.codec`` turns them into every version's bytes).
Handlers stay thin: they translate to the same broker service the native front end calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kraft.node.broker import Broker
from kraft.node.kafka.handlers import (
    api_versions,
    create_topics,
    delete_topics,
    describe_groups,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    produce,
    sync_group,
)


@dataclass(frozen=True, slots=True)
class Context:
    broker: Broker
    client_host: str
    client_id: str
    version: int


HANDLERS: dict[int, Any] = {
    m.API_KEY: m
    for m in (produce, fetch, list_offsets, metadata, offset_commit, offset_fetch, find_coordinator, join_group,
              heartbeat, leave_group, sync_group, describe_groups, list_groups, api_versions, create_topics,
              delete_topics, init_producer_id)
}


def supported_versions() -> list[dict[str, int]]:
    return [{"api_key": key, "min_version": m.MIN_VERSION, "max_version": m.MAX_VERSION}
            for key, m in sorted(HANDLERS.items())]
