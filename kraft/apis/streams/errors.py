"""What happens to a record that fails to deserialize, or whose processing raises in user code.

``on_error`` of :class:`~kraft.apis.streams.StreamsApp` is one of:

* ``"stop"`` (default): the app stops with a :class:`StreamsError` naming topic, partition and
  offset. Nothing after the last commit is committed, so a restart retries the record.
* ``"continue"``: log the error with topic/partition/offset and go on with the next record.
* ``DeadLetter("topic")``: send the input record's original key and value bytes to ``topic`` with
  headers ``error``, ``source.topic``, ``source.partition``, ``source.offset``, then go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.apis import ConsumerRecord


class StreamsError(Exception):
    """A Streams app cannot go on: a failed record under the "stop" handler, a topology that does
    not fit the cluster (missing or not co-partitioned input topics), a lost output write."""


class TopologyError(StreamsError):
    """The DSL was used in a way that cannot be run (e.g. a join of streams not co-partitioned)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str


ErrorHandler = str | DeadLetter
STOP = "stop"
CONTINUE = "continue"


def check_handler(handler: ErrorHandler) -> ErrorHandler:
    if handler in (STOP, CONTINUE) or isinstance(handler, DeadLetter):
        return handler
    raise ValueError(f"on_error must be 'stop', 'continue' or DeadLetter(topic), got {handler!r}")


def describe(record: ConsumerRecord) -> str:
    return f"topic {record.topic} partition {record.partition} offset {record.offset}"


def dead_letter_headers(record: ConsumerRecord, exc: BaseException) -> list[tuple[str, bytes]]:
    return [("error", f"{type(exc).__name__}: {exc}".encode()[:1000]),
            ("source.topic", record.topic.encode()),
            ("source.partition", str(record.partition).encode()),
            ("source.offset", str(record.offset).encode())]
