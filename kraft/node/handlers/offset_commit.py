"""offset_commit: positions of a group, fenced by generation, replicated through the metadata group,
each with an optional metadata string (``metadata``; offset_fetch returns it)."""

from __future__ import annotations

from typing import Any

from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items

API = "offset_commit"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    offsets = [(field(o, "topic", str), field(o, "partition", int), field(o, "offset", int),
                field(o, "metadata", str, "")) for o in items(body, "offsets")]
    results = await ctx.coordinator.commit(field(body, "group_id", str), field(body, "member_id", str, ""),
                                           field(body, "generation", int, -1), offsets)
    return {"results": [{"topic": t, "partition": p, "error_code": code, "message": message}
                        for (t, p, _, _), (code, message) in zip(offsets, results, strict=True)]}
