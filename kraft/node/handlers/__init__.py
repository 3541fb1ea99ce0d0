"""The registry of native request handlers: the single list of what a node answers.

Each handler module has the same shape (``NativeApi``): ``API`` and ``async handle(ctx, body)``,
which reads and validates the body (raising a KraftError early), converts it to the broker's or the
group coordinator's typed values, calls them through ``ctx`` (a ``HandlerContext``), and converts the
answer back to the response body. Errors leave as ``kraft.node.handlers._errors`` puts them on the
wire. ``api_versions`` answers from this registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kraft.node.context import HandlerContext
from kraft.node.handlers import (
    alter_configs,
    api_versions,
    create_acls,
    create_partitions,
    create_topic,
    debug_faults,
    decommission_node,
    delete_acls,
    delete_records,
    delete_topic,
    describe_acls,
    describe_configs,
    describe_group,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_reassignments,
    metadata,
    node_status,
    offset_commit,
    offset_fetch,
    plan_rebalance,
    produce,
    reassign_partitions,
    sync_group,
)

Body = dict[str, Any]  # a request or response body as msgpack decodes and encodes it
Handler = Callable[[HandlerContext, Body], Awaitable[Body]]


class NativeApi(Protocol):
    """What a handler module provides."""

    API: str

    def handle(self, ctx: HandlerContext, body: Body) -> Awaitable[Body]: ...


_APIS: tuple[NativeApi, ...] = (
    api_versions, metadata, create_topic, delete_topic, produce, fetch, list_offsets, node_status, find_coordinator,
    join_group, sync_group, heartbeat, leave_group, offset_commit, offset_fetch, list_groups, describe_group,
    init_producer_id, debug_faults, describe_configs, alter_configs,
    delete_records, reassign_partitions, list_reassignments, create_partitions, elect_leaders,
    plan_rebalance, decommission_node, describe_acls, create_acls, delete_acls,
)

HANDLERS: dict[str, Handler] = {m.API: m.handle for m in _APIS}
