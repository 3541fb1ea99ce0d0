"""``Producer``: the public, synchronous, thread-safe facade over accumulator and sender.

``send`` validates a record, picks its partition (keyed: Kafka's murmur2; keyless: sticky per
batch, in the accumulator) and appends it; it returns a ``concurrent.futures.Future`` of
:class:`RecordMetadata`. Its cost per record is the whole budget of the producer's throughput, so
it does no I/O, takes one lock (in the accumulator) and allocates one Future and one tuple.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from kraft.errors import KraftError, RecordTooLarge, RequestTimedOut, UnknownTopicOrPartition
from kraft.partitioner import partition_for_key

from ..client_core import ClientCore
from .accumulator import RecordAccumulator, RecordFuture
from .sender import Sender

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]]

# Bytes a record costs in a batch beyond key, value and headers (msgpack array, timestamp delta,
# length prefixes): an estimate that only has to be close for batch_size to mean something.
_RECORD_OVERHEAD_BYTES = 12
_NO_HEADERS: tuple[tuple[str, bytes], ...] = ()
_ACKS = {"all": -1, -1: -1, "-1": -1, 1: 1, "1": 1, 0: 0, "0": 0}


class Producer:
    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        acks: str | int = "all",
        linger_ms: float = 5,
        batch_size: int = 65536,
        delivery_timeout_ms: int = 120000,
        max_record_bytes: int = 1048576,
        request_timeout_ms: int = 30000,
        max_in_flight: int = 5,
        max_request_bytes: int = 8 * 1024 * 1024,
        buffer_memory_bytes: int = 32 * 1024 * 1024,
        max_block_ms: int = 60000,
        metadata_max_age_ms: int = 30000,
        retry_backoff_ms: int = 50,
        retry_backoff_max_ms: int = 1000,
        connect_timeout_ms: int = 10000,
    ) -> None:
        if acks not in _ACKS:
            raise ValueError(f"acks must be 'all', -1, 1 or 0, got {acks!r}")
        if batch_size <= 0 or max_record_bytes <= 0 or max_in_flight <= 0:
            raise ValueError("batch_size, max_record_bytes and max_in_flight must be positive")
        self._max_record_bytes = max_record_bytes
        self._max_block_s = max_block_ms / 1000
        self._closed = False
        self._core = ClientCore(
            bootstrap,
            request_timeout_ms=request_timeout_ms,
            connect_timeout_ms=connect_timeout_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            retry_backoff_ms=retry_backoff_ms,
            retry_backoff_max_ms=retry_backoff_max_ms,
            name="kraft-producer",
        )
        self._acc = RecordAccumulator(
            batch_size=batch_size,
            linger_ms=linger_ms,
            delivery_timeout_ms=delivery_timeout_ms,
            buffer_memory_bytes=max(buffer_memory_bytes, max_record_bytes),
            wakeup=self._wakeup,
        )
        self._sender = Sender(
            self._core,
            self._acc,
            acks=_ACKS[acks],
            request_timeout_ms=request_timeout_ms,
            max_in_flight=max_in_flight,
            max_request_bytes=max(max_request_bytes, max_record_bytes + 1024),
        )
        self._sender_done = self._core.submit(self._sender.run())

    def _wakeup(self) -> None:
        self._sender.wakeup()

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordFuture:
        """Queue one record; the Future resolves to its :class:`RecordMetadata` or fails with the
        typed kraft error. TypeError (not a failed Future) for a value/key/header of a wrong type."""
        future = RecordFuture(self._acc.futures_condition)
        if self._closed or self._sender.crashed is not None:
            raise RuntimeError(f"producer is closed ({self._sender.crashed or 'close() was called'})")
        size = _RECORD_OVERHEAD_BYTES
        if value is not None:
            if type(value) is not bytes:
                value = _as_bytes(value, "value")
            size += len(value)
        if key is not None:
            if type(key) is not bytes:
                key = _as_bytes(key, "key")
            size += len(key)
        if headers:
            headers = _normalize_headers(headers)
            size += sum(len(k) + len(v) + 2 for k, v in headers)
        else:
            headers = _NO_HEADERS
        if size > self._max_record_bytes:
            future.set_exception(RecordTooLarge(f"record of ~{size} bytes is over max_record_bytes"))
            return future
        num_partitions = self._core.metadata.partition_count(topic)
        if num_partitions is None:
            try:
                num_partitions = self._wait_for_topic(topic)
            except KraftError as exc:
                future.set_exception(exc)
                return future
        if partition is None:
            partition = -1 if key is None else partition_for_key(key, num_partitions)
        elif not 0 <= partition < num_partitions:
            future.set_exception(UnknownTopicOrPartition(
                f"{topic} has {num_partitions} partitions, no partition {partition}"))
            return future
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        record = (timestamp_ms, key, value, headers)
        if not self._acc.append(topic, partition, num_partitions, record, size, future, self._max_block_s):
            future.set_exception(RequestTimedOut(f"no producer buffer memory within {self._max_block_s} s"))
        return future

    def flush(self, timeout_s: float | None = None) -> None:
        """Send everything queued and wait until every record so far is acknowledged or failed."""
        if not self._acc.flush(timeout_s):
            raise RequestTimedOut(f"flush did not finish within {timeout_s} s")

    def partitions_for(self, topic: str) -> list[int]:
        """Partition numbers of ``topic`` (waits for its metadata up to ``max_block_ms``)."""
        n = self._core.metadata.partition_count(topic)
        return list(range(n if n is not None else self._wait_for_topic(topic)))

    def close(self, timeout_s: float | None = None) -> None:
        """Flush, stop the sender and close connections. Records still unsent after ``timeout_s``
        fail with KraftError("producer closed")."""
        if self._closed:
            return
        self._closed = True
        try:
            self._core.call_soon(self._sender.begin_close)
            try:
                self._sender_done.result(timeout_s)
            except TimeoutError:
                self._core.call_soon(self._sender.abort, KraftError("producer closed before delivery"))
                self._sender_done.result(5)
        finally:
            self._core.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_for_topic(self, topic: str) -> int:
        """Block until the metadata knows ``topic`` (refreshing it), up to ``max_block_ms``."""
        async def lookup() -> int:
            metadata = await self._core.refresh_metadata()
            n = metadata.partition_count(topic)
            if n is None:
                raise UnknownTopicOrPartition(f"topic {topic!r} is not in the cluster metadata")
            return n
        return self._core.run(self._core.retrying(lookup, timeout_ms=self._max_block_s * 1000))


def _as_bytes(data: Any, what: str) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"record {what} must be bytes or None, not {type(data).__name__}")


def _normalize_headers(headers: Headers) -> list[tuple[str, bytes]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for item in items:
        name, value = item
        if not isinstance(name, str):
            raise TypeError(f"header name must be str, not {type(name).__name__}")
        out.append((name, value if type(value) is bytes else _as_bytes(value, f"header {name!r}")))
    return out
