"""The console's routes on a node's HTTP listener (or ``kraft console``'s): pages, actions, JSON, script.

Owns: the path table of the console (``add_routes``), the shape every page and action answer
takes (a whole page; an action redirects back with a notice or an error, as ``/path?notice=...``),
and the two checks every write action passes first: a read-only console (``console_read_only``)
refuses it with 403 CLUSTER_AUTHORIZATION_FAILED, and a form posted from another site (its
``Origin`` is not this host) is refused with 403 too, so a page elsewhere cannot make a browser
delete a topic here. A failing cluster call becomes the page's error line (``NAME: message``),
never a traceback; bad form input is INVALID_REQUEST (400).
Must not: build markup itself (``kraft.console.pages``) or talk to the cluster but through
``ConsoleCluster``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from kraft.console import html as ui
from kraft.console.cluster import ConsoleCluster
from kraft.console.pages import actions, apps, groups, messages, overview, topics
from kraft.console.pages.common import Ctx, Page, first
from kraft.errors import ClusterAuthorizationFailed, InvalidRequest, KraftError
from kraft.node.http import Request, Response, Routes

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
# Scripts only from this origin (no inline script can run, whatever a value holds); the pages'
# own <style> and SVG need inline styles.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)

PageRender = Callable[[Ctx, Request], Page]
Action = Callable[[ConsoleCluster, dict[str, list[str]]], "actions.Done"]


@dataclass(frozen=True, slots=True)
class _Route:
    path: str
    render: PageRender


PAGES = (
    _Route("/", overview.render),
    _Route("/topics", topics.render_list),
    _Route("/topic", topics.render_topic),
    _Route("/messages", messages.render),
    _Route("/groups", groups.render_list),
    _Route("/group", groups.render_group),
    _Route("/connect", apps.render_connect),
    _Route("/streams", apps.render_streams),
)

# Write actions (POST): each returns where to go and what to say; a failure returns to the form's ``back``.
ACTIONS: dict[str, Action] = {
    "/topics/create": actions.create_topic,
    "/topic/alter": actions.alter_configs,
    "/topic/partitions": actions.add_partitions,
    "/topic/delete": actions.delete_topic,
    "/messages/produce": actions.produce,
    "/group/reset": actions.reset_offsets,
}


class Console:
    def __init__(self, cluster: ConsoleCluster, *, read_only: bool) -> None:
        self.cluster = cluster
        self.read_only = read_only

    def add_routes(self, routes: Routes) -> None:
        for route in PAGES:
            routes.add(route.path, self._page(route.render))
        for path, action in ACTIONS.items():
            routes.add(path, self._action(action), methods=("POST",))
        routes.add("/console/api/samples", self._samples)
        routes.add("/console/fragment/throughput", self._throughput_fragment)
        routes.add(ui.SCRIPT_PATH, _script)

    # --- pages ------------------------------------------------------------------------------------
    def _page(self, render: PageRender) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            notice = first(request.query, "notice")
            error = first(request.query, "error")
            try:
                page = render(Ctx(self.cluster, self.read_only), request)
            except InvalidRequest as e:
                page = Page("Bad request", request.path, None, status=400)
                error = str(e)
            except KraftError as e:
                page = Page("Cluster error", request.path, None, status=502)
                error = str(e)
            body = ui.page(page.title, page.current, page.body, read_only=self.read_only, notice=notice,
                           error=error, refresh_s=page.refresh_s)
            return Response(page.status, body.encode(), HTML, SECURITY_HEADERS)
        return handle

    # --- actions ----------------------------------------------------------------------------------
    def _action(self, action: Action) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            refused = self._refusal(request)
            if refused is not None:
                return self._refused(request, refused)
            form = request.form()
            back = _back(form)
            try:
                done = action(self.cluster, form)
            except InvalidRequest as e:
                return _redirect(ui.url(back.path, **back.query, error=str(e)))
            except KraftError as e:
                log.info("console action %s failed: %s", request.path, e)
                return _redirect(ui.url(back.path, **back.query, error=str(e)))
            return _redirect(ui.url(done.path, **done.query, notice=done.notice))
        return handle

    def _refusal(self, request: Request) -> KraftError | None:
        if self.read_only:
            return ClusterAuthorizationFailed("this console is read-only (console_read_only = true in cluster.ini)")
        origin = request.headers.get("origin")
        host = request.headers.get("host")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
            return ClusterAuthorizationFailed(f"a form posted from {origin} is refused: only pages of this console "
                                              "may change the cluster")
        return None

    def _refused(self, request: Request, error: KraftError) -> Response:
        body = ui.page("Refused", request.path, ui.h("p", None, ui.link("/", "Back to the overview")),
                       read_only=self.read_only, error=str(error))
        return Response(403, body.encode(), HTML, SECURITY_HEADERS)

    # --- JSON and fragments -------------------------------------------------------------------------
    def _samples(self, request: Request) -> Response:
        """This node's per-second rates (``since_ms``: only later ones), for other nodes' consoles."""
        since = first(request.query, "since_ms")
        try:
            since_ms = int(since) if since else 0
        except ValueError:
            return Response(400, b"since_ms must be an integer (ms)\n")
        own = self.cluster.own_rates
        rates = own(since_ms) if own is not None else []
        body = {"node": self.cluster.own_node, "rates": [r.as_dict() for r in rates]}
        return Response(200, json.dumps(body).encode(), "application/json")

    def _throughput_fragment(self, _request: Request) -> Response:
        """The overview's charts alone: its script swaps them in every few seconds."""
        return Response(200, overview.charts(self.cluster).encode(), HTML, SECURITY_HEADERS)


@dataclass(frozen=True, slots=True)
class _Back:
    path: str
    query: dict[str, str]


def _back(form: dict[str, list[str]]) -> _Back:
    """Where a failed action returns to: the form's ``back`` field when it is a console path."""
    back = first(form, "back") or "/"
    parts = urlsplit(back)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return _Back("/", {})  # never redirect off this console
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items() if k not in ("notice", "error")}
    return _Back(parts.path, query)


def _redirect(location: str) -> Response:
    return Response(303, b"", HTML, (("Location", location), *SECURITY_HEADERS))


def _script(_request: Request) -> Response:
    body = resources.files("kraft.console").joinpath("static/console.js").read_bytes()
    return Response(200, body, "text/javascript; charset=utf-8", (("Cache-Control", "max-age=300"),))
