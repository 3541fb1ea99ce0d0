from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft.testing.local_cluster import Cluster


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def cluster1(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 1, rf=1)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def cluster4(tmp_path: Path) -> Iterator[Cluster]:
    """4 nodes, RF 3 by default: room to move a partition to a node that lacks it."""
    c = Cluster(tmp_path, 4)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()

