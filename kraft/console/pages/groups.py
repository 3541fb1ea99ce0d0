"""The consumer group pages: every group (state, members, lag) and one group's members with their
assignment, committed offsets, end offsets and lag per partition with a lag chart, and the offset
reset form (only for a group without members, as ``kraft group reset-offsets``).

Owns: those pages' layout. Must not: talk to the cluster but through ``ConsoleCluster``.
"""

from __future__ import annotations

from kraft.apis.types import GroupDescription
from kraft.console import charts as svg
from kraft.console.html import Html, button, field, form, h, join, link, table
from kraft.console.pages.common import Ctx, Page, first
from kraft.errors import InvalidRequest
from kraft.node.http import Request


def total_lag(group: GroupDescription) -> int:
    return sum(o.lag or 0 for o in group.offsets)


def render_list(ctx: Ctx, _request: Request) -> Page:
    rows = [[link("/group", g.group_id, id=g.group_id), g.state, len(g.members), g.generation,
             len({o.topic for o in g.offsets}), total_lag(g)] for g in ctx.cluster.groups()]
    return Page("Consumer groups", "/groups",
                table(["group", "state", "members", "generation", "topics", "lag (records)"], rows, id_="groups",
                      empty="no consumer groups yet"))


def render_group(ctx: Ctx, request: Request) -> Page:
    group_id = first(request.query, "id").strip()
    if not group_id:
        raise InvalidRequest("name the group: /group?id=...")
    g = ctx.cluster.group(group_id)
    owner = {(tp.topic, tp.partition): m.client_id or m.member_id for m in g.members for tp in m.assignment}
    members = table(["member", "client id", "host", "assigned partitions"],
                    [[m.member_id, m.client_id, m.host,
                      ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(m.assignment))] for m in g.members],
                    id_="members", empty="no members: the group is empty")
    offsets = sorted(g.offsets, key=lambda o: (o.topic, o.partition))
    lag_rows = table(["topic", "partition", "member", "committed", "end offset", "lag"],
                     [[o.topic, o.partition, owner.get((o.topic, o.partition), ""), _opt(o.committed),
                       _opt(o.end_offset), _opt(o.lag)] for o in offsets], id_="lag", empty="no committed offsets")
    chart = svg.bar_chart("lag per partition (records)", [(f"{o.topic}/{o.partition}", float(o.lag or 0))
                                                          for o in offsets][:40], id_="lag-chart")
    summary = h("p", {"id": "group-summary"}, f"state {g.state}, generation {g.generation}, strategy "
                f"{g.strategy or '?'}, {len(g.members)} members, total lag {total_lag(g)}")
    body = join([summary, h("h2", None, "Members"), members, h("h2", None, "Offsets and lag"), lag_rows, chart,
                 h("h2", None, "Reset offsets"), _reset_form(ctx, g)])
    return Page(f"Group {group_id}", "/groups", body)


def _opt(value: int | None) -> object:
    return "?" if value is None else value


def _reset_form(ctx: Ctx, g: GroupDescription) -> Html:
    if g.members:
        return h("p", {"class": "muted", "id": "reset-refused"},
                 f"Offsets can be reset only while the group has no members ({len(g.members)} now): stop its "
                 "consumers first.")
    topics = sorted({o.topic for o in g.offsets})
    return form("/group/reset",
                h("input", {"type": "hidden", "name": "group", "value": g.group_id}),
                h("input", {"type": "hidden", "name": "back", "value": f"/group?id={g.group_id}"}),
                h("label", None, "topic ", h("select", {"name": "topic"}, [h("option", {"value": t}, t)
                                                                           for t in topics])),
                field("to (earliest, latest or an offset)", "to", "earliest", size=10),
                button("Reset offsets"), id_="reset-offsets", read_only=ctx.read_only,
                confirm=f"Reset the offsets of {g.group_id}?")
