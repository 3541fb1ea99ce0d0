"""What every console page shares: the ``Page`` value a renderer returns and form/query parsing.

Owns: ``Ctx``, ``Page``, ``first`` (one value of a query or form field), ``int_field`` (an integer field or
INVALID_REQUEST naming it), ``size`` (bytes for people).
Must not: talk to the cluster or build whole pages (``kraft.console.html.page`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.console.cluster import ConsoleCluster
from kraft.errors import InvalidRequest

Fields = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a page renders with: the cluster, and whether write forms are shown disabled."""

    cluster: ConsoleCluster
    read_only: bool


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    current: str  # the navigation entry it belongs to
    body: object  # Html, or children for ``h``
    status: int = 200
    refresh_s: int | None = None  # the page's script refreshes its live parts this often


def first(fields: Fields, name: str, default: str = "") -> str:
    values = fields.get(name)
    return values[0] if values else default


def int_field(fields: Fields, name: str, *, default: int | None = None, minimum: int | None = None,
              maximum: int | None = None) -> int:
    raw = first(fields, name).strip()
    if not raw:
        if default is None:
            raise InvalidRequest(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidRequest(f"{name} must be at most {maximum}, got {value}")
    return value


def optional_int(fields: Fields, name: str, *, minimum: int | None = None) -> int | None:
    return None if not first(fields, name).strip() else int_field(fields, name, minimum=minimum)


def size(n: int | float | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def key_values(text: str, what: str) -> dict[str, str]:
    """``k=v`` lines (blank lines skipped) -> {k: v}; INVALID_REQUEST naming a line without ``=``."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise InvalidRequest(f"{what}: {line!r} is not name=value")
        out[name.strip()] = value.strip()
    return out
