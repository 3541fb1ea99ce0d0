"""HTML built so that user data cannot become markup: every page of the console is made here.

Owns: ``Html`` (a ``str`` known to be markup), ``h`` (an element from a tag, attributes and
children: a plain ``str`` child or attribute value is escaped, an ``Html`` child is kept), the
page layout (navigation, flash messages, the stylesheet) and small helpers (tables, forms, links).
A page never formats user data into markup any other way, so keys, values, topic and group names
are escaped by construction, not by remembering to.
Must not: talk to the cluster or know what a page shows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlencode

VOID = frozenset({"br", "hr", "img", "input", "meta", "link"})
NAV = (("/", "Overview"), ("/topics", "Topics"), ("/messages", "Messages"), ("/groups", "Consumer groups"),
       ("/connect", "Connect"), ("/streams", "Streams"))
SCRIPT_PATH = "/console/static/console.js"


class Html(str):
    """Markup that is safe to send as it is (built by ``h`` or from a constant)."""

    __slots__ = ()


def esc(value: object) -> Html:
    """``value`` as text inside markup (``Html`` stays as it is)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def _children(children: Iterable[object]) -> str:
    out = []
    for child in children:
        if child is None:
            continue
        if isinstance(child, str | int | float):
            out.append(esc(child))
        else:
            out.append(_children(child))  # type: ignore[arg-type]  # an iterable of children
    return "".join(out)


def h(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Html:
    """``<tag attrs>children</tag>``; an attribute that is None or False is left out, True is bare."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        attr = name.rstrip("_").replace("_", "-")  # class_ -> class, data_confirm -> data-confirm
        parts.append(attr if value is True else f'{attr}="{esc(value)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in VOID:
        return Html(opening)
    return Html(f"{opening}{_children(children)}</{tag}>")


def join(parts: Iterable[object]) -> Html:
    return Html(_children(parts))


def link(path: str, text: object, **query: object) -> Html:
    return h("a", {"href": url(path, **query)}, text)


def url(path: str, **query: object) -> str:
    """``path`` with ``query`` (None values left out), for an ``href`` (``h`` escapes it)."""
    given = {k: str(v) for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(given)}" if given else path


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, id_: str | None = None,
          empty: str = "nothing yet") -> Html:
    body = [h("tr", None, [h("td", None, cell) for cell in row]) for row in rows]
    if not body:
        return h("p", {"class": "muted"}, empty)
    return h("table", {"id": id_}, h("thead", None, h("tr", None, [h("th", None, x) for x in headers])),
             h("tbody", None, body))


def field(label: str, name: str, value: object = "", *, type_: str = "text", size: int | None = None,
          placeholder: str | None = None, required: bool = False) -> Html:
    return h("label", None, label, " ",
             h("input", {"type": type_, "name": name, "value": value, "size": size, "placeholder": placeholder,
                         "required": required}))


def select(label: str, name: str, options: Sequence[tuple[str, str]], chosen: str | None) -> Html:
    return h("label", None, label, " ", h("select", {"name": name}, [
        h("option", {"value": value, "selected": value == chosen}, text) for value, text in options]))


def form(action: str, *children: object, method: str = "post", id_: str | None = None,
         confirm: str | None = None, read_only: bool = False) -> Html:
    """A form; a write form (``method="post"``) is shown disabled in a read-only console (the server
    refuses it anyway)."""
    disabled = read_only and method == "post"
    return h("form", {"action": action, "method": method, "id": id_, "data_confirm": confirm,
                      "class": "disabled" if disabled else None},
             h("fieldset", {"disabled": disabled}, *children))


def button(text: str, *, name: str | None = None, value: str | None = None) -> Html:
    return h("button", {"type": "submit", "name": name, "value": value}, text)


def page(title: str, current: str, body: object, *, read_only: bool, notice: str | None = None,
         error: str | None = None, refresh_s: int | None = None) -> Html:
    """A whole console page: navigation, the flash messages of a redirect, then ``body``."""
    nav = h("nav", None, h("strong", None, "kraft"), [
        h("a", {"href": path, "class": "current" if path == current else None}, text) for path, text in NAV],
        h("span", {"class": "badge"}, "read-only") if read_only else None)
    flashes = [h("p", {"class": "notice", "id": "notice"}, notice) if notice else None,
               h("p", {"class": "error", "id": "error"}, error) if error else None]
    return Html("<!DOCTYPE html>" + h(
        "html", {"lang": "en"},
        h("head", None, h("meta", {"charset": "utf-8"}), h("title", None, f"{title} · kraft console"),
          h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
          h("link", {"rel": "icon", "href": "data:,"}),  # no icon: else browsers ask for /favicon.ico
          h("style", None, Html(STYLE)),
          h("script", {"src": SCRIPT_PATH, "defer": True})),
        h("body", {"data_refresh_s": refresh_s}, nav, h("main", None, h("h1", None, title), flashes, body))))


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
nav{background:#1d2430;padding:.6em 1em;display:flex;gap:1.2em;align-items:center}
nav a{color:#c9d1dc;text-decoration:none}nav a.current{color:#fff;border-bottom:2px solid #4aa3ff}
nav strong{color:#fff}.badge{background:#b35c00;color:#fff;padding:.1em .5em;border-radius:3px;margin-left:auto}
main{padding:1em 2em;max-width:1400px}h2{margin-top:1.6em;font-size:1.15em}
table{border-collapse:collapse;background:#fff;margin:.5em 0}
th,td{border:1px solid #d5dae1;padding:.25em .6em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#eef1f5}td pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:60em}
.muted{color:#6b7686}.notice{background:#e3f4e6;padding:.5em}.error{background:#fbe3e3;padding:.5em}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
form{margin:.6em 0}fieldset{border:1px solid #d5dae1;background:#fff;display:flex;flex-wrap:wrap;gap:.8em;
align-items:center}form.disabled{opacity:.5}
.charts{display:flex;flex-wrap:wrap;gap:1em}svg{background:#fff;border:1px solid #d5dae1}
svg text{font-size:11px;fill:#44505f}.kind{font-size:.75em;color:#6b7686}
"""
