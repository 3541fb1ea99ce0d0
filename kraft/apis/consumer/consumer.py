"""``Consumer``: the public, synchronous, thread-safe facade over the fetcher.

Manual assignment only for now (``assign`` + ``seek``); consumer groups come later. Every call
runs as one coroutine on the client core's loop thread, which owns all consumer state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..client_core import ClientCore
from ..types import ConsumerRecord, TopicPartition
from .fetcher import EARLIEST, LATEST, Fetcher

_RESETS = ("earliest", "latest", "none")


class Consumer:
    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        group_id: str | None = None,
        auto_offset_reset: str = "earliest",
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        fetch_max_bytes: int = 8 * 1024 * 1024,
        max_partition_fetch_bytes: int = 1024 * 1024,
        max_poll_records: int = 500,
        request_timeout_ms: int = 30000,
        metadata_max_age_ms: int = 30000,
        retry_backoff_ms: int = 50,
        retry_backoff_max_ms: int = 1000,
        connect_timeout_ms: int = 10000,
    ) -> None:
        if group_id is not None:
            raise NotImplementedError("consumer groups are not implemented yet: use group_id=None and assign()")
        if auto_offset_reset not in _RESETS:
            raise ValueError(f"auto_offset_reset must be one of {_RESETS}, got {auto_offset_reset!r}")
        if max_poll_records <= 0:
            raise ValueError("max_poll_records must be positive")
        self._max_poll_records = max_poll_records
        self._request_timeout_ms = request_timeout_ms
        self._closed = False
        self._core = ClientCore(
            bootstrap,
            request_timeout_ms=request_timeout_ms,
            connect_timeout_ms=connect_timeout_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            retry_backoff_ms=retry_backoff_ms,
            retry_backoff_max_ms=retry_backoff_max_ms,
            name="kraft-consumer",
        )
        self._fetcher = Fetcher(
            self._core,
            auto_offset_reset=auto_offset_reset,
            fetch_max_wait_ms=fetch_max_wait_ms,
            fetch_min_bytes=fetch_min_bytes,
            fetch_max_bytes=fetch_max_bytes,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
        )

    # --- assignment and positions -----------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Consume exactly these partitions (replacing any previous assignment)."""
        tps = [TopicPartition(*tp) for tp in partitions]
        self._run(self._fetcher.assign(tps))

    def assignment(self) -> set[TopicPartition]:
        return self._run(self._call(self._fetcher.assignment))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Make the next poll return records of ``tp`` from ``offset``."""
        self._run(self._fetcher.seek(TopicPartition(*tp), offset))

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._run(self._fetcher.seek_to(_tps(partitions), "earliest"))

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._run(self._fetcher.seek_to(_tps(partitions), "latest"))

    def position(self, tp: TopicPartition) -> int:
        """Offset of the next record poll will return for ``tp`` (resolving a pending reset)."""
        return self._run(self._fetcher.position(TopicPartition(*tp), self._request_timeout_ms))

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return self._run(self._fetcher.list_offsets(_tps(partitions) or [], EARLIEST))

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """High watermark (offset of the next record to be written) of each partition."""
        return self._run(self._fetcher.list_offsets(_tps(partitions) or [], LATEST))

    # --- records ----------------------------------------------------------------------------------

    def poll(self, timeout_ms: float = 1000, max_records: int | None = None) -> list[ConsumerRecord]:
        """Records from the assigned partitions, waiting up to ``timeout_ms`` for the first one."""
        return self._run(self._fetcher.poll(timeout_ms, max_records or self._max_poll_records))

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """Blocking iteration over records; ends when the consumer is closed."""
        while not self._closed:
            try:
                records = self.poll(1000)
            except RuntimeError:
                if self._closed:
                    return
                raise
            yield from records

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._core.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------

    def _run(self, coro: Any) -> Any:
        if self._closed:
            coro.close()
            raise RuntimeError("consumer is closed")
        return self._core.run(coro)

    @staticmethod
    async def _call(fn: Any) -> Any:
        return fn()


def _tps(partitions: Iterable[TopicPartition] | None) -> list[TopicPartition] | None:
    return None if partitions is None else [TopicPartition(*tp) for tp in partitions]
