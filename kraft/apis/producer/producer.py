"""``Producer``: the public, synchronous, thread-safe facade over accumulator and sender.

``send`` validates a record, picks its partition (keyed: Kafka's murmur2; keyless: sticky per
batch, in the accumulator) and appends it; it returns a ``concurrent.futures.Future`` of
:class:`RecordMetadata`. Its cost per record is the whole budget of the producer's throughput, so
it does no I/O, takes one lock (in the accumulator) and allocates one small Future and one tuple.
Records that fail before they are queued (too large, unknown partition, no buffer memory) get a
plain, already failed ``concurrent.futures.Future``.

Idempotence (``enable_idempotence``, on by default unless ``acks=0``): every batch carries the
producer's id and a per-partition sequence, so a retry after a lost answer is not written twice and
a partition's records keep their order across retries (see :mod:`.sender`). It needs acks=all (1 is
the same on kraft); ``enable_idempotence=True`` with ``acks=0`` is a ValueError.

A topic the producer sends to that the cluster does not have is created with the cluster's defaults
when the cluster's ``auto_create_topics`` is on (``allow_auto_create_topics``, on by default: Kafka's
``allow.auto.create.topics``); ``send`` waits for it up to ``max_block_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from time import time_ns as _time_ns
from typing import Any

from kraft.errors import (
    KraftError,
    RecordTooLarge,
    RequestTimedOut,
    TopicAuthorizationFailed,
    UnknownTopicOrPartition,
)
from kraft.partitioner import murmur2

from ..client_core import ClientCore
from ..types import RecordMetadata
from .accumulator import RecordAccumulator
from .sender import Sender

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]]

# Bytes a record costs in a batch beyond key, value and headers (msgpack array, timestamp delta,
# length prefixes): an estimate that only has to be close for batch_size to mean something.
_RECORD_OVERHEAD_BYTES = 12
_NO_HEADERS: tuple[tuple[str, bytes], ...] = ()
# Batch timestamps are i64 and the body stores each as a delta to the first: bounding them keeps
# every delta inside msgpack's int64 too.
_MAX_TIMESTAMP_MS = 2**62
# Keys whose positive murmur2 hash the producer remembers (at most ~1.5 MB of them).
_KEY_CACHE_ENTRIES = 16384
_CACHED_KEY_MAX_BYTES = 64
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
        enable_idempotence: bool | None = None,
        allow_auto_create_topics: bool = True,
    ) -> None:
        """``enable_idempotence``: None (default) means on, except with ``acks=0`` (no answer to
        retry from, as in Kafka when the setting is not given); True with ``acks=0`` is an error.
        ``allow_auto_create_topics``: a topic that does not exist is created on first use, where
        the cluster allows it (its ``auto_create_topics``); else sending to it fails."""
        if acks not in _ACKS:
            raise ValueError(f"acks must be 'all', -1, 1 or 0, got {acks!r}")
        if enable_idempotence is None:
            enable_idempotence = _ACKS[acks] != 0
        elif enable_idempotence and _ACKS[acks] == 0:
            raise ValueError("enable_idempotence=True needs acks='all' (acks=0 gets no answer to retry from)")
        self.enable_idempotence = bool(enable_idempotence)
        if batch_size <= 0 or max_record_bytes <= 0 or max_in_flight <= 0:
            raise ValueError("batch_size, max_record_bytes and max_in_flight must be positive")
        self._max_record_bytes = max_record_bytes
        self._max_block_s = max_block_ms / 1000
        self._auto_create = allow_auto_create_topics
        self._closed = False
        self._key_hashes: dict[bytes, int] = {}
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
            shared_time_base=self.enable_idempotence,
        )
        self._sender = Sender(
            self._core,
            self._acc,
            acks=_ACKS[acks],
            request_timeout_ms=request_timeout_ms,
            max_in_flight=max_in_flight,
            max_request_bytes=max(max_request_bytes, max_record_bytes + 1024),
            idempotent=self.enable_idempotence,
            max_batch_bytes=max(batch_size, max_record_bytes),
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
    ) -> Future[RecordMetadata]:
        """Queue one record; the Future resolves to its :class:`RecordMetadata` or fails with the
        typed kraft error. TypeError (not a failed Future) for a value/key/header/timestamp of a
        wrong type, ValueError for a negative or absurd timestamp."""
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
            return _failed(RecordTooLarge(f"record of ~{size} bytes is over max_record_bytes"))
        num_partitions = self._core.metadata.partition_count(topic)
        if num_partitions is None:
            try:
                num_partitions = self._wait_for_topic(topic)
            except KraftError as exc:
                return _failed(exc)
        if partition is None:
            if key is None:
                partition = -1  # sticky, chosen by the accumulator
            else:
                # partition_for_key, with murmur2 (pure Python, ~as costly as the rest of send)
                # cached for short keys: keyed workloads mostly repeat their keys.
                h = self._key_hashes.get(key)
                if h is None:
                    h = murmur2(key) & 0x7FFFFFFF
                    if len(key) <= _CACHED_KEY_MAX_BYTES:
                        if len(self._key_hashes) >= _KEY_CACHE_ENTRIES:
                            self._key_hashes.clear()
                        self._key_hashes[key] = h
                partition = h % num_partitions
        elif not 0 <= partition < num_partitions:
            return _failed(UnknownTopicOrPartition(
                f"{topic} has {num_partitions} partitions, no partition {partition}"))
        timestamp_ms = _time_ns() // 1_000_000 if timestamp_ms is None else _checked_timestamp(timestamp_ms)
        future = self._acc.append(topic, partition, num_partitions, timestamp_ms, key, value, headers, size,
                                  self._max_block_s)
        if future is None:
            return _failed(RequestTimedOut(f"no producer buffer memory within {self._max_block_s} s"))
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
            # A metadata request for the topic, allowing its creation if so configured (Kafka's
            # producers send one too); the node answers LEADER_NOT_AVAILABLE while it creates it,
            # and TOPIC_AUTHORIZATION_FAILED, final, where an ACL denies it.
            answer = await self._core.request_any(
                "metadata", {"topics": [topic], "allow_auto_topic_creation": self._auto_create})
            denied = TopicAuthorizationFailed.code
            for t in answer.get("topics") or ():
                if isinstance(t, dict) and t.get("name") == topic and t.get("error_code") == denied:
                    raise TopicAuthorizationFailed(f"topic {topic!r}: an ACL denies this client")
            metadata = await self._core.refresh_metadata()
            n = metadata.partition_count(topic)
            if n is None:
                raise UnknownTopicOrPartition(f"topic {topic!r} is not in the cluster metadata")
            return n
        return self._core.run(self._core.retrying(lookup, timeout_ms=self._max_block_s * 1000))


def _failed(exc: BaseException) -> Future[RecordMetadata]:
    future: Future[RecordMetadata] = Future()
    future.set_exception(exc)
    return future


def _checked_timestamp(timestamp_ms: Any) -> int:
    if not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool):
        raise TypeError(f"record timestamp_ms must be an int or None, not {type(timestamp_ms).__name__}")
    if not 0 <= timestamp_ms < _MAX_TIMESTAMP_MS:
        raise ValueError(f"record timestamp_ms {timestamp_ms} is not between 0 and 2**62")
    return int(timestamp_ms)


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
