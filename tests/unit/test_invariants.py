"""Invariants stay checked under ``python -O`` (which strips ``assert``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kraft.invariants import InvariantViolation, invariant


def test_a_broken_invariant_raises() -> None:
    invariant(True, "holds")
    with pytest.raises(InvariantViolation, match="offsets dense"):
        invariant(False, "offsets dense")


def test_invariants_survive_optimised_python() -> None:
    code = ("from kraft.invariants import invariant\n"
            "assert False, 'asserts are stripped under -O'\n"
            "invariant(False, 'still checked')\n")
    proc = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "InvariantViolation: still checked" in proc.stderr
