"""connectors.toml → validated connector definitions.

The file holds ``[[connector]]`` tables. Every connector has the common fields below plus the
fields its class declares; ``class`` is a shipped name (``file-source`` …) or ``module:Class``.
Errors name the file, the connector and the field. Loading a class imports it; nothing runs.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import Connector, SinkConnector, SourceConnector
from .fields import ConfigError, Field, non_negative, positive, validate
from .transforms import Transform, build_transforms

SHIPPED = {
    "file-source": "kraft.apis.connect.connectors.file:FileSourceConnector",
    "file-sink": "kraft.apis.connect.connectors.file:FileSinkConnector",
    "sqlite-source": "kraft.apis.connect.connectors.sqlite:SqliteSourceConnector",
    "sqlite-sink": "kraft.apis.connect.connectors.sqlite:SqliteSinkConnector",
    "postgres-source": "kraft.apis.connect.connectors.postgres:PostgresSourceConnector",
    "postgres-sink": "kraft.apis.connect.connectors.postgres:PostgresSinkConnector",
}

COMMON_FIELDS = (
    Field("name", str, doc="unique connector name"),
    Field("class", str, doc="file-source, file-sink, sqlite-source, sqlite-sink, postgres-source, "
                            "postgres-sink, or module:Class"),
    Field("tasks_max", int, 1, "most tasks to run", check=positive),
    Field("poll_interval_ms", int, 200, "source: wait after an empty poll", check=positive),
    Field("restart_backoff_ms", int, 500, "first wait before restarting a failed task", check=positive),
    Field("restart_backoff_max_ms", int, 30000, "longest wait between restarts", check=positive),
    Field("topic_partitions", int, 1, "source: partitions of topics the worker creates", check=positive),
    Field("topic_replication_factor", int, 0, "source: RF of created topics (0: cluster default)",
          check=non_negative),
    Field("batch_max_records", int, 1000, "sink: most records per put/flush", check=positive),
    Field("group_id", str, "", "sink: consumer group (default connect-<name>)"),
    Field("status_interval_ms", int, 2000, "how often each task publishes its status", check=positive),
)
_COMMON_NAMES = {f.name for f in COMMON_FIELDS} | {"transforms"}
_SOURCE_ONLY = ("poll_interval_ms", "topic_partitions", "topic_replication_factor")
_SINK_ONLY = ("batch_max_records", "group_id")


@dataclass
class ConnectorSpec:
    name: str
    cls: type[Connector]
    common: dict[str, Any]
    config: dict[str, Any]
    transforms: list[Transform] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "source" if issubclass(self.cls, SourceConnector) else "sink"

    @property
    def group_id(self) -> str:
        return self.common["group_id"] or f"connect-{self.name}"

    def connector(self) -> Connector:
        return self.cls(self.name, self.config)


def load_class(name: str, where: str) -> type[Connector]:
    target = SHIPPED.get(name, name)
    if ":" not in target:
        raise ConfigError(f"{where}: field 'class' must be one of {sorted(SHIPPED)} or module:Class, got {name!r}")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: field 'class': cannot load {target!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, (SourceConnector, SinkConnector))):
        raise ConfigError(f"{where}: field 'class': {target!r} is not a SourceConnector or SinkConnector")
    return cls


def parse_connector(raw: dict[str, Any], where: str, index: int) -> ConnectorSpec:
    name = raw.get("name")
    where = f"{where}: connector {name!r}" if isinstance(name, str) and name else f"{where}: connector #{index}"
    common = validate(COMMON_FIELDS, raw, where, ignore=(set(raw) - _COMMON_NAMES) | {"transforms"})
    if not common["name"]:
        raise ConfigError(f"{where}: field 'name' must not be empty")
    cls = load_class(common["class"], where)
    kind = "source" if issubclass(cls, SourceConnector) else "sink"
    other = next((f for f in (_SINK_ONLY if kind == "source" else _SOURCE_ONLY) if f in raw), None)
    if other is not None:
        raise ConfigError(f"{where}: field {other!r} is for {'sinks' if kind == 'source' else 'sources'}, "
                          f"and {common['class']!r} is a {kind}")
    own = {k: v for k, v in raw.items() if k not in _COMMON_NAMES}
    config = validate(cls.fields, own, where)
    problem = cls.check(config)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    transforms = build_transforms(raw.get("transforms"), where)
    return ConnectorSpec(common["name"], cls, common, config, transforms)


def parse_connectors(doc: dict[str, Any], where: str) -> list[ConnectorSpec]:
    extra = sorted(set(doc) - {"connector"})
    if extra:
        raise ConfigError(f"{where}: unknown top-level key {extra[0]!r} (expected [[connector]] tables)")
    raw = doc.get("connector")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: no [[connector]] tables")
    if not all(isinstance(c, dict) for c in raw):
        raise ConfigError(f"{where}: 'connector' must be [[connector]] tables")
    specs = [parse_connector(c, where, i + 1) for i, c in enumerate(raw)]
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise ConfigError(f"{where}: two connectors named {s.name!r}")
        seen.add(s.name)
    return specs


def load_file(path: str | Path) -> list[ConnectorSpec]:
    """Connectors of a connectors.toml, validated; relative paths in them stay as written."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_connectors(doc, str(path))
