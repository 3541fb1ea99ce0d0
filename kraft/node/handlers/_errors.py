"""The native protocol's error mapping: kraft errors on the wire as the native front end sends them.

The native protocol carries kraft's own codes (``kraft.errors`` is its table, and the client turns a
code back into the same class with ``error_for_code``), the error's message, and its scalar details
(``leader`` of NOT_LEADER_OR_FOLLOWER, so a client can go straight to the new leader).
Owns: that shape, for a whole request and for one partition of it.
Must not: choose codes (the error classes do) or know any other front end's codes.
"""

from __future__ import annotations

from typing import Any

from kraft.errors import KraftError


def wire_code(error: KraftError) -> int:
    return error.code


def request_error(error: KraftError) -> tuple[int, dict[str, Any]]:
    """A failed request's (code, body): the message and every scalar detail."""
    details = {k: v for k, v in error.details.items() if isinstance(v, (int, str, type(None)))}
    return wire_code(error), {"message": error.message, **details}


def set_partition_error(res: dict[str, Any], error: KraftError) -> None:
    """Fill one partition's answer (which has ``error_code`` and ``message`` already) for ``error``."""
    res["error_code"], res["message"] = wire_code(error), error.message
    if "leader" in error.details:
        res["leader"] = error.details["leader"]
