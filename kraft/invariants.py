"""Invariants that must hold in production, checked in production.

Owns: ``invariant(condition, message)``, which raises ``InvariantViolation`` when a rule the code
relies on is broken (offsets dense, a journal appended in order, committed entries never truncated,
one writer per store). Unlike ``assert`` it is not stripped by ``python -O``: a broken invariant in
the replication path must stop the work (the Raft driver fails stop on it) rather than let a
replica write wrong data. ``assert`` stays only for type narrowing (``x is not None`` for mypy),
where ``-O`` would turn a failure into an AttributeError a line later anyway.
Must not: be used for bad input from clients or peers (that is a ``KraftError`` with a code).
"""

from __future__ import annotations


class InvariantViolation(AssertionError):
    """A rule kraft's own code guarantees was broken: a bug, never bad input."""


def invariant(condition: object, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)
