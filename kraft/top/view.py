"""``kraft top``'s screen: rich renderables of ``kraft.top.model.Rows`` for the current view and sort.

Owns: ``ViewState`` (which view, which sort column, which direction; the keys that change them:
``KEYS``) and ``render`` (a header line, the view's table, a footer naming the keys).
Pure: state and rows in, a renderable out (the tests render it into a string).
Must not: read the terminal or the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kraft.top.model import SORTS, Rows, sort_key

VIEWS = ("nodes", "topics", "partitions", "groups")
KEYS = {"1": "nodes", "n": "nodes", "2": "topics", "t": "topics", "3": "partitions", "p": "partitions",
        "4": "groups", "g": "groups"}
HELP = "1/n nodes  2/t topics  3/p partitions  4/g groups  s sort  r reverse  q quit"


@dataclass(frozen=True, slots=True)
class ViewState:
    view: str = "nodes"
    sort: str = "node"
    descending: bool = False

    def key(self, key: str) -> ViewState | None:
        """The state after ``key``; None means quit."""
        if key in ("q", "Q", "\x03"):
            return None
        if key in KEYS:
            view = KEYS[key]
            return self if view == self.view else ViewState(view, SORTS[view][0], False)
        if key == "s":
            columns = SORTS[self.view]
            return replace(self, sort=columns[(columns.index(self.sort) + 1) % len(columns)])
        if key == "r":
            return replace(self, descending=not self.descending)
        return self


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _table(title: str, state: ViewState, headers: list[str], sort_column: dict[str, str]) -> Table:
    table = Table(title=title, expand=True, title_justify="left")
    for h in headers:
        mark = (" ▼" if state.descending else " ▲") if sort_column.get(state.sort) == h else ""
        table.add_column(h + mark, justify="left" if h in ("topic", "group", "address", "state", "why") else "right")
    return table


def render(rows: Rows, state: ViewState, clock: str) -> RenderableType:
    under = len(rows.under_replicated)
    header = Text.assemble(("kraft top", "bold"), f"  {clock}  ", f"nodes {len(rows.nodes)}  topics {len(rows.topics)}"
                           f"  groups {len(rows.groups)}  ",
                           (f"under-replicated {under}", "bold red" if under else "green"),
                           f"   view: {state.view}, sort: {state.sort} {'desc' if state.descending else 'asc'}")
    parts: list[RenderableType] = [header]
    if rows.error:
        parts.append(Text(f"cluster: {rows.error}", style="red"))
    key = sort_key(state.view, state.sort)
    if state.view == "nodes":
        t = _table("Nodes", state, ["node", "address", "state", "CPU %", "memory", "requests/s", "partitions led",
                                    "replicas"],
                   {"node": "node", "cpu": "CPU %", "memory": "memory", "requests": "requests/s",
                    "led": "partitions led"})
        for n in sorted(rows.nodes, key=key, reverse=state.descending):
            t.add_row(f"{n.node_id}{' *' if n.controller else ''}", n.address,
                      Text(n.up, style="green" if n.up == "up" else "red"), _num(n.cpu_percent),
                      _bytes(n.memory_bytes), _num(n.requests_per_s), str(n.partitions_led), str(n.replicas))
        parts += [t, Text("* metadata leader (controller)", style="dim")]
    elif state.view == "topics":
        t = _table("Topics", state, ["topic", "partitions", "records/s in", "records/s out", "size",
                                     "under-replicated"],
                   {"name": "topic", "in": "records/s in", "out": "records/s out", "size": "size",
                    "under": "under-replicated"})
        for tr in sorted(rows.topics, key=key, reverse=state.descending):
            t.add_row(tr.name, str(tr.partitions), _num(tr.records_in_per_s), _num(tr.records_out_per_s),
                      _bytes(tr.size_bytes), Text(str(tr.under_replicated), style="red" if tr.under_replicated else ""))
        parts.append(t)
    elif state.view == "partitions":
        led = Table(title="Partitions led per node", expand=True, title_justify="left")
        for h in ("node", "partitions led", "replicas"):
            led.add_column(h, justify="right")
        for n in sorted(rows.nodes, key=lambda r: r.node_id):
            led.add_row(str(n.node_id), str(n.partitions_led), str(n.replicas))
        t = _table(f"Under-replicated partitions ({under})", state, ["topic", "partition", "leader", "why"],
                   {"topic": "topic", "leader": "leader"})
        for topic, partition, leader, why in sorted(rows.under_replicated, key=key, reverse=state.descending):
            t.add_row(topic, str(partition), "none" if leader is None else str(leader), why)
        parts += [led, t]
    else:
        t = _table("Consumer groups", state, ["group", "state", "members", "partitions", "lag"],
                   {"name": "group", "lag": "lag", "members": "members"})
        for g in sorted(rows.groups, key=key, reverse=state.descending):
            t.add_row(g.group_id, g.state, str(g.members), str(g.partitions),
                      Text(str(g.lag), style="yellow" if g.lag else ""))
        parts.append(t)
    parts.append(Text(HELP, style="reverse"))
    return Group(*parts)
