"""A simulated node's disk: what survives a crash is what the store committed (with fsync), and an
empty disk is an empty directory. Backed by LMDB on a RAM file system: the node's real store."""

from __future__ import annotations

import shutil
from pathlib import Path

from kraft.log.store import NodeStore

MAP_SIZE_MB = 64


class SimDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.store: NodeStore | None = None

    def open(self) -> NodeStore:
        assert self.store is None
        self.store = NodeStore(self.path, fsync=False, map_size_mb=MAP_SIZE_MB)
        return self.store

    def crash(self) -> None:
        """Everything not committed is gone (every commit is what fsync made durable here)."""
        if self.store is not None:
            self.store.abort()
            self.store.close()
            self.store = None

    def wipe(self) -> None:
        self.crash()
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        self.crash()
