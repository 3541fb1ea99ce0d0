"""The short chaos run CI does on every submission (``make chaos DURATION=600`` runs long)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.faults.chaos import run, summary

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_short_chaos_run_loses_nothing_and_replicas_agree(tmp_path: Path) -> None:
    seed = int(os.environ.get("KRAFT_CHAOS_SEED", time.time()))
    duration = float(os.environ.get("KRAFT_CHAOS_DURATION", "45"))
    result = run(duration, seed, tmp_path)
    print(summary(result))
    assert result["faults_injected"] > 0
    assert result["lost"] == 0, f"{summary(result)}; lost e.g. {result['lost_examples']}; faults {result['faults']}"
    assert result["divergent_replicas"] == 0, f"{summary(result)}; faults {result['faults']}"
