"""The pysyncobj ``Transport`` of one group: a view onto the node's shared peer connections.

Owns: translating between pysyncobj's Node objects and node ids (a message from a node outside the
group's configuration is delivered too, as Raft requires: a replica that has not yet applied the
change that added a member must still hear it and vote for it, or a group in the middle of a move
can elect no one; the group decides what such a message may do), and stamping the group's term on
replication replies (pysyncobj's ``next_node_idx`` carries none, so a leader could not tell a stale
reply from a fresh one).
Which messages may leave before the iteration's store commit (a leader's AppendEntries) is decided
here, in ``send``.
Must not: own sockets or buffers (its ``TransportHost`` does; ``send`` only queues on the host).
"""

from __future__ import annotations

from typing import Any, Protocol

from pysyncobj.node import Node
from pysyncobj.transport import Transport


class TransportHost(Protocol):
    """What a group's transport needs from the node it runs on (the RaftHost over TCP, the
    simulator's in-memory network, or kraft.testing's MemoryHost). Called on the driver thread,
    except ``wake``."""

    def is_connected(self, peer: int) -> bool: ...

    def enqueue(self, peer: int, gid: int, message: dict[str, Any], size_hint: int = 0,
                early: bool = False) -> None:
        """Queue ``message`` for ``peer``; it leaves after the iteration's store commit, or with
        ``early`` (a leader's AppendEntries: they promise nothing about this node's disk) at
        ``release_early``, before it, unless the group queued a message for ``peer`` that must wait
        (a group's messages to a peer keep their order)."""
        ...

    def release_early(self) -> None:
        """The driver is about to commit the store: the early messages may leave now."""
        ...

    def can_queue(self, peer: int) -> bool:
        """Whether more log entries may be queued to ``peer`` (backpressure; heartbeats always may)."""
        ...

    def wake(self, gid: int) -> None:
        """Group ``gid`` has work (a proposal from another thread): tick it soon."""
        ...


class MuxTransport(Transport):
    def __init__(self, host: TransportHost, gid: int, syncObj: Any, selfNode: Node, otherNodes: set[Node]) -> None:
        super().__init__(syncObj, selfNode, otherNodes)
        self.host = host
        self.gid = gid
        self.sync_obj = syncObj
        self.nodes: dict[int, Node] = {int(n.id): n for n in otherNodes}
        self._strangers: dict[int, Node] = {}  # nodes outside the configuration that sent something

    # pysyncobj's readiness protocol: there is nothing to bind per group.
    @property
    def ready(self) -> bool:
        return True

    def tryGetReady(self) -> None:
        pass

    def waitReady(self) -> None:
        pass

    def addNode(self, node: Node) -> None:
        self.nodes[int(node.id)] = node
        self._strangers.pop(int(node.id), None)

    def dropNode(self, node: Node) -> None:
        self.nodes.pop(int(node.id), None)

    def send(self, node: Node, message: dict[str, Any]) -> bool:
        peer = int(node.id)
        if not self.host.is_connected(peer):
            return False
        if message.get("type") == "next_node_idx":
            message["term"] = self.sync_obj.raftCurrentTerm
        elif message.get("type") == "response_vote":
            message["rid"] = getattr(self.sync_obj, "replica_id", None)  # whose vote: see RaftGroup._counts
        entries = message.get("entries")
        self.host.enqueue(peer, self.gid, message, sum(len(e[0]) for e in entries) if entries else 0,
                          self.may_leave_early(message))
        return True

    def may_leave_early(self, message: dict[str, Any]) -> bool:
        """A leader's appends and heartbeats hold nothing this node's fsync must cover first: its
        term and vote were durable before it could lead, and the commit index they carry counts
        only entries already in its store (RaftGroup._send_append). Followers' acknowledgements
        and votes, which vouch for this node's disk, wait for the store commit."""
        return message.get("type") == "append_entries" and bool(self.sync_obj._isLeader())

    def can_queue(self, node: Node) -> bool:
        return self.host.can_queue(int(node.id))

    def wake(self) -> None:
        self.host.wake(self.gid)

    def destroy(self) -> None:
        self.nodes.clear()

    # --- called by the host, on the driver thread ---------------------------------------------
    def deliver(self, peer: int, message: dict[str, Any]) -> None:
        node = self.nodes.get(peer)
        if node is None:
            node = self._strangers.setdefault(peer, Node(str(peer)))  # see the module docstring
        self._onMessageReceived(node, message)

    def peer_connected(self, peer: int) -> None:
        node = self.nodes.get(peer)
        if node is not None:
            self._onNodeConnected(node)

    def peer_disconnected(self, peer: int) -> None:
        node = self.nodes.get(peer)
        if node is not None:
            self._onNodeDisconnected(node)
