"""Which record batch layout a node tells producers to write (the ``batch_format`` of its
``metadata`` answers; the layouts: ``kraft.protocol.batch``).

Owns: the rule. Columns only when cluster.ini asks for them (``batch_format = columns``, the default)
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


def advertised_batch_format(configured: BatchFormat, node_id: int, nodes: Iterable[int],
                            reading_columns: Set[int]) -> BatchFormat:
    """The layout to name: ``nodes`` are the cluster's nodes that are not decommissioned (this one may
    be among them), ``reading_columns`` the other nodes heard saying they read columns."""
    if configured == "columns" and all(n == node_id or n in reading_columns for n in nodes):
        return "columns"
    return "rows"
