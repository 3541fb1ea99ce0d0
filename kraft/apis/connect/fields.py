"""Declared, validated configuration fields of connectors, tasks and transforms.

A connector lists its ``Field``s; :func:`validate` turns the raw dict of a ``connectors.toml``
section into a checked dict with defaults filled in, or raises :class:`ConfigError` naming the
connector and the field. It owns only checking values, never loading files or running anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()


class ConfigError(ValueError):
    """A connector's configuration is wrong; the message names the connector and the field."""


@dataclass(frozen=True)
class Field:
    """One configuration field: ``type`` is one of str, int, float, bool, list (of str), dict.

    ``choices`` limits the value; ``check`` returns an error message or None (for rules a type
    cannot say, e.g. a positive number)."""

    name: str
    type: type
    default: Any = _MISSING
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be > 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be >= 0"


def non_empty(value: Any) -> str | None:
    return None if len(value) > 0 else "must not be empty"


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list of strings", dict: "a table"}.get(t, t.__name__)


def _coerce(field: Field, value: Any) -> Any:
    """The value as ``field.type``; ValueError when it is not one (bools are not ints here)."""
    t = field.type
    if t is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if t is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError
        return list(value)
    if t is int and isinstance(value, bool):
        raise ValueError
    if not isinstance(value, t):
        raise ValueError
    return value


def validate(fields: Iterable[Field], raw: Mapping[str, Any], where: str,
             ignore: Iterable[str] = ()) -> dict[str, Any]:
    """Check ``raw`` against ``fields``: every required field present, no unknown field (except
    those in ``ignore``, which belong to another layer), each value of its type and within its
    choices. ``where`` names the owner in errors, e.g. ``connector 'shop-db'``."""
    declared = {f.name: f for f in fields}
    unknown = sorted(set(raw) - set(declared) - set(ignore))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (fields: {known})")
    out: dict[str, Any] = {}
    for name, f in declared.items():
        if name not in raw:
            if f.required:
                raise ConfigError(f"{where}: missing required field {name!r}" + (f" ({f.doc})" if f.doc else ""))
            out[name] = f.default
            continue
        try:
            value = _coerce(f, raw[name])
        except ValueError:
            raise ConfigError(f"{where}: field {name!r} must be {_type_name(f.type)}, got {raw[name]!r}") from None
        if f.choices is not None and value not in f.choices:
            raise ConfigError(f"{where}: field {name!r} must be one of {list(f.choices)}, got {value!r}")
        if f.check is not None:
            problem = f.check(value)
            if problem:
                raise ConfigError(f"{where}: field {name!r} {problem}, got {value!r}")
        out[name] = value
    return out
