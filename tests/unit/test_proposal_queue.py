"""kraft.raft.proposals: pysyncobj's queue interface without a lock (first in, first out; Empty and
Full as pysyncobj expects them), in place in every RaftGroup, and the joining of queued proposals
(which ones join, and each proposer's share of the joined entry's result)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from kraft.raft.outbox import Refusal
from kraft.raft.proposals import ProposalQueue
from kraft.state.produce_sets import ProduceSets
from tests.unit.test_raft_replication import Sim


def test_first_in_first_out_then_empty() -> None:
    q = ProposalQueue(0)
    for item in ("a", "b", "c"):
        q.put_nowait(item)
    assert len(q) == 3
    assert [q.get_nowait() for _ in range(3)] == ["a", "b", "c"]
    with pytest.raises(queue.Empty):
        q.get_nowait()


def test_the_bound_refuses_as_pysyncobj_expects() -> None:
    q = ProposalQueue(2)
    q.put_nowait(1)
    q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    assert q.get_nowait() == 1
    q.put_nowait(3)
    assert [q.get_nowait(), q.get_nowait()] == [2, 3]


def test_a_producer_thread_and_a_consumer_lose_nothing_and_keep_order() -> None:
    q = ProposalQueue(0)
    n = 50_000
    got: list[int] = []

    def produce() -> None:
        for i in range(n):
            q.put_nowait(i)

    producer = threading.Thread(target=produce)
    producer.start()
    while len(got) < n:
        try:
            got.append(q.get_nowait())
        except queue.Empty:
            if not producer.is_alive() and len(q) == 0:
                break
    producer.join(timeout=30)
    assert got == list(range(n))


def test_every_group_uses_it_and_a_refused_proposal_is_queue_full(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    try:
        group = sim.groups[1]
        assert isinstance(group._SyncObj__commandsQueue, ProposalQueue)
        group._SyncObj__commandsQueue.max_size = 1
        outcomes: list[object] = []
        group.submit(b"a", outcomes.append)
        group.submit(b"b", outcomes.append)  # over the bound: refused at once
        sim.outbox.release()
        assert [getattr(o, "reason", None) for o in outcomes] == [Refusal.QUEUE_FULL]
    finally:
        sim.close()


# --- joining ------------------------------------------------------------------------------------
class Joiner:
    """Joins commands starting with b"j" with b"+"; a proposer's share is (result, its position)."""

    def __init__(self, max_bytes: int = 100, enabled: bool = True) -> None:
        self.max_bytes = max_bytes
        self.on = enabled

    def enabled(self) -> bool:
        return self.on

    def joinable(self, command: bytes) -> bool:
        return command.startswith(b"j")

    def join(self, commands: Sequence[bytes]) -> tuple[bytes, Callable[[Any], list[Any]]]:
        return b"+".join(commands), lambda result: [(result, i) for i in range(len(commands))]


def taken(queued: list[tuple[bytes, Any]], joiner: Joiner) -> list[bytes]:
    """The commands the driver takes from a queue holding ``queued``, one take after another."""
    q = ProposalQueue(0, joiner)
    for item in queued:
        q.put_nowait(item)
    out = []
    while len(q):
        out.append(q.get_nowait()[0])
    return out


def ok(_result: Any, _reason: int) -> None:
    pass


@pytest.mark.parametrize(("name", "queued", "joiner", "expected"), [
    ("joinable neighbours join, in order", [(b"ja", ok), (b"jb", ok), (b"jc", ok)], Joiner(),
     [b"ja+jb+jc"]),
    ("one alone stays as it is", [(b"ja", ok)], Joiner(), [b"ja"]),
    ("a proposal that does not join ends a run", [(b"ja", ok), (b"x", ok), (b"jb", ok), (b"jc", ok)], Joiner(),
     [b"ja", b"x", b"jb+jc"]),
    ("a proposal passed on by a follower never joins", [(b"ja", ok), (b"jb", (2, 7)), (b"jc", ok)], Joiner(),
     [b"ja", b"jb", b"jc"]),
    ("up to max_bytes", [(b"j" * 40, ok), (b"j" * 40, ok), (b"j" * 40, ok)], Joiner(max_bytes=100),
     [b"j" * 40 + b"+" + b"j" * 40, b"j" * 40]),
    ("not while disabled (a node that cannot read them)", [(b"ja", ok), (b"jb", ok)], Joiner(enabled=False),
     [b"ja", b"jb"]),
    ("acks=0 proposals have no callback and join", [(b"ja", None), (b"jb", ok)], Joiner(), [b"ja+jb"]),
])
def test_which_queued_proposals_join(name: str, queued: list[tuple[bytes, Any]], joiner: Joiner,
                                     expected: list[bytes]) -> None:
    assert taken(queued, joiner) == expected, name


def test_each_proposer_gets_its_share_and_the_reason() -> None:
    got: list[tuple[str, Any, int]] = []
    q = ProposalQueue(0, Joiner())
    for name in ("a", "b", "c"):
        q.put_nowait((b"j" + name.encode(), lambda result, reason, name=name: got.append((name, result, reason))))
    q.put_nowait((b"jd", None))
    _command, callback = q.get_nowait()
    callback("r", 0)
    assert got == [("a", ("r", 0), 0), ("b", ("r", 1), 0), ("c", ("r", 2), 0)]
    got.clear()
    callback(None, 3)  # refused (not leader, ...): no result to split, every proposer is told
    assert got == [("a", None, 3), ("b", None, 3), ("c", None, 3)]


@pytest.mark.parametrize(("result", "shares"), [
    ((0, 100), [(0, 100), (0, 102), (0, 105)]),
    ((45, -1), [(45, -1)] * 3),  # an error: every proposer gets it as it is
])
def test_a_produce_sets_share_is_its_batchs_first_offset(result: tuple[int, int],
                                                         shares: list[tuple[int, int]]) -> None:
    from tests.unit.test_log_entry import kafka_command

    _command, split = ProduceSets(1 << 20, lambda: True).join([kafka_command(1, 2), kafka_command(5, 3),
                                                               kafka_command(9, 1)])
    assert split(result) == shares
