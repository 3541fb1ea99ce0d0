"""kraft.raft.proposals: pysyncobj's queue interface without a lock (first in, first out; Empty and
Full as pysyncobj expects them), and in place in every RaftGroup."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from kraft.raft.outbox import Refusal
from kraft.raft.proposals import ProposalQueue
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
