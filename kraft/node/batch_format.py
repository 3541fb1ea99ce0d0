"""Which stored layouts a node may have written: the record batch layout it tells producers to write
(the ``batch_format`` of its ``metadata`` answers; the layouts: ``kraft.protocol.batch``), and
whether its partition groups may join Kafka batches into sets (``kraft.state.produce_sets``).

Owns: the rules; both are "every other node reads it" (``every_node_reads``).
The nodes are those that may apply a partition's entries (``cluster_nodes.replicating_nodes``: not
decommissioned, or still holding replicas), since a replica of any partition, or a node a move adds
later, must read what was written. Sets: once all of them said they read them (``READS_KAFKA_SETS``).
Columns: only when cluster.ini asks for them (``batch_format = columns``, the default) and all of
them have said in their Raft hellos that their code reads them (``READS_COLUMNS``,
``kraft.raft.host``); else rows, which every node reads. So during an upgrade
from a version that reads only rows, producers keep writing rows until the last node runs the new
code, with nothing for the operator to do; and a node that has not been heard from since this node
started (down, or never started) keeps it at rows, since it might run older code.
Must not: read sockets or the metadata group itself (callers pass the nodes and what was heard).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from kraft.config import BatchFormat


def every_node_reads(node_id: int, nodes: Iterable[int], reading: Set[int]) -> bool:
    """Whether every node of ``nodes`` (the cluster's nodes that may apply a partition's entries; this
    one may be among them) other than this one is in ``reading`` (the nodes heard saying they read a
    layout)."""
    return all(n == node_id or n in reading for n in nodes)


def advertised_batch_format(configured: BatchFormat, node_id: int, nodes: Iterable[int],
                            reading_columns: Set[int]) -> BatchFormat:
    """The layout to name: ``nodes`` are the cluster's nodes that may apply a partition's entries (this
    one may be among them), ``reading_columns`` the other nodes heard saying they read columns."""
    if configured == "columns" and every_node_reads(node_id, nodes, reading_columns):
        return "columns"
    return "rows"
