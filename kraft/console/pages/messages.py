"""The message browser: read one partition from an offset, a timestamp, the start or the end,
filtered by a key or value substring; each record's offset, timestamp, key, value (text, JSON
pretty-printed or hex, ``kraft.console.records``) and headers; a form to produce a test message.

Owns: the browser's query fields (``topic``, ``partition``, ``from`` = start | end | offset |
timestamp, ``offset``, ``timestamp`` as ms or ISO 8601 (UTC unless it says), ``filter``,
``format``, ``limit``) and their checks, and that page's layout.
Must not: talk to the cluster but through ``ConsoleCluster``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from kraft.apis.types import ConsumerRecord
from kraft.console import records as show
from kraft.console.cluster import BROWSE_LIMIT_MAX, Browse, StartKind
from kraft.console.html import Html, button, field, form, h, join, link, select, table
from kraft.console.pages.common import Ctx, Page, first, int_field
from kraft.errors import InvalidRequest
from kraft.node.http import Request

STARTS = (("end", "the end (newest)"), ("start", "the start (oldest)"), ("offset", "an offset"),
          ("timestamp", "a timestamp"))
DEFAULT_LIMIT = 50


def parse_timestamp(raw: str) -> int:
    """Milliseconds since the epoch from ``raw``: digits are ms, anything else ISO 8601 (UTC when
    it names no zone)."""
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"timestamp {raw!r} is neither ms since the epoch nor ISO 8601 "
                             "(2026-01-31T12:00:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def render(ctx: Ctx, request: Request) -> Page:
    q = request.query
    topic = first(q, "topic").strip()
    start = first(q, "from", "end")
    if start not in dict(STARTS):
        raise InvalidRequest(f"from must be one of {', '.join(dict(STARTS))}, got {start!r}")
    fmt = first(q, "format", "auto")
    if fmt not in show.FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(show.FORMATS)}, got {fmt!r}")
    needle = first(q, "filter")
    limit = int_field(q, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=BROWSE_LIMIT_MAX)
    partition = int_field(q, "partition", default=0, minimum=0)
    offset_raw, ts_raw = first(q, "offset"), first(q, "timestamp")
    topics = ctx.cluster.admin.list_topics()  # after the checks: bad input is answered without the cluster
    chooser = form("/messages",
                   select("topic", "topic", [(t, t) for t in topics], topic),
                   field("partition", "partition", partition, size=4, type_="number"),
                   select("from", "from", list(STARTS), start),
                   field("offset", "offset", offset_raw, size=8), field("timestamp", "timestamp", ts_raw, size=20,
                                                                        placeholder="ms or 2026-01-31T12:00"),
                   field("key/value contains", "filter", needle, size=16),
                   select("show as", "format", [(f, f) for f in show.FORMATS], fmt),
                   field("records", "limit", limit, size=4, type_="number"),
                   button("Read"), method="get", id_="browse")
    parts: list[object] = [chooser]
    if topic:
        value = 0
        if start == "offset":
            value = int_field(q, "offset", minimum=0)
        elif start == "timestamp":
            if not ts_raw.strip():
                raise InvalidRequest("timestamp is required to read from a timestamp")
            value = parse_timestamp(ts_raw)
        browse = ctx.cluster.browse(topic, partition, cast(StartKind, start), value, limit=limit, needle=needle,
                                    matches=_matches)
        parts += [_summary(browse, needle), _records(browse, fmt), _next(browse, q, limit)]
    parts += [h("h2", None, "Produce a test message"), _produce_form(ctx, topics, topic, partition)]
    return Page(f"Messages{': ' + topic if topic else ''}", "/messages", join(parts))


def _matches(needle: str, record: ConsumerRecord) -> bool:
    return show.matches(needle, record.key, record.value)


def _summary(b: Browse, needle: str) -> Html:
    text = (f"{b.topic} partition {b.partition}: log start {b.log_start}, end {b.end}; read from offset "
            f"{b.first_offset}, {len(b.records)} shown of {b.scanned} read")
    if needle:
        text += f" (filter: {needle!r})"
    if b.stopped_early:
        text += f"; stopped at offset {b.next_offset} (scan limit): go on with 'next'"
    return h("p", {"id": "browse-summary"}, text)


def _records(b: Browse, fmt: str) -> Html:
    rows = []
    for r in b.records:
        rows.append([r.offset, _time(r.timestamp_ms), _cell(r.key, fmt), _cell(r.value, fmt),
                     join([h("div", None, f"{k}: ", _cell(v, "auto")) for k, v in r.headers]) if r.headers else ""])
    return table(["offset", "timestamp", "key", "value", "headers"], rows, id_="records",
                 empty="no records here" + (" match the filter" if b.scanned else ""))


def _cell(data: bytes | None, fmt: str) -> Html:
    kind, text = show.show(data, fmt)
    return join([h("span", {"class": "kind"}, kind), h("pre", {"class": f"value {kind}"}, text)])


def _time(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + f" UTC ({ms})"
    except (OverflowError, OSError, ValueError):
        return str(ms)


def _next(b: Browse, q: dict[str, list[str]], limit: int) -> Html | None:
    if b.next_offset >= b.end:
        return None
    keep = {k: v[0] for k, v in q.items() if k not in ("from", "offset", "notice", "error")}
    return h("p", None, link("/messages", f"next {limit} from offset {b.next_offset}", **keep,
                             **{"from": "offset", "offset": b.next_offset}))


def _produce_form(ctx: Ctx, topics: list[str], topic: str, partition: int) -> Html:
    back = f"/messages?topic={topic}&partition={partition}" if topic else "/messages"
    return form("/messages/produce",
                select("topic", "topic", [(t, t) for t in topics], topic),
                field("partition", "partition", "", size=4, placeholder="by key"),
                field("key", "key", "", size=16),
                h("label", None, "value ", h("textarea", {"name": "value", "rows": 2, "cols": 40})),
                h("label", None, "headers (name=value lines) ", h("textarea", {"name": "headers", "rows": 2,
                                                                               "cols": 20})),
                h("input", {"type": "hidden", "name": "back", "value": back}),
                button("Produce"), id_="produce", read_only=ctx.read_only)
