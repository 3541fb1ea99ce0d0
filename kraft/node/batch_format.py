"""Which stored layouts a node may have written: the record batch layout it tells producers to write
(the ``batch_format`` of its ``metadata`` answers; the layouts: ``kraft.protocol.batch``), and
whether its partition groups may join Kafka batches into sets (``kraft.state.produce_sets``).

Owns: the rules; both are "every other node reads it" (``every_node_reads``).
Sets: only once every other node that is not decommissioned has said it reads them
(``READS_KAFKA_SETS``), since a replica of any partition, or a node a move adds later, must apply
them. Columns: Columns only when cluster.ini asks for them (``batch_format = columns``, the default)
and every other node of the cluster has said in its Raft hello that its code reads them
(``READS_COLUMNS``, ``kraft.raft.host``); else rows, which every node reads. So during an upgrade
from a version that reads only rows, producers keep writing rows until the last node runs the new
code, with nothing for the operator to do; and a node that has not been heard from since this node
started (down, or never started) keeps it at rows, since it might run older code.
Must not: read sockets or the metadata group itself (callers pass the nodes and what was heard).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from kraft.config import BatchFormat


def every_node_reads(node_id: int, nodes: Iterable[int], reading: Set[int]) -> bool:
    """Whether every node of ``nodes`` (the cluster's nodes that are not decommissioned; this one may
    be among them) other than this one is in ``reading`` (the nodes heard saying they read a layout)."""
    return all(n == node_id or n in reading for n in nodes)


def advertised_batch_format(configured: BatchFormat, node_id: int, nodes: Iterable[int],
                            reading_columns: Set[int]) -> BatchFormat:
    """The layout to name: ``nodes`` are the cluster's nodes that are not decommissioned (this one may
    be among them), ``reading_columns`` the other nodes heard saying they read columns."""
    if configured == "columns" and every_node_reads(node_id, nodes, reading_columns):
        return "columns"
    return "rows"
