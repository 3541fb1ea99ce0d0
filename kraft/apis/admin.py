"""``Admin``: topic management and cluster inspection, synchronous and thread-safe.

A thin facade: each call is one coroutine on the client core's loop, wrapped in the core's retry
policy (retriable errors refresh metadata and back off until ``request_timeout_ms``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kraft.errors import KraftError, NotController, UnknownTopicOrPartition

from .client_core import ClientCore, error_from_result
from .types import PartitionInfo, TopicDescription


class Admin:
    def __init__(self, bootstrap: str | list[str], *, request_timeout_ms: int = 30000,
                 connect_timeout_ms: int = 10000, **core_options: Any) -> None:
        self._core = ClientCore(bootstrap, request_timeout_ms=request_timeout_ms,
                                connect_timeout_ms=connect_timeout_ms, name="kraft-admin", **core_options)

    # --- topics -----------------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int | None = None, replication_factor: int | None = None,
                     configs: dict[str, Any] | None = None) -> None:
        """Create ``name``; None partitions/replication_factor take the cluster defaults."""
        body = {"name": name, "partitions": partitions, "replication_factor": replication_factor,
                "configs": dict(configs or {})}
        self._run(self._to_controller("create_topic", body))

    def delete_topic(self, name: str) -> None:
        self._run(self._to_controller("delete_topic", {"name": name}), final=(UnknownTopicOrPartition,))

    def list_topics(self) -> list[str]:
        """Names of every topic, sorted."""
        async def op() -> list[str]:
            return sorted((await self._core.refresh_metadata()).topics)
        return self._run(op)

    def describe_topic(self, name: str) -> TopicDescription:
        """Partitions of ``name`` with leader, replicas and high watermark (0 when leaderless).

        Raises UnknownTopicOrPartition at once if the topic is not in the metadata."""
        return self._run(lambda: self._describe(name), final=(UnknownTopicOrPartition,))

    def node_status(self, node_id: int) -> dict[str, Any]:
        """The raw ``node_status`` answer of one node (peers, Raft groups)."""
        async def op() -> dict[str, Any]:
            await self._core.fresh_metadata()
            return await self._core.request_node(node_id, "node_status", {})
        return self._run(op)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------

    def _run(self, op: Any, final: tuple[type[KraftError], ...] = ()) -> Any:
        """``op`` with the core's retry policy; errors in ``final`` are not retried even if
        retriable (a topic that is not there is an answer for delete/describe, not a glitch)."""
        return self._core.run(self._core.retrying(op, final=final))

    def _to_controller(self, api: str, body: dict[str, Any]) -> Any:
        async def op() -> dict[str, Any]:
            metadata = await self._core.fresh_metadata()
            if metadata.controller is None or metadata.controller not in metadata.nodes:
                return await self._core.request_any(api, body)
            try:
                return await self._core.request_node(metadata.controller, api, body)
            except NotController:
                await self._core.refresh_metadata()
                raise
        return op

    async def _describe(self, name: str) -> TopicDescription:
        metadata = await self._core.refresh_metadata()
        topic = metadata.topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartition(f"topic {name!r} does not exist")
        by_leader: dict[int, list[int]] = defaultdict(list)
        for p in topic.partitions:
            if p.leader is not None:
                by_leader[p.leader].append(p.partition)
        watermarks: dict[int, int] = {}
        for leader, partitions in by_leader.items():
            answer = await self._core.request_node(leader, "list_offsets", {"partitions": [
                {"topic": name, "partition": p, "timestamp": -1} for p in partitions]})
            for result in answer["partitions"]:
                err = error_from_result(result)
                if err is not None:
                    raise err
                watermarks[result["partition"]] = result["offset"]
        return TopicDescription(name, [
            PartitionInfo(p.partition, p.leader, list(p.replicas), watermarks.get(p.partition, 0))
            for p in topic.partitions
        ])
