"""A node's identity on its disk, and how a node that starts with an empty disk joins its cluster.

Owns: the identity row (``raftmeta`` table, key ``IDENTITY_KEY``: msgpack ``{node, disk, cluster,
rejoining}``) and the start decision (``decide_start``), a pure function of what this disk holds and
what the peers said in their hellos (``kraft.raft.host``).

A disk gets a random **disk id** when a node first writes to it. Raft's safety needs a voter's log
and vote to survive; a node whose disk was lost (or replaced) forgot both. So a node that finds its
disk empty while a peer already has an identity is **rejoining**: every group it hosts takes it back
as a non-voting learner that catches up before the group's leader promotes it (``kraft.raft.group``).

Founding a cluster: a node with an empty disk that hears a majority of the cluster's nodes (itself
included), none with an identity, and among them a majority of the metadata group's initial voters
(``kraft.node.metadata_members.initial_members``), founds it with those nodes and voters from the
start. The second condition is for liveness: founders without a majority of those voters (nodes 4-7
of 7 with voters 1-3) would make every late voter a learner, and the metadata group could never
elect a leader. Nodes decide at different moments, so a co-founder may hear a founder's new identity before
deciding itself: a founder's hello lists the founders it has not yet heard with an identity of their
own (``pending``), and a node named there founds too instead of joining as a learner. A founder
whose disk is lost after its founder peers heard it is no longer pending anywhere, so it rejoins.
(The one gap: a founder that voted, then lost its disk before any pending-list holder heard its
identity, founds again; it needs a disk lost within the cluster's first moments.)
Must not: decide Raft rules or talk to peers (the host carries the hellos; ``kraft.node.main`` waits).
"""

from __future__ import annotations

import base64
import enum
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace

import msgpack

from kraft.errors import ConfigError
from kraft.log.store import DB_JOURNAL, DB_RAFTMETA, LogStore, ReadView

IDENTITY_KEY = b"node-identity"  # not 8 bytes: never a group's raftmeta key


@dataclass(frozen=True)
class NodeIdentity:
    node_id: int
    disk_id: str
    cluster_id: str | None = None  # the metadata group's, once this node has seen it
    rejoining: bool = False  # groups created on this disk start as learners (see the module doc)
    pending: tuple[int, ...] = ()  # co-founders not yet heard with an identity (see the module doc)

    def heard(self, peer: int) -> NodeIdentity:
        """``peer`` said hello with an identity: it is no longer a pending co-founder."""
        return replace(self, pending=tuple(p for p in self.pending if p != peer))


def new_disk_id() -> str:
    return uuid.uuid4().hex


def new_cluster_id() -> str:
    """A new cluster's id, in Kafka's form: a random UUID, base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def load(view: LogStore | ReadView) -> NodeIdentity | None:
    raw = view.get(DB_RAFTMETA, IDENTITY_KEY)
    if raw is None:
        return None
    row = msgpack.unpackb(raw)
    return NodeIdentity(int(row["node"]), str(row["disk"]), row.get("cluster"), bool(row.get("rejoining", False)),
                        tuple(row.get("pending", ())))


def save(store: LogStore, identity: NodeIdentity) -> None:
    store.put(DB_RAFTMETA, IDENTITY_KEY, msgpack.packb({
        "node": identity.node_id, "disk": identity.disk_id, "cluster": identity.cluster_id,
        "rejoining": identity.rejoining, "pending": list(identity.pending)}))


def with_cluster(identity: NodeIdentity, cluster_id: str) -> NodeIdentity:
    return replace(identity, cluster_id=cluster_id)


class Start(enum.Enum):
    KNOWN = "known"  # this disk has the node's identity: start as it left off
    FORMAT = "format"  # a disk from before identities (it holds Raft state): give it one, a voter
    NEW_CLUSTER = "new-cluster"  # empty, and so is a majority of the cluster: a founding voter
    REJOIN = "rejoin"  # empty, and the cluster exists: every group takes this node back as a learner
    WAIT = "wait"  # empty, and too few peers answered to tell


@dataclass(frozen=True)
class PeerHello:
    """What a peer said of its disk when it connected (None: a node that has not decided either)."""

    disk_id: str | None
    cluster_id: str | None = None
    pending: tuple[int, ...] = ()  # its co-founders not yet heard with an identity


def decide_start(node_id: int, own: NodeIdentity | None, disk_empty: bool, peers: dict[int, PeerHello],
                 cluster_size: int, metadata_voters: Collection[int]) -> Start:
    """How a node starts, from its disk and the hellos of the peers connected now (``peers``);
    ``metadata_voters``: the metadata group's voters in a new cluster."""
    if own is not None:
        if own.node_id != node_id:
            raise ConfigError(f"this data directory belongs to node {own.node_id}, not to node {node_id}: "
                              f"check --node and data_dir in cluster.ini")
        return Start.KNOWN
    if not disk_empty:
        return Start.FORMAT
    if any(p.disk_id is not None and node_id in p.pending for p in peers.values()):
        return Start.NEW_CLUSTER  # a founder counted on this node as a co-founder
    if any(p.disk_id is not None for p in peers.values()):
        return Start.REJOIN
    fresh = {node_id, *peers}
    if len(fresh) * 2 > cluster_size and len(fresh & set(metadata_voters)) * 2 > len(metadata_voters):
        return Start.NEW_CLUSTER
    return Start.WAIT


def disk_empty(store: LogStore) -> bool:
    """Whether no group has ever written to this disk (no Raft state, no journal row)."""
    return all(next(iter(store.scan(table, b"\x00")), None) is None for table in (DB_RAFTMETA, DB_JOURNAL))


def starting_identity(node_id: int, start: Start, own: NodeIdentity | None, disk_id: str,
                      peers: dict[int, PeerHello]) -> NodeIdentity:
    """The identity a node runs with after ``decide_start`` (not WAIT) on what ``peers`` said;
    ``disk_id`` for a new one. A founder lists its co-founders that have no identity yet."""
    if start is Start.KNOWN:
        assert own is not None
        return own
    assert start is not Start.WAIT
    pending = tuple(sorted(p for p, h in peers.items() if h.disk_id is None)) if start is Start.NEW_CLUSTER else ()
    return NodeIdentity(node_id, disk_id, rejoining=start is Start.REJOIN, pending=pending)
