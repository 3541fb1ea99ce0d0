"""The connector API: what a source or sink connector implements, and the records they exchange.

A *connector* is the configured unit (one ``[[connector]]`` of connectors.toml): it declares its
fields and splits its work into task configs. A *task* does the moving: a ``SourceTask`` polls
records out of another system, each tagged with a source partition and a source offset (where to
resume); a ``SinkTask`` is handed batches of records read from kraft topics and must make them
durable in ``flush``. The worker (``worker.py``) owns threads, retries, offsets and status; this
module owns only the contracts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .fields import Field

SourcePartition = dict[str, Any]
SourceOffset = dict[str, Any]


@dataclass(slots=True)
class SourceRecord:
    """A record a source task wants written to ``topic``.

    ``source_partition`` names the stream it came from (a file, a database) and ``source_offset``
    is the position *after* this record in it: once the record is acknowledged by kraft, the
    worker stores the offset, and a restarted task resumes from it (JSON-serialisable dicts)."""

    source_partition: SourcePartition
    source_offset: SourceOffset
    topic: str
    value: Any
    key: Any = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = None


@dataclass(slots=True)
class SinkRecord:
    """A record read from kraft and handed to a sink task. ``key`` and ``value`` are bytes as
    stored (sinks decode them; change events are JSON, see envelope.py)."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp_ms: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class SourceTaskContext:
    """What the worker gives a source task: the last committed offset of each source partition."""

    def __init__(self, reader: Callable[[SourcePartition], SourceOffset | None]) -> None:
        self._reader = reader

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        """The stored offset of ``partition`` (None when the connector never committed one)."""
        return self._reader(partition)


class Task:
    def start(self, config: Mapping[str, Any]) -> None:
        """Open connections and resume. Raising here counts as a task failure (retried)."""

    def stop(self) -> None:
        """Release resources; called once, also after a failure. Must not raise."""


class SourceTask(Task):
    context: SourceTaskContext

    def poll(self) -> list[SourceRecord]:
        """The next records, or [] when there is nothing new (the worker then waits
        ``poll_interval_ms`` before asking again). Raise to fail the task."""
        raise NotImplementedError

    def commit(self, offsets: Mapping[str, SourceOffset]) -> None:
        """Every record polled so far is acknowledged by kraft and ``offsets`` (keyed by the
        JSON of the source partition) are stored: the source may now forget that data."""


class SinkTask(Task):
    def put(self, records: list[SinkRecord]) -> None:
        """Write a batch (in the order read, per partition). May buffer until ``flush``."""
        raise NotImplementedError

    def flush(self) -> None:
        """Make everything ``put`` so far durable; after it returns the worker commits the
        consumer positions. Raise to have the batch re-delivered (after a restart with backoff)."""


class Connector:
    """A configured connector. Subclasses declare ``fields`` and ``task_class``."""

    fields: ClassVar[tuple[Field, ...]] = ()
    task_class: ClassVar[type[Task]]

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        self.name = name
        self.config = dict(config)

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> str | None:
        """A problem between fields that are each valid alone (message starting with the field's
        name, e.g. ``"field 'x': ..."``), or None. Called after the fields are validated."""
        return None

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        """One config per task to run (at most ``max_tasks``); by default a single task."""
        return [dict(self.config)]

    def topics(self) -> list[str]:
        """Topics a source writes to, known up front (the worker creates the missing ones)."""
        return []


class SourceConnector(Connector):
    task_class: ClassVar[type[SourceTask]]


class SinkConnector(Connector):
    task_class: ClassVar[type[SinkTask]]

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        """``max_tasks`` identical tasks: members of one consumer group, they split the partitions."""
        return [dict(self.config) for _ in range(max_tasks)]

    def topics(self) -> list[str]:
        return list(self.config.get("topics", []))
