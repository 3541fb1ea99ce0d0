"""The Connect and Streams pages: connector and task states from the Connect status topic
(``kraft.apis.connect.status``, what ``kraft connect status`` shows), and Streams apps as their
consumer groups: state, instances, tasks (the input partitions each instance holds), internal
topics and lag.

Owns: those pages' layout. Must not: talk to the cluster but through ``ConsoleCluster``.
"""

from __future__ import annotations

from kraft.console.html import h, join, link, table
from kraft.console.pages.common import Ctx, Page
from kraft.console.pages.groups import total_lag
from kraft.node.http import Request

_TASK_FIELDS = ("connector", "task", "kind", "class", "state", "worker", "records", "lag", "last_offset",
                "restarts", "error")


def render_connect(ctx: Ctx, _request: Request) -> Page:
    statuses = ctx.cluster.connect_status()
    connectors: dict[str, list[str]] = {}
    for s in statuses:
        connectors.setdefault(str(s.get("connector")), []).append(str(s.get("state")))
    summary = table(["connector", "tasks", "states"],
                    [[name, len(states), ", ".join(f"{st} x{states.count(st)}" for st in sorted(set(states)))]
                     for name, states in sorted(connectors.items())], id_="connectors",
                    empty="no connector has reported to the status topic (_connect-status) of this cluster")
    tasks = table(list(_TASK_FIELDS), [[_state(s) if f == "state" else _text(s.get(f)) for f in _TASK_FIELDS]
                                       for s in statuses], id_="tasks", empty="no tasks")
    return Page("Connect", "/connect", join([summary, h("h2", None, "Tasks"), tasks]))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _state(status: dict[str, object]) -> object:
    state = str(status.get("state"))
    return h("span", {"class": "ok" if state == "RUNNING" else "bad"}, state)


def render_streams(ctx: Ctx, _request: Request) -> Page:
    apps = ctx.cluster.streams_apps()
    rows = []
    for app in apps:
        g = app.group
        rows.append([link("/group", app.app_id, id=app.app_id), g.state if g else "?", len(g.members) if g else 0,
                     join([h("div", None, f"{m.client_id or m.member_id}: ",
                             ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(m.assignment)) or "none")
                           for m in g.members]) if g else "",
                     ", ".join(app.internal_topics), total_lag(g) if g else "?"])
    listing = table(["app (group)", "state", "instances", "tasks (input partitions) per instance",
                     "internal topics", "lag (records)"], rows, id_="streams-apps",
                    empty="no Streams apps: none of this cluster's groups has internal topics "
                          "(<app>-<store>-changelog, <app>-<name>-repartition) or app-id members")
    return Page("Streams", "/streams", listing)
