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
