"""The simulator's network: messages between nodes in flight on simulated time, and the faults the
seed injects into it (loss, duplication, reordering by jitter, delay, cuts in one or both directions).

A connection between two nodes is up while both run and nothing cuts it; when it goes down, what was
in flight on it is lost (as a closed TCP connection loses its buffers) and both nodes are told, as
the RaftHost tells its groups. A one-way cut leaves the connection up until the deaf side's silence
timer (``peer_timeout_s``) closes it, as the real host's would.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

import msgpack


@dataclass(order=True)
class InFlight:
    at: float
    seq: int
    src: int = field(compare=False)
    dst: int = field(compare=False)
    epoch: int = field(compare=False)
    frame: bytes = field(compare=False)


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class SimNetwork:
    def __init__(self, rng: random.Random, latency_s: tuple[float, float] = (0.0002, 0.002)) -> None:
        self.rng = rng
        self.latency_s = latency_s
        self.loss = 0.0
        self.duplicate = 0.0
        self.jitter_s = 0.0  # > 0 reorders: each message gets its own extra delay up to this
        self.delay_s = 0.0  # a slow link: the same extra delay for everything (order kept)
        self.cut_both: set[tuple[int, int]] = set()  # unordered pairs
        self.cut_one_way: dict[tuple[int, int], float] = {}  # (src, dst) -> since when
        self.epochs: dict[tuple[int, int], int] = {}  # per unordered pair: bumped when the link drops
        self._queue: list[InFlight] = []
        self._seq = 0
        self.sent = 0
        self.dropped = 0

    def heal(self) -> None:
        self.loss = self.duplicate = self.jitter_s = self.delay_s = 0.0
        self.cut_both.clear()
        self.cut_one_way.clear()

    def link_dropped(self, a: int, b: int) -> None:
        key = pair(a, b)
        self.epochs[key] = self.epochs.get(key, 0) + 1

    def send(self, now: float, src: int, dst: int, gid: int, message: dict[str, Any]) -> None:
        self.sent += 1
        if (src, dst) in self.cut_one_way or self.rng.random() < self.loss:
            self.dropped += 1
            return
        frame = msgpack.packb([gid, message], use_bin_type=True)
        epoch = self.epochs.get(pair(src, dst), 0)
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            low, high = self.latency_s
            at = now + self.delay_s + low + (high - low) * self.rng.random()
            if self.jitter_s:
                at += self.jitter_s * self.rng.random()
            self._seq += 1
            heapq.heappush(self._queue, InFlight(at, self._seq, src, dst, epoch, frame))

    def next_at(self) -> float | None:
        return self._queue[0].at if self._queue else None

    def due(self, now: float) -> list[tuple[int, int, int, dict[str, Any]]]:
        """Messages whose time has come, as (src, dst, gid, message); those of dropped links vanish."""
        out = []
        while self._queue and self._queue[0].at <= now:
            m = heapq.heappop(self._queue)
            if self.epochs.get(pair(m.src, m.dst), 0) != m.epoch:
                continue
            gid, message = msgpack.unpackb(m.frame, raw=False, strict_map_key=False)
            out.append((m.src, m.dst, gid, message))
        return out
