"""What a node's replicas and broker need from the Raft host they run on.

Owns: the ``NodeHost`` protocol. Two hosts satisfy it: ``kraft.raft.host.RaftHost`` (TCP between node
processes, one driver thread per node) and ``kraft.testing.memory_raft.MemoryHost`` (every node of an
in-process cluster on one driver thread, messages in memory). ``ReplicaManager`` and ``Broker`` are
written against this protocol only, so both run unchanged over either.
Must not: name a concrete host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kraft.log.store import LogStore
from kraft.raft.clock import Clock
from kraft.raft.faults import NetworkFaults
from kraft.raft.group import RaftGroup
from kraft.raft.outbox import Outbox
from kraft.raft.transport import MuxTransport


class NodeHost(Protocol):
    """The groups of one node and the driver thread that runs them. Unless said otherwise, the
    methods are for the driver thread (``on_loop`` hooks and ``call``ed functions run there)."""

    store: LogStore  # the node's tables: the driver writes, any thread reads (``store.read()``)
    clock: Clock

    @property
    def outbox(self) -> Outbox:
        """Proposal outcomes and "appended" events, released after the store commit covering them."""
        ...

    @property
    def on_loop(self) -> list[Callable[[], None]]:
        """Hooks run on the driver thread in every iteration, before the store commit."""
        ...

    def add_group(self, gid: int, build: Callable[[Callable[..., MuxTransport]], RaftGroup]) -> RaftGroup: ...

    def remove_group(self, gid: int) -> RaftGroup | None: ...

    def call(self, fn: Callable[[], None]) -> None:
        """Any thread: run ``fn`` on the driver thread, in the next iteration."""
        ...

    def is_connected(self, peer: int) -> bool: ...

    def connected_peers(self) -> dict[int, bool]:
        """Every other node of the cluster: whether this node is connected to it now."""
        ...

    def add_peer(self, peer: int, addr: tuple[str, int]) -> None:
        """Connect to ``peer`` (raft host and port) from now on: a node the metadata registry knows."""
        ...

    def peers_reading(self, name: str) -> set[int]:
        """Any thread: the other nodes whose code reads ``name`` as far as this node has heard
        (``kraft.raft.host``'s hellos; every node of an in-process cluster runs this code)."""
        ...

    def remove_peer(self, peer: int) -> None:
        """Stop connecting to ``peer`` (a decommissioned node that left the cluster)."""
        ...

    def set_faults(self, faults: NetworkFaults | None) -> None:
        """Test-only network faults (peers cut off, loss, duplication); None heals."""
        ...
