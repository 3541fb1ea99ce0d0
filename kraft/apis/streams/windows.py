"""Window definitions on event time: which windows a record timestamp falls into, and when a
window closes (its end plus the grace period, measured in stream time).

Pure value objects; the processors in :mod:`.processors` use them. Times are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

DEFAULT_GRACE_MS = 0


class Windowed(NamedTuple):
    """The key of a windowed aggregate: the record key and the window [start_ms, end_ms)."""

    key: Any
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class TimeWindows:
    """Tumbling windows of ``size_ms`` (or hopping ones with :meth:`advance_by`), aligned to the
    epoch: window starts are multiples of ``advance_ms``; a window is [start, start + size)."""

    size_ms: int
    grace_ms: int = DEFAULT_GRACE_MS
    advance_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ValueError("size_ms must be positive")
        if self.grace_ms < 0:
            raise ValueError("grace_ms must be >= 0")
        if self.advance_ms == 0:
            object.__setattr__(self, "advance_ms", self.size_ms)
        if not 0 < self.advance_ms <= self.size_ms:
            raise ValueError("advance_ms must be in (0, size_ms]")

    @classmethod
    def of(cls, size_ms: int, grace_ms: int = DEFAULT_GRACE_MS) -> TimeWindows:
        return cls(size_ms, grace_ms)

    def advance_by(self, advance_ms: int) -> TimeWindows:
        """Hopping windows: a new window starts every ``advance_ms``."""
        return replace(self, advance_ms=advance_ms)

    def grace(self, grace_ms: int) -> TimeWindows:
        return replace(self, grace_ms=grace_ms)

    def window_starts(self, ts: int) -> list[int]:
        """Starts of every window containing ``ts``, oldest first."""
        starts = []
        start = ts - ts % self.advance_ms
        while start >= 0 and start + self.size_ms > ts:
            starts.append(start)
            start -= self.advance_ms
        starts.reverse()
        return starts


@dataclass(frozen=True, slots=True)
class SlidingWindows:
    """Kafka's sliding windows: every distinct window [start, start + time_difference_ms]
    (both ends inclusive) that a change in its set of records can produce."""

    time_difference_ms: int
    grace_ms: int = DEFAULT_GRACE_MS

    def __post_init__(self) -> None:
        if self.time_difference_ms <= 0 or self.grace_ms < 0:
            raise ValueError("time_difference_ms must be positive and grace_ms >= 0")

    @classmethod
    def of(cls, time_difference_ms: int, grace_ms: int = DEFAULT_GRACE_MS) -> SlidingWindows:
        return cls(time_difference_ms, grace_ms)

    @property
    def size_ms(self) -> int:
        return self.time_difference_ms


@dataclass(frozen=True, slots=True)
class SessionWindows:
    """Sessions per key: records closer than ``gap_ms`` to each other belong to one session."""

    gap_ms: int
    grace_ms: int = DEFAULT_GRACE_MS

    def __post_init__(self) -> None:
        if self.gap_ms <= 0 or self.grace_ms < 0:
            raise ValueError("gap_ms must be positive and grace_ms >= 0")

    @classmethod
    def with_inactivity_gap(cls, gap_ms: int, grace_ms: int = DEFAULT_GRACE_MS) -> SessionWindows:
        return cls(gap_ms, grace_ms)


@dataclass(frozen=True, slots=True)
class JoinWindows:
    """Two records join when their timestamps differ by at most ``before_ms`` (other side earlier)
    or ``after_ms`` (other side later); ``of`` makes both ``time_difference_ms``."""

    before_ms: int
    after_ms: int
    grace_ms: int = DEFAULT_GRACE_MS

    def __post_init__(self) -> None:
        if self.before_ms < 0 or self.after_ms < 0 or self.grace_ms < 0:
            raise ValueError("join window bounds and grace_ms must be >= 0")

    @classmethod
    def of(cls, time_difference_ms: int, grace_ms: int = DEFAULT_GRACE_MS) -> JoinWindows:
        return cls(time_difference_ms, time_difference_ms, grace_ms)

    def before(self, ms: int) -> JoinWindows:
        return replace(self, before_ms=ms)

    def after(self, ms: int) -> JoinWindows:
        return replace(self, after_ms=ms)

    @property
    def retention_ms(self) -> int:
        return self.before_ms + self.after_ms + self.grace_ms


class Suppressed(NamedTuple):
    """``suppress(Suppressed.until_window_closes())``: one final result per window, when stream
    time passes the window's end plus its grace period."""

    mode: str

    @classmethod
    def until_window_closes(cls) -> Suppressed:
        return cls("until_window_closes")


until_window_closes = Suppressed.until_window_closes()
