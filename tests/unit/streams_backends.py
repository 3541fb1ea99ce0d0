"""Runs the test driver's tests on both store backends: in memory, and LMDB (as the runtime does,
so window, session and join range scans are exercised on LMDB's byte order)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kraft.apis.streams import TopologyTestDriver


def both_backends(module: ModuleType, request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
        return
    created: list[TopologyTestDriver] = []
    counter = itertools.count()

    def make(builder: Any) -> TopologyTestDriver:
        driver = TopologyTestDriver(builder, state_dir=tmp_path / f"driver-{next(counter)}")
        created.append(driver)
        return driver

    monkeypatch.setattr(module, "TopologyTestDriver", make)
    yield "lmdb"
    for driver in created:
        driver.close()
