"""Events the Raft layer owes the rest of the node, held until the fsync that covers them.

Owns: the rule that nothing a driver-loop iteration caused (a proposal's outcome, "these partitions
got new records") is seen outside the driver before that iteration's store commit: an answer to a
client must never get ahead of the disk. Every proposal's callback goes through here (``RaftGroup``
routes it), so no proposer can forget the rule; and pysyncobj's ``FAIL_REASON`` is translated here
into kraft's own ``Refusal`` so it never leaves ``raft/``.
Must not: know what a command means or who waits for it.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pysyncobj.config import FAIL_REASON

log = logging.getLogger(__name__)


class Refusal(enum.Enum):
    """Why a proposal was not applied (as far as this node can tell)."""

    NOT_LEADER = "not_leader"  # this replica does not lead, or lost leadership before the commit
    NO_LEADER = "no_leader"  # the group has no leader right now
    QUEUE_FULL = "queue_full"  # too many proposals waiting
    UNKNOWN = "unknown"  # the outcome cannot be tracked (it may still commit)


@dataclass(frozen=True)
class Applied:
    """Committed by a majority, applied here, and durable here; ``result`` is the state machine's."""

    result: object


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    detail: str = ""


Outcome = Applied | Refused
OnOutcome = Callable[[Outcome], object]  # what it returns is ignored

_REFUSALS = {
    FAIL_REASON.MISSING_LEADER: Refusal.NO_LEADER,
    FAIL_REASON.NOT_LEADER: Refusal.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED: Refusal.NOT_LEADER,
    FAIL_REASON.DISCARDED: Refusal.NOT_LEADER,
    FAIL_REASON.REQUEST_DENIED: Refusal.NOT_LEADER,
    FAIL_REASON.QUEUE_FULL: Refusal.QUEUE_FULL,
}


def outcome_of(result: object, reason: int) -> Outcome:
    """pysyncobj's ``(result, FAIL_REASON)`` as an Outcome."""
    if reason == FAIL_REASON.SUCCESS:
        return Applied(result)
    return Refused(_REFUSALS.get(reason, Refusal.UNKNOWN), f"raft reason {reason}")


class Outbox:
    """Filled during a driver iteration (and, for immediate refusals, from callers' threads);
    released by the driver right after the iteration's store commit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[tuple[OnOutcome, Outcome]] = []
        self._appended: set[int] = set()
        self._appended_listeners: list[Callable[[set[int]], object]] = []

    def proposal_done(self, callback: OnOutcome, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes.append((callback, outcome))

    def appended(self, gid: int) -> None:
        """Group ``gid`` applied new records (fetchers waiting on it may read once this is durable)."""
        with self._lock:
            self._appended.add(gid)

    def on_appended(self, listener: Callable[[set[int]], object]) -> None:
        self._appended_listeners.append(listener)

    def release(self) -> None:
        """Deliver everything held (the store commit that covers it is done). A failing callback is
        logged and cannot stop the others."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
            appended, self._appended = self._appended, set()
        for callback, outcome in outcomes:
            try:
                callback(outcome)
            except Exception:
                log.exception("proposal callback failed")
        if appended:
            for listener in self._appended_listeners:
                try:
                    listener(appended)
                except Exception:
                    log.exception("appended listener failed")
