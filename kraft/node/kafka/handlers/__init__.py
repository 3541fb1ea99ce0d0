"""The registry of Kafka-protocol handlers: the single list of the Kafka APIs a node answers, and at
which versions. ApiVersions answers from it, so only what is implemented is advertised.

Each handler module has the same shape (``KafkaApi``): ``API_KEY``, ``MIN_VERSION``, ``MAX_VERSION``
and ``async handle(ctx, request) -> response | None``, where request and response are plain dicts
named as in Kafka's message schemas (``kraft.protocol.kafka.codec`` turns them into every version's
bytes) and ``ctx`` is a ``KafkaContext``. Handlers stay thin: they convert Kafka's fields to the
broker's and the group coordinator's typed values (the same calls the native front end makes), and
their answers and errors back (kraft errors to Kafka codes through ``kraft.node.kafka.error_codes``);
they never build native-protocol bodies.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from kraft.node.kafka.context import KafkaContext
from kraft.node.kafka.handlers import (
    alter_configs,
    alter_partition_reassignments,
    alter_user_scram_credentials,
    api_versions,
    consumer_group_describe,
    consumer_group_heartbeat,
    create_acls,
    create_partitions,
    create_topics,
    delete_acls,
    delete_groups,
    delete_records,
    delete_topics,
    describe_acls,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_user_scram_credentials,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
)

Body = dict[str, Any]  # a request or response as kraft.protocol.kafka.codec decodes and encodes it


class KafkaApi(Protocol):
    """What a handler module provides (``handle`` answers None only where Kafka sends no answer)."""

    API_KEY: int
    MIN_VERSION: int
    MAX_VERSION: int

    def handle(self, ctx: KafkaContext, request: Body) -> Awaitable[Body | None]: ...


_APIS: tuple[KafkaApi, ...] = (
    produce, fetch, list_offsets, metadata, offset_commit, offset_fetch, find_coordinator, join_group, heartbeat,
    leave_group, sync_group, describe_groups, list_groups, api_versions, create_topics, delete_topics,
    init_producer_id, describe_configs, alter_configs, incremental_alter_configs,
    delete_records, describe_log_dirs, alter_partition_reassignments, list_partition_reassignments,
    create_partitions, elect_leaders, describe_cluster, offset_for_leader_epoch,
    consumer_group_heartbeat, consumer_group_describe, delete_groups,
    offset_delete, describe_user_scram_credentials, alter_user_scram_credentials,
    describe_acls, create_acls, delete_acls,
)

HANDLERS: dict[int, KafkaApi] = {m.API_KEY: m for m in _APIS}


def supported_versions() -> list[dict[str, int]]:
    return [{"api_key": key, "min_version": m.MIN_VERSION, "max_version": m.MAX_VERSION}
            for key, m in sorted(HANDLERS.items())]
