"""The journal's in-memory tail is invisible: after any sequence of appends, truncations at a
conflict, discards of the head, snapshots replacing the log, repairs and trims, every read answers
what a journal loaded afresh from the same store answers (the store is the truth)."""

from __future__ import annotations

import random

import pytest

from kraft.log.memory_store import MemoryStore
from kraft.raft import journal as journal_module
from kraft.raft.journal import RaftJournal

GID = 3


def _reads(j: RaftJournal) -> tuple[object, ...]:
    first, last = j.first_index, j.last_index
    by_index = [j.entries_from(i, 1000, 1 << 30) for i in range(max(first, 1), last + 1)] if first else []
    windows = [j.entries_from(i, 3, 300) for i in range(max(first, 1), last + 1)] if first else []
    terms = [j.term_at(i) for i in range(0, last + 2)]
    items = [j[p] for p in range(len(j))]
    return first, last, j.base_index, by_index, windows, terms, items


def _check(j: RaftJournal, store: MemoryStore) -> None:
    assert _reads(j) == _reads(RaftJournal(store, GID))


@pytest.mark.parametrize("seed", range(40))
def test_the_tail_never_answers_other_than_the_store(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "TAIL_MAX_BYTES", 200)  # evictions happen all the time
    rng = random.Random(seed)
    store = MemoryStore(fsync=False)
    j = RaftJournal(store, GID)
    term = 1
    for _ in range(60):
        roll = rng.random()
        last = j.last_index
        if roll < 0.5 or not last:
            for _ in range(rng.randint(1, 4)):
                j.add(bytes([0]) + rng.randbytes(rng.randint(0, 90)), j.last_index + 1, term)
        elif roll < 0.62 and last > j.getRaftCommitIndex() + 1:
            idx = rng.randint(j.getRaftCommitIndex() + 1, last)
            j.arm_truncation(idx)
            j.deleteEntriesFrom(idx - j.first_index)
            term += 1
        elif roll < 0.72:
            j.setRaftCommitIndex(rng.randint(j.getRaftCommitIndex(), last))
            commit = j.getRaftCommitIndex()
            if commit > j.base_index + 1:
                j.discard_before(rng.randint(j.base_index + 1, commit))
        elif roll < 0.77:
            base = last + rng.randint(0, 3)
            j.install_base(base, term)
            j.setRaftCommitIndex(base)
        elif roll < 0.85 and last > j.base_index:
            idx = rng.randint(j.base_index + 1, last)
            command, _, entry_term = j.entries_from(idx, 1, 1 << 30)[0]
            j.rewrite(idx, command, entry_term)
        else:
            j.trim_tail(rng.randint(0, last))
        _check(j, store)
        assert j.tail_bytes <= 200 or len(j._tail) == 1


def test_a_leaders_fresh_entries_are_read_from_memory() -> None:
    store = MemoryStore(fsync=False)
    j = RaftJournal(store, GID)
    for idx in range(1, 6):
        j.add(b"\0" + bytes([idx]) * 10, idx, 1)
    reads: list[bytes] = []
    original = store.scan

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(args[1])
        return original(*args, **kwargs)

    store.scan = counted  # type: ignore[method-assign]
    assert [e[1] for e in j.entries_from(2, 10, 1 << 20)] == [2, 3, 4, 5]
    assert j[2][1] == 3
    assert not reads, "served from the tail"
    j.trim_tail(3)
    assert [e[1] for e in j.entries_from(2, 10, 1 << 20)] == [2, 3, 4, 5]
    assert reads, "entries no one needs any more come from the store"
