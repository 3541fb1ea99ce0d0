"""What the native ACL handlers share: bindings and filters travel as the lists ``kraft.state.acls``
defines (``AclBinding.row``, ``AclFilter.row``); a malformed one is INVALID_REQUEST for the whole request."""

from __future__ import annotations

from typing import Any

from kraft.errors import InvalidRequest
from kraft.node.handlers._body import field
from kraft.state.acls import AclBinding, AclFilter


def bindings(body: dict[str, Any]) -> list[AclBinding]:
    try:
        return [AclBinding.from_row(r) for r in field(body, "acls", list)]
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"field 'acls' must be a list of bindings: {e}") from None


def filters(body: dict[str, Any], name: str) -> list[AclFilter]:
    """The request's filters, each one valid (``AclFilter.validate``)."""
    try:
        parsed = [AclFilter.from_row(r) for r in field(body, name, list)]
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"field {name!r} must be a list of filters: {e}") from None
    for f in parsed:
        f.validate()
    return parsed
