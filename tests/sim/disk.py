"""A simulated node's disk: kraft's in-memory LogStore, which keeps across a crash exactly what was
committed (every commit is what an fsync made durable), and can be wiped (an empty disk)."""

from __future__ import annotations

from kraft.log.memory_store import MemoryStore


class SimDisk:
    def __init__(self) -> None:
        self.store = MemoryStore(fsync=True)

    def open(self) -> MemoryStore:
        return self.store

    def crash(self) -> None:
        """Everything not committed is gone."""
        self.store.crash()

    def wipe(self) -> None:
        self.store.wipe()
