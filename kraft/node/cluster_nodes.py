"""The cluster's nodes as placement, rebalancing and decommissioning count them.

Owns: which nodes there are (this node's cluster.ini and every node registered in the metadata view:
a node may join with a cluster.ini other nodes have not been given), each one's rack (what the node
announced when it registered, else cluster.ini's) and whether it is decommissioned (the metadata's
``decommission_node``); which of them new replicas go to; and the assignment the rebalance planner
takes.
Pure functions of the config and one metadata view.
Must not: decide placement or moves (``kraft.placement`` and ``kraft.rebalance`` do), or propose.
"""

from __future__ import annotations

from collections.abc import Collection

from kraft.config import ClusterConfig
from kraft.rebalance import Node, Partition
from kraft.state.metadata import MetadataView


def every_node(config: ClusterConfig, view: MetadataView) -> list[Node]:
    """Every node of cluster.ini or the registry, in id order."""
    racks: dict[int, str | None] = {n.id: n.rack for n in config.nodes.values()}
    racks.update({n.id: n.rack for n in view.nodes.values()})
    return [Node(i, racks[i], i in view.nodes and view.nodes[i].decommissioned) for i in sorted(racks)]


def live_nodes(config: ClusterConfig, view: MetadataView) -> list[Node]:
    """Every node that is not decommissioned: what replication-factor checks count."""
    return [n for n in every_node(config, view) if not n.decommissioned]


def replicating_nodes(config: ClusterConfig, view: MetadataView) -> list[int]:
    """Every node that may apply a partition's entries: those not decommissioned (a replica may be
    placed there) and decommissioned ones that still hold replicas (they replicate until their moves
    finish). What the stored layouts a node writes wait for (``kraft.node.batch_format``)."""
    holding = {n for n, count in view.replicas_per_node.items() if count > 0}
    return [n.id for n in every_node(config, view) if not n.decommissioned or n.id in holding]


def placement_nodes(config: ClusterConfig, view: MetadataView, replication_factor: int) -> list[tuple[int, str | None]]:
    """``(id, rack)`` of the nodes new replicas go to: the registered ones that are not decommissioned
    (nodes that have started, so a replica placed there runs), when there are at least
    ``replication_factor`` of them; in a cluster's first moments, before enough nodes have
    registered, every node of cluster.ini or the registry that is not decommissioned. A node listed in
    cluster.ini that has never started gets no new replica once the cluster runs without it."""
    nodes = live_nodes(config, view)
    started = [n for n in nodes if n.id in view.nodes]
    chosen = started if len(started) >= replication_factor else nodes
    return [(n.id, n.rack) for n in chosen]


def planning_nodes(config: ClusterConfig, view: MetadataView, *, leaving: Collection[int] = ()) -> list[Node]:
    """The nodes a rebalance or decommission plans over: the registered ones (a node that has started
    at least once, so a move to it can finish), and any cluster.ini node that holds replicas though it
    has not registered (its replicas stay where they are: it is not unknown). ``leaving``: nodes
    about to be decommissioned, counted as such."""
    hosting = {n for t in view.topics.values() for p in t.partitions for n in p.hosts}
    return [Node(n.id, n.rack, n.decommissioned or n.id in leaving) for n in every_node(config, view)
            if n.id in view.nodes or n.id in hosting]


def assignment(view: MetadataView) -> list[Partition]:
    """Every partition's replicas and move target, as the planner takes them."""
    return [Partition(t.name, p.partition, p.replicas, p.target) for t in view.topics.values() for p in t.partitions]
