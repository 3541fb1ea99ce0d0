"""Single-message transforms (SMTs): per-connector, applied in order to each record.

Configured as ``[[connector.transforms]]`` tables with a ``type``:

* ``rename``  — ``renames = {old = "new"}``: rename fields.
* ``drop``    — ``fields = ["a", "b"]``: remove fields.
* ``filter``  — keep only records whose ``field`` ``equals`` a value (or is ``in`` a list) and/or
  whose change-event ``op`` is in ``ops``; ``exclude = true`` inverts (drop those instead).
* ``route``   — ``field = "region"``, ``topic = "orders.{value}"``: send the record to the topic
  made from the field's value (``{topic}`` is the current topic).

A transform sees the record's value as a JSON object. For a change event (see envelope.py) the
fields are those of the row: rename and drop change both ``before`` and ``after`` (rename also
renames the column in a JSON-object key, so a renamed key column still keys the row), filter and
route read ``after`` (``before`` for a delete). Values that are not JSON objects pass unchanged.
This module owns only the transforms; the worker decides where they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .fields import ConfigError, Field, non_empty, validate


@dataclass(slots=True)
class Message:
    topic: str
    key: Any
    value: Any


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "op" in value and ("after" in value or "before" in value)


def _rows(value: Any) -> list[dict[str, Any]]:
    if _is_envelope(value):
        return [r for r in (value.get("before"), value.get("after")) if isinstance(r, dict)]
    return [value] if isinstance(value, dict) else []


def _row(value: Any) -> dict[str, Any] | None:
    if _is_envelope(value):
        row = value.get("after") if value.get("op") != "d" else value.get("before")
        return row if isinstance(row, dict) else None
    return value if isinstance(value, dict) else None


class Transform:
    type_name = ""
    fields: tuple[Field, ...] = ()

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    def apply(self, msg: Message) -> Message | None:
        """The transformed message, or None to drop it."""
        raise NotImplementedError


class Rename(Transform):
    type_name = "rename"
    fields = (Field("renames", dict, doc="{old = \"new\"}", check=non_empty),)

    def apply(self, msg: Message) -> Message | None:
        renames = self.config["renames"]
        # The key too (a JSON object of key columns): a renamed key column stays the row's key.
        for row in [*_rows(msg.value), *([msg.key] if isinstance(msg.key, dict) else [])]:
            for old, new in renames.items():
                if old in row:
                    row[new] = row.pop(old)
        return msg


class Drop(Transform):
    type_name = "drop"
    fields = (Field("fields", list, doc="names of fields to remove", check=non_empty),)

    def apply(self, msg: Message) -> Message | None:
        for row in _rows(msg.value):
            for name in self.config["fields"]:
                row.pop(name, None)
        return msg


_UNSET = object()


class Filter(Transform):
    type_name = "filter"
    fields = (Field("field", str, ""), Field("equals", object, _UNSET), Field("in", list, []),
              Field("ops", list, []), Field("exclude", bool, False))

    def apply(self, msg: Message) -> Message | None:
        cfg = self.config
        matched = True
        if cfg["ops"]:
            matched = _is_envelope(msg.value) and msg.value.get("op") in cfg["ops"]
        if matched and cfg["field"]:
            row = _row(msg.value)
            present = row is not None and cfg["field"] in row
            value = row.get(cfg["field"]) if present and row is not None else None
            if cfg["equals"] is not _UNSET:
                matched = present and value == cfg["equals"]
            elif cfg["in"]:
                matched = present and str(value) in cfg["in"]
            else:
                matched = present
        keep = matched != cfg["exclude"]
        return msg if keep else None


class Route(Transform):
    type_name = "route"
    fields = (Field("field", str, check=non_empty), Field("topic", str, "{topic}.{value}"))

    def apply(self, msg: Message) -> Message | None:
        row = _row(msg.value)
        if row is None or row.get(self.config["field"]) is None:
            return msg
        msg.topic = self.config["topic"].format(topic=msg.topic, value=row[self.config["field"]])
        return msg


TRANSFORMS: dict[str, type[Transform]] = {t.type_name: t for t in (Rename, Drop, Filter, Route)}


def build_transforms(raw: Any, where: str) -> list[Transform]:
    """Transforms from the ``transforms`` list of a connector's config, validated."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{where}: field 'transforms' must be a list of tables ([[connector.transforms]])")
    out = []
    for i, spec in enumerate(raw):
        kind = spec.get("type")
        cls = TRANSFORMS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ConfigError(f"{where}: transforms[{i}].type must be one of {sorted(TRANSFORMS)}, got {kind!r}")
        cfg = validate(cls.fields, {k: v for k, v in spec.items() if k != "type"},
                       f"{where} transforms[{i}] ({kind})")
        if kind == "filter" and not (cfg["field"] or cfg["ops"]):
            raise ConfigError(f"{where} transforms[{i}] (filter): give 'field' or 'ops'")
        out.append(cls(cfg))
    return out


def apply_all(transforms: list[Transform], msg: Message) -> Message | None:
    for t in transforms:
        result = t.apply(msg)
        if result is None:
            return None
        msg = result
    return msg
