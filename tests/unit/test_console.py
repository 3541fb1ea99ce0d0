"""The web console's pure parts and its HTTP checks, without a cluster (issue 15).

Escaping by construction (``kraft.console.html``), how values are shown (text, JSON, hex), charts,
the per-second sample ring, form parsing, the HTTP server's POST handling, and the refusals every
write action passes first (read-only, another site's form) — answered before the cluster is asked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from kraft.console import charts, records
from kraft.console.app import Console
from kraft.console.cluster import ConsoleCluster
from kraft.console.html import Html, esc, h, page, url
from kraft.console.pages import actions
from kraft.console.pages.common import int_field, key_values
from kraft.console.pages.messages import parse_timestamp
from kraft.errors import InvalidRequest
from kraft.node.http import BODY_BYTES_MAX, HttpServer, Request, Response, Routes
from kraft.node.samples import Sample, SampleRing, rates
from kraft.node.stats import NodeStats

EVIL = '<script>alert("x")</script>&\'"'


# --- markup ---------------------------------------------------------------------------------------

def test_text_and_attributes_are_escaped_markup_is_kept() -> None:
    out = h("td", {"title": EVIL, "class_": "c", "data_confirm": "a\"b", "hidden": True, "gone": None},
            EVIL, h("b", None, "bold"), [1, None, EVIL])
    assert "<script>" not in out
    assert out.count("&lt;script&gt;") == 3
    assert 'class="c"' in out and 'data-confirm="a&quot;b"' in out and " hidden" in out and "gone" not in out
    assert "<b>bold</b>" in out
    assert esc(Html("<i>kept</i>")) == "<i>kept</i>"
    assert isinstance(out, Html)


def test_page_escapes_title_and_flash_messages() -> None:
    out = page(EVIL, "/", "body", read_only=True, notice=EVIL, error=EVIL)
    assert "<script>" not in out
    assert "read-only" in out
    assert out.startswith("<!DOCTYPE html>")


def test_url_leaves_out_none_and_encodes() -> None:
    assert url("/messages", topic="a b&c", partition=None) == "/messages?topic=a+b%26c"
    assert url("/") == "/"


# --- values -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "fmt", "kind", "text"), [
    (None, "auto", "null", "null"),
    (b"hello", "auto", "text", "hello"),
    (b'{"a": [1, 2]}', "auto", "json", '{\n  "a": [\n    1,\n    2\n  ]\n}'),
    (b"42", "auto", "text", "42"),  # a bare number reads better as text ...
    (b"42", "json", "json", "42"),  # ... unless JSON is asked for
    (b"{not json", "auto", "text", "{not json"),
    (b"\x00\x01AB", "auto", "hex", "00000000  00 01 41 42" + " " * 36 + "  ..AB"),
    (b"\xff\xfe", "text", "hex", "00000000  ff fe" + " " * 42 + "  .."),
    (b"hi", "hex", "hex", "00000000  68 69" + " " * 42 + "  hi"),
    ("é".encode(), "auto", "text", "é"),
])
def test_show(data: bytes | None, fmt: str, kind: str, text: str) -> None:
    assert records.show(data, fmt) == (kind, text)


def test_show_cuts_large_values_and_says_so() -> None:
    kind, text = records.show(b"x" * (records.SHOWN_BYTES_MAX + 10))
    assert kind == "text" and text.endswith("… 10 more bytes") and len(text) < records.SHOWN_BYTES_MAX + 40
    kind, text = records.show("é".encode() * records.SHOWN_BYTES_MAX)  # the cut splits a character
    assert kind == "text"
    with pytest.raises(ValueError, match="format"):
        records.show(b"x", "yaml")


def test_matches_substring_of_key_or_value() -> None:
    assert records.matches("", None, None)
    assert records.matches("ord", b"order-1", None)
    assert records.matches("ok", None, b"\x00ok\xff")
    assert not records.matches("zz", b"a", b"b")


# --- charts -----------------------------------------------------------------------------------------

def test_line_chart_scales_and_escapes() -> None:
    svg = charts.line_chart(EVIL, {"node 1": [(0, 0.0), (60_000, 50.0)], EVIL: [(0, 100.0)]}, id_="c")
    assert svg.startswith("<svg") and "<script>" not in svg
    assert "100/s" in svg and "-1.0 min" in svg
    assert svg.count("<polyline") == 2
    assert "no samples yet" in charts.line_chart("t", {})


def test_bar_chart_labels() -> None:
    svg = charts.bar_chart("lag", [("t/0", 5.0), ("t/1", 1500.0)])
    assert "t/0: 5" in svg and "1.5k" in svg
    assert "nothing to show" in charts.bar_chart("lag", [])


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (999, "999"), (1500, "1.5k"), (2_500_000, "2.5M"),
                                              (0.5, "0.5"), (3e9, "3.0G")])
def test_human(value: float, shown: str) -> None:
    assert charts.human(value) == shown


# --- samples ----------------------------------------------------------------------------------------

def _sample(t: int, n: int) -> Sample:
    return Sample(t, n, 2 * n, 10 * n, 20 * n, n, 0)


def test_ring_is_bounded_and_rates_are_per_second() -> None:
    ring = SampleRing(size=3)
    for i, n in enumerate([0, 10, 30, 60]):
        ring.add(_sample(i * 2000, n))
    assert [s.time_ms for s in ring.samples()] == [2000, 4000, 6000]
    got = ring.rates()
    assert [(r.time_ms, r.records_in, r.bytes_out) for r in got] == [(4000, 10.0, 200.0), (6000, 15.0, 300.0)]
    assert [r.time_ms for r in ring.rates(since_ms=4000)] == [6000]
    with pytest.raises(ValueError):
        SampleRing(size=1)


def test_rates_never_negative_and_skip_equal_times() -> None:
    assert rates([_sample(0, 10), _sample(0, 20), _sample(1000, 5)])[0].records_in == 0.0


def test_sample_of_sums_topics_and_apis() -> None:
    from kraft.node.samples import sample_of

    stats = NodeStats()
    stats.traffic.produced("a", 100, 3)
    stats.traffic.produced("b", 50, 2)
    stats.traffic.fetched("a", 10, 1)
    stats.requests.started("kraft")
    stats.requests.finished("kraft", "produce", 0.001, "NOT_LEADER_OR_FOLLOWER")
    s = sample_of(stats, 7)
    assert (s.time_ms, s.records_in, s.bytes_in, s.records_out, s.bytes_out, s.requests, s.request_errors) == \
        (7, 5, 150, 1, 10, 1, 1)


# --- forms ------------------------------------------------------------------------------------------

def test_form_fields() -> None:
    assert key_values("a=1\n\n b = x=y \n", "configs") == {"a": "1", "b": "x=y"}
    with pytest.raises(InvalidRequest, match="'oops' is not name=value"):
        key_values("oops", "configs")
    assert int_field({"n": ["7"]}, "n") == 7
    assert int_field({}, "n", default=3) == 3
    for fields, message in [({}, "n is required"), ({"n": ["x"]}, "integer"), ({"n": ["0"]}, "at least 1")]:
        with pytest.raises(InvalidRequest, match=message):
            int_field(fields, "n", minimum=1)


def test_timestamps() -> None:
    assert parse_timestamp("1700000000000") == 1700000000000
    assert parse_timestamp("2023-11-14T22:13:20") == 1700000000000
    assert parse_timestamp("2023-11-14T23:13:20+01:00") == 1700000000000
    with pytest.raises(InvalidRequest, match="ISO 8601"):
        parse_timestamp("yesterday")


def test_delete_needs_the_name_typed_again() -> None:
    cluster = ConsoleCluster("127.0.0.1:1")  # never asked: the confirmation fails first
    with pytest.raises(InvalidRequest, match="type its name"):
        actions.delete_topic(cluster, {"topic": ["orders"], "confirm": ["order"]})


# --- HTTP -------------------------------------------------------------------------------------------

@pytest.fixture
def served() -> Iterator[str]:
    routes = Routes()
    routes.add("/echo", lambda r: Response(200, json.dumps({"form": r.form(), "m": r.method}).encode()),
               methods=("POST",))
    routes.add("/get", lambda r: Response(200, b"got", headers=(("X-Test", "1"),)))
    server = HttpServer("127.0.0.1", 0, routes)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


def _status(request: urllib.request.Request | str) -> int:
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_post_methods_and_body_limit(served: str) -> None:
    body = urllib.parse.urlencode({"a": "1", "b": ""}).encode()
    with urllib.request.urlopen(urllib.request.Request(served + "/echo", data=body), timeout=5) as answer:
        assert json.loads(answer.read()) == {"form": {"a": ["1"], "b": [""]}, "m": "POST"}
    with urllib.request.urlopen(served + "/get", timeout=5) as answer:
        assert answer.headers["X-Test"] == "1"
    assert _status(served + "/echo") == 405  # a GET of a POST-only path
    assert _status(urllib.request.Request(served + "/get", data=b"x")) == 405
    big = urllib.request.Request(served + "/echo", data=b"x" * (BODY_BYTES_MAX + 1))
    try:
        assert _status(big) == 413
    except (ConnectionResetError, BrokenPipeError, urllib.error.URLError):
        pass  # the server may close before the client finished sending: refused either way


def _console_routes(read_only: bool) -> Routes:
    routes = Routes()
    Console(ConsoleCluster("127.0.0.1:1"), read_only=read_only).add_routes(routes)
    return routes


def _post(routes: Routes, path: str, headers: dict[str, str]) -> Response:
    return routes.answer(Request("POST", path, {}, b"name=x&back=/topics", headers))


@pytest.mark.parametrize("path", ["/topics/create", "/topic/alter", "/topic/partitions", "/topic/delete",
                                  "/messages/produce", "/group/reset"])
def test_read_only_refuses_every_write_action(path: str) -> None:
    answer = _post(_console_routes(read_only=True), path, {"host": "h:1"})
    assert answer.status == 403
    assert b"CLUSTER_AUTHORIZATION_FAILED" in answer.body and b"read-only" in answer.body


def test_a_form_from_another_site_is_refused() -> None:
    answer = _post(_console_routes(read_only=False), "/topic/delete", {"host": "h:1", "origin": "http://evil:80"})
    assert answer.status == 403 and b"evil" in answer.body
    # The same site's form passes the check and fails on its own fields (nothing asked of the cluster).
    same = _post(_console_routes(read_only=False), "/topic/delete",
                                 {"host": "h:1", "origin": "http://h:1"})
    assert same.status == 303
    assert dict(same.headers)["Location"] == "/topics?error=INVALID_REQUEST%3A+topic+is+required"


def test_failed_action_never_redirects_off_the_console() -> None:
    routes = _console_routes(read_only=False)
    answer = routes.answer(Request("POST", "/topic/delete", {}, b"topic=t&back=http://evil/x", {"host": "h"}))
    assert dict(answer.headers)["Location"].startswith("/?error=")


def test_pages_send_a_script_policy_and_script() -> None:
    routes = _console_routes(read_only=False)
    script = routes.answer(Request("GET", "/console/static/console.js"))
    assert script.status == 200 and b"data-confirm" in script.body
    bad = routes.answer(Request("GET", "/messages", {"from": ["yesterday"]}))
    assert bad.status == 400 and b"INVALID_REQUEST: from must be one of" in bad.body
    assert "script-src 'self'" in dict(bad.headers)["Content-Security-Policy"]
