"""The Raft host's peers (kraft.raft.host): a node that the other's cluster.ini does not list (added
later) connects by dialing the lower id itself and is accepted; ``add_peer`` makes the lower id dial
it; ``remove_peer`` closes the connection and stops dialing. Real sockets on 127.0.0.1, deadlines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kraft.log.memory_store import MemoryStore
from kraft.raft import host as raft_host
from kraft.raft.host import RaftHost
from kraft.testing.local_cluster import free_ports, wait_for

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fast_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raft_host, "DIAL_FALLBACK_S", 0.2)


def started(node_id: int, port: int, peers: dict[int, tuple[str, int]]) -> RaftHost:
    host = RaftHost(node_id, ("127.0.0.1", port), peers, MemoryStore())
    host.start()
    return host


@pytest.fixture
def two_hosts(fast_fallback: None) -> Iterator[tuple[RaftHost, RaftHost]]:
    """Node 1 knows no peer (its cluster.ini predates node 2); node 2 knows node 1."""
    p1, p2 = free_ports(2)
    one = started(1, p1, {})
    two = started(2, p2, {1: ("127.0.0.1", p1)})
    try:
        yield one, two
    finally:
        assert one.stop()
        assert two.stop()


def test_a_node_unknown_to_a_lower_id_connects_to_it(two_hosts: tuple[RaftHost, RaftHost]) -> None:
    one, two = two_hosts
    wait_for(lambda: one.is_connected(2) and two.is_connected(1), 10, "node 2 dialing node 1, accepted")
    assert one.connected_peers() == {}  # connected, but no address to dial it at until it registers


def test_add_peer_then_remove_peer(two_hosts: tuple[RaftHost, RaftHost]) -> None:
    one, two = two_hosts
    wait_for(lambda: one.is_connected(2), 10, "node 2 connected to node 1")
    one.call(lambda: one.add_peer(2, two.bind))
    wait_for(lambda: one.connected_peers() == {2: True}, 10, "node 1 knowing node 2's address")
    # Both forget each other (a node that still dials is accepted again, as any node added later).
    one.call(lambda: one.remove_peer(2))
    two.call(lambda: two.remove_peer(1))
    # ``call`` runs on each host's driver thread: the connection may close (node 1's removal) before
    # node 2's own removal has run, so both are waited for.
    wait_for(lambda: not two.is_connected(1) and not one.is_connected(2)
             and one.connected_peers() == {} and two.connected_peers() == {}, 10,
             "the connection closed and both peers forgotten")


def test_hellos_say_what_each_node_reads(fast_fallback: None) -> None:
    """A node's hello names what its code reads (``reads``); a hello without them (a node from before
    them) reads none, so ``peers_reading`` leaves it out."""
    p1, p2 = free_ports(2)
    one = RaftHost(1, ("127.0.0.1", p1), {2: ("127.0.0.1", p2)}, MemoryStore())
    two = RaftHost(2, ("127.0.0.1", p2), {1: ("127.0.0.1", p1)}, MemoryStore())
    one.reads = ("batch-columns",)  # two says nothing, as a node from before reads
    one.start()
    two.start()
    try:
        wait_for(lambda: 1 in two.peer_hellos and 2 in one.peer_hellos, 10, "hellos both ways")
        assert two.peers_reading("batch-columns") == {1}
        assert one.peers_reading("batch-columns") == set()
        assert two.peers_reading("something-else") == set()
    finally:
        assert one.stop()
        assert two.stop()
