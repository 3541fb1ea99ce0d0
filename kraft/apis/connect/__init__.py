"""Connect: move data between kraft topics and other systems (files, SQLite, PostgreSQL).

Modules, one job each: ``fields`` (declared, validated config), ``api`` (connector and task base
classes, records), ``config`` (connectors.toml), ``worker`` (threads, delivery, restarts),
``offsets`` and ``status`` (the worker's kraft topics), ``transforms`` (single-message
transforms), ``envelope`` (the change-event format), ``connectors/`` (the shipped connectors),
``cli`` (``kraft connect``). Uses only the public client API of ``kraft.apis``.
"""

from .api import (
    Connector,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from .config import ConnectorSpec, load_file, parse_connectors
from .fields import ConfigError, Field
from .status import read_status
from .worker import Worker

__all__ = [
    "ConfigError",
    "Connector",
    "ConnectorSpec",
    "Field",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "SourceTaskContext",
    "Worker",
    "load_file",
    "parse_connectors",
    "read_status",
]
