"""Validation helpers shared by handlers: a wrong field type is INVALID_REQUEST, never a crash.

``field`` is where a decoded wire value becomes a typed one: what it returns has the type asked for
(or the default's), so the values a handler hands the broker are checked by mypy from here on.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from kraft.errors import InvalidRequest

T = TypeVar("T")
U = TypeVar("U")
D = TypeVar("D")


@overload
def field(body: dict[str, Any], name: str, kind: type[T]) -> T: ...
@overload
def field(body: dict[str, Any], name: str, kind: type[T], default: D) -> T | D: ...
@overload
def field(body: dict[str, Any], name: str, kind: tuple[type[T], type[U]], default: D) -> T | U | D: ...


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in body or body[name] is None:
        if default is ...:
            raise InvalidRequest(f"missing field {name!r}")
        return default
    value = body[name]
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise InvalidRequest(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def items(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value: list[Any] = field(body, name, list, [])
    if not all(isinstance(v, dict) for v in value):
        raise InvalidRequest(f"field {name!r} must be a list of maps")
    return value
