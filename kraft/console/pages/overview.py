"""The overview page: the cluster's nodes, its metadata leader, partitions led, under-replicated
partitions, and throughput charts of the last 15 minutes from the nodes' own samples.

Owns: that page's layout and the charts fragment its script refreshes (``charts``).
Must not: talk to the cluster but through ``ConsoleCluster``.
"""

from __future__ import annotations

from kraft.console import charts as svg
from kraft.console.cluster import ConsoleCluster, NodeRow
from kraft.console.html import Html, h, join, link, table
from kraft.console.pages.common import Ctx, Page, size
from kraft.node.http import Request

CHARTS_REFRESH_S = 5
CHART_POINTS_MAX = 300  # a 15-minute series is averaged down to this many points (3 s each)


def render(ctx: Ctx, _request: Request) -> Page:
    cluster = ctx.cluster
    ov = cluster.overview()
    summary = table(["cluster id", "metadata leader (controller)", "nodes", "topics", "partitions",
                     "under-replicated partitions"],
                    [[ov.cluster_id or "?", f"node {ov.controller}" if ov.controller is not None else "none",
                      len(ov.nodes), ov.topics, ov.partitions,
                      h("span", {"class": "bad" if ov.under_replicated else "ok", "id": "under-replicated"},
                        len(ov.under_replicated))]], id_="summary")
    nodes = table(["node", "client address", "rack", "version", "state", "CPU", "memory", "partitions led",
                   "replicas"], [_node_row(n, ov.controller) for n in ov.nodes], id_="nodes")
    under = table(["topic", "partition"], [[link("/topic", t, name=t), p] for t, p in ov.under_replicated],
                  id_="under-replicated-list", empty="none: every partition's replicas are in sync")
    body = join([summary, h("h2", None, "Nodes"), nodes,
                 h("p", {"class": "muted"}, "CPU, memory, versions and charts come from each node's HTTP port; "
                   "nodes without one (a --bootstrap console) show none."),
                 h("h2", None, "Throughput (last 15 minutes)"),
                 h("div", {"id": "charts", "data_fragment": "/console/fragment/throughput"}, charts(cluster)),
                 h("h2", None, "Under-replicated partitions"), under])
    return Page("Overview", "/", body, refresh_s=CHARTS_REFRESH_S)


def _node_row(n: NodeRow, controller: int | None) -> list[object]:
    f = n.figures
    if f is None:
        state: object = "no HTTP address"
    elif f.error is not None:
        state = h("span", {"class": "bad", "title": f.error}, "down")
    else:
        state = h("span", {"class": "ok" if f.ready else "bad"}, "ready" if f.ready else "not ready")
    figures = f.figures if f is not None and f.error is None else {}
    cpu = figures.get("cpu_seconds")
    memory = figures.get("memory_bytes")
    name = f"{n.node_id}" + (" (controller)" if n.node_id == controller else "")
    return [name, f"{n.host}:{n.port}", n.rack or "", (f.version if f is not None else None) or "?", state,
            f"{cpu:.1f} s" if cpu is not None else "?", size(memory), n.partitions_led, n.replicas]


def charts(cluster: ConsoleCluster) -> Html:
    per_node = cluster.throughput()
    if not per_node:
        return h("p", {"class": "muted"}, "no samples: this console knows no node's HTTP address")

    def series(attr: str) -> dict[str, list[tuple[int, float]]]:
        return {f"node {n}": _thin([(r.time_ms, float(getattr(r, attr))) for r in rates])
                for n, rates in sorted(per_node.items())}

    return h("div", {"class": "charts"},
             svg.line_chart("records in /s", series("records_in"), id_="chart-records-in"),
             svg.line_chart("records out /s", series("records_out"), id_="chart-records-out"),
             svg.line_chart("bytes in /s", series("bytes_in"), unit="B/s", id_="chart-bytes-in"),
             svg.line_chart("requests /s", series("requests"), id_="chart-requests"))


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Average neighbouring points so a chart draws at most ``CHART_POINTS_MAX``."""
    step = -(-len(points) // CHART_POINTS_MAX)
    if step <= 1:
        return points
    return [(chunk[-1][0], sum(v for _, v in chunk) / len(chunk))
            for chunk in (points[i:i + step] for i in range(0, len(points), step))]
