"""fetch: committed batches from each partition's position, long-polled, bounded in bytes.

A request that says ``"columns": true`` (kraft's consumers since batches in columns) gets native
batches as stored; any other gets those in columns converted to rows (``kraft.protocol.batch.as_rows``),
the only layout consumers from before columns read, within the same byte budget (the broker reads
4/5 of it for them: ``FetchRequest.in_rows``).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from kraft.errors import CorruptRecord, TopicAuthorizationFailed
from kraft.node import access
from kraft.node.broker_values import FetchedPartition, FetchRequest, PartitionFetch
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items
from kraft.node.handlers._errors import set_partition_error
from kraft.protocol.batch import MAGIC_COLUMNS, as_rows
from kraft.state.acls import Operation

API = "fetch"
MAX_WAIT_MS = 500  # what a request that names no limit gets
MIN_BYTES = 1
MAX_BYTES = 8 * 1024 * 1024


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(PartitionFetch(field(p, "topic", str), field(p, "partition", int), field(p, "offset", int),
                                 field(p, "max_bytes", int, None))
                  for p in items(body, "partitions"))
    columns = field(body, "columns", bool, False)
    request = FetchRequest(parts, max_wait_ms=field(body, "max_wait_ms", int, MAX_WAIT_MS),
                           min_bytes=field(body, "min_bytes", int, MIN_BYTES),
                           max_bytes=field(body, "max_bytes", int, MAX_BYTES), in_rows=not columns)
    denied = access.topics_denied(ctx, Operation.READ, (p.topic for p in parts))
    if denied:
        request = replace(request, partitions=tuple(p for p in parts if p.topic not in denied))
    read = iter(await ctx.broker.fetch(request) if request.partitions else [])
    fetched = [_denied(p) if p.topic in denied else next(read) for p in parts]
    if not columns and any(batch[0] == MAGIC_COLUMNS for r in fetched for _, batch in r.batches):
        # Milliseconds per megabyte, CPU-bound: on a worker thread the loop serves other clients
        # between the interpreter's switches instead of stopping for the whole answer.
        fetched = await asyncio.get_running_loop().run_in_executor(None, _all_in_rows, fetched)
    return {"partitions": [_answer(r) for r in fetched]}


def _all_in_rows(fetched: list[FetchedPartition]) -> list[FetchedPartition]:
    return [_in_rows(r) for r in fetched]


def _in_rows(r: FetchedPartition) -> FetchedPartition:
    """``r`` with its batches in columns converted to rows; a batch that fails its checksum ends the
    answer there (the partition's error only if it is the first), as a read that met it would."""
    batches: list[tuple[int, bytes]] = []
    for base, batch in r.batches:
        try:
            batches.append((base, as_rows(batch)))
        except CorruptRecord as e:
            return replace(r, batches=batches) if batches else replace(r, batches=(), error=e)
    return replace(r, batches=batches)


def _denied(p: PartitionFetch) -> FetchedPartition:
    return FetchedPartition(p.topic, p.partition, -1, -1, (),
                            TopicAuthorizationFailed(f"READ on topic {p.topic!r} is not allowed"))


def _answer(r: FetchedPartition) -> dict[str, Any]:
    res: dict[str, Any] = {"topic": r.topic, "partition": r.partition, "error_code": 0, "message": "",
                           "high_watermark": r.high_watermark, "log_start_offset": r.log_start_offset,
                           "batches": r.batches}  # (base, bytes) pairs: msgpack arrays, as lists are
    if r.error is not None:
        set_partition_error(res, r.error)
    return res
