"""The short chaos run CI does on every submission (``make chaos DURATION=600`` runs long); the 5-node
run also adds nodes and decommissions them (3 nodes with RF 3 leave no room for that)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.faults.chaos import run, summary, violations

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


@pytest.mark.parametrize("nodes", [3, 5])
def test_short_chaos_run_keeps_every_promise(tmp_path: Path, nodes: int) -> None:
    seed = int(os.environ.get("KRAFT_CHAOS_SEED", time.time()))
    duration = float(os.environ.get("KRAFT_CHAOS_DURATION", "40" if nodes == 3 else "30"))
    result = run(duration, seed, tmp_path, nodes)
    print(summary(result))
    assert result["faults_injected"] > 0
    assert result["consumed"] > 0, "the group workload read nothing"
    if nodes >= 5:  # spares in cluster.ini: the first fault adds one, so the run moves replicas onto it
        assert result["added"], f"no node added: faults {result['faults']}"
    found = violations(result)
    assert not found, f"{summary(result)}; {found}; lost e.g. {result['lost_examples']}; faults {result['faults']}"
