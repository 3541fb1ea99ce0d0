"""Invariants stay checked under ``python -O`` (which strips ``assert``), and the journal names a broken one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kraft.invariants import InvariantViolation, invariant
from kraft.log.memory_store import MemoryStore
from kraft.log.store import DB_JOURNAL, gid_u64_key
from kraft.raft.journal import RaftJournal


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


def test_a_journal_entry_without_its_row_is_an_invariant_violation() -> None:
    store = MemoryStore(fsync=False)
    journal = RaftJournal(store, 7)
    for idx in (1, 2, 3):
        journal.add(b"\x00cmd", idx, 1)
    store.delete(DB_JOURNAL, gid_u64_key(7, 2))  # lost under the journal: a store bug, never a Raft rule
    journal.trim_tail(3)  # read from the store, not from the journal's in-memory tail
    with pytest.raises(InvariantViolation, match="no row for entry 2"):
        journal[1]
