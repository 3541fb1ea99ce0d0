"""offset_commit: positions of a group, fenced by generation, replicated through the metadata group,
each with an optional metadata string (``metadata``; offset_fetch returns it)."""

from __future__ import annotations

from typing import Any

from kraft.errors import TopicAuthorizationFailed
from kraft.node import access
from kraft.node.context import HandlerContext
from kraft.node.handlers._body import field, items
from kraft.state.acls import Operation

API = "offset_commit"


async def handle(ctx: HandlerContext, body: dict[str, Any]) -> dict[str, Any]:
    offsets = [(field(o, "topic", str), field(o, "partition", int), field(o, "offset", int),
                field(o, "metadata", str, "")) for o in items(body, "offsets")]
    group_id = field(body, "group_id", str)
    access.require_group(ctx, Operation.READ, group_id)
    denied = access.topics_denied(ctx, Operation.READ, (o[0] for o in offsets))
    allowed = [o for o in offsets if o[0] not in denied]
    done = iter(await ctx.coordinator.commit(group_id, field(body, "member_id", str, ""),
                                             field(body, "generation", int, -1), allowed) if allowed else [])
    refused = (TopicAuthorizationFailed.code, "READ on the topic is not allowed")
    results = [refused if o[0] in denied else next(done) for o in offsets]
    return {"results": [{"topic": t, "partition": p, "error_code": code, "message": message}
                        for (t, p, _, _), (code, message) in zip(offsets, results, strict=True)]}
