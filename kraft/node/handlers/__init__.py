"""The registry of native request handlers: the single list of what a node answers.

Each handler module has the same shape: read and validate the body (raise a KraftError early),
call the broker, return the response body. ``api_versions`` answers from this registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kraft.node.handlers import (
    api_versions,
    create_topic,
    debug_faults,
    delete_topic,
    describe_group,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    node_status,
    offset_commit,
    offset_fetch,
    produce,
    sync_group,
)

Handler = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]

HANDLERS: dict[str, Handler] = {
    m.API: m.handle
    for m in (api_versions, metadata, create_topic, delete_topic, produce, fetch, list_offsets, node_status,
              find_coordinator, join_group, sync_group, heartbeat, leave_group, offset_commit, offset_fetch,
              list_groups, describe_group, init_producer_id, debug_faults)
}
