"""The Streams API: transform, aggregate, window and join streams, with state that survives
restarts. Built only on kraft's public Producer, Consumer and Admin.

Modules, one job each: ``serdes`` (bytes <-> objects), ``windows`` (window definitions),
``builder`` / ``dsl`` (StreamsBuilder, KStream, KTable, grouped and windowed streams),
``topology`` (nodes, sub-topologies, internal names), ``processors`` / ``aggregates`` / ``joins``
/ ``custom`` (what the nodes do; the Processor API), ``keys`` (store key layouts), ``stores``
(LMDB and in-memory task stores, checkpoints), ``store_view`` (interactive queries),
``changelog`` (restore), ``topics`` (creating and checking topics), ``task`` (one partition of a
sub-topology), ``runtime`` (the consume-process-produce-commit loop), ``app`` (StreamsApp),
``driver`` (the in-memory TopologyTestDriver), ``errors`` (handlers), ``cli``
(``kraft streams run``).
"""

from .app import StreamsApp
from .builder import StreamsBuilder
from .custom import KeyValueStore, ProcessorContext
from .driver import OutputRecord, TopologyTestDriver
from .dsl import KGroupedStream, KGroupedTable, KStream, KTable, WindowedStream
from .errors import DeadLetter, StreamsError, TopologyError
from .processors import Change
from .serdes import Serde, windowed_serde
from .store_view import StoreView
from .windows import (
    JoinWindows,
    SessionWindows,
    SlidingWindows,
    Suppressed,
    TimeWindows,
    Windowed,
    until_window_closes,
)

__all__ = [
    "Change",
    "DeadLetter",
    "JoinWindows",
    "KGroupedStream",
    "KGroupedTable",
    "KStream",
    "KTable",
    "KeyValueStore",
    "OutputRecord",
    "ProcessorContext",
    "Serde",
    "SessionWindows",
    "SlidingWindows",
    "StoreView",
    "StreamsApp",
    "StreamsBuilder",
    "StreamsError",
    "Suppressed",
    "TimeWindows",
    "TopologyError",
    "TopologyTestDriver",
    "Windowed",
    "WindowedStream",
    "until_window_closes",
    "windowed_serde",
]
