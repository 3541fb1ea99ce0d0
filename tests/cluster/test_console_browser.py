"""The web console in a real browser (headless Chromium through Selenium) against a real 3-node
cluster (issue 15): every page loads without errors in the browser's console, the message browser
finds a produced record, a topic created through the form exists, a group's lag shows the right
numbers, the overview draws charts from the nodes' samples, and a read-only console
(``kraft console --read-only``) refuses writes server-side (403) even when its disabled form is
forced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft import Admin, Producer
from kraft.testing.local_cluster import Cluster, free_ports, wait_for
from tests.cluster.console_setup import (
    GROUP,
    LAG_COMMITTED,
    LAG_END,
    LAGGING,
    ORDERS,
    PAGES,
    browser_missing,
    populate,
    start_browser,
)

KRAFT = str(Path(sys.executable).parent / "kraft")
pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    why = browser_missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    c = Cluster(tmp_path_factory.mktemp("console"), 3, http=True, fsync="never")
    c.start_all()
    try:
        populate(c)
        yield c
    finally:
        c.stop_all()


@pytest.fixture(scope="module")
def base(cluster: Cluster) -> str:
    return f"http://127.0.0.1:{cluster.http_ports[1]}"


@pytest.fixture(scope="module")
def driver(cluster: Cluster) -> Iterator[Any]:
    d = start_browser()
    try:
        yield d
    finally:
        d.quit()


def errors_in_console(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_every_page_loads_without_console_errors(driver: Any, base: str) -> None:
    driver.get_log("browser")  # start clean
    for name, path in PAGES:
        driver.get(base + path)
        assert "kraft console" in driver.title, name
        assert not driver.find_elements("id", "error"), (name, driver.find_element("id", "error").text)
        assert errors_in_console(driver) == [], name
    driver.get(base + f"/topic?name={ORDERS}")
    assert len(driver.find_elements("css selector", "#partitions tbody tr")) == 3


def test_overview_shows_nodes_and_charts(driver: Any, base: str, cluster: Cluster) -> None:
    driver.get(base + "/")
    rows = driver.find_elements("css selector", "#nodes tbody tr")
    assert len(rows) == 3
    assert all("ready" in r.text and "0.1.0" in r.text for r in rows)
    assert driver.find_element("id", "under-replicated").text == "0"
    # Charts from every node's own samples: a polyline per node once a node has two samples.
    wait_for(lambda: (driver.refresh(), len(driver.find_elements("css selector", "#chart-records-in polyline")))[1]
             == 3 or None, 15, "a records-in line per node")
    assert errors_in_console(driver) == []


def test_message_browser_finds_a_produced_record(driver: Any, base: str, cluster: Cluster) -> None:
    producer = Producer(cluster.bootstrap)
    try:
        meta = producer.send(ORDERS, b'{"note": "find <me>", "n": 7}', key=b"needle-key",
                             headers=[("h1", b"v1")]).result(timeout=30)
    finally:
        producer.close()
    query = urllib.parse.urlencode({"topic": ORDERS, "partition": meta.partition, "from": "start",
                                    "filter": "needle"})
    driver.get(f"{base}/messages?{query}")
    rows = driver.find_elements("css selector", "#records tbody tr")
    assert len(rows) == 1
    cells = rows[0].find_elements("tag name", "td")
    assert cells[0].text == str(meta.offset)
    assert "needle-key" in cells[2].text
    assert '"note": "find <me>"' in cells[3].text  # pretty-printed JSON, shown as text (escaped)
    assert "h1: text\nv1" in cells[4].text
    # The same record from its offset and from a timestamp, and binary values as hex.
    driver.get(f"{base}/messages?topic={ORDERS}&partition={meta.partition}&from=offset&offset={meta.offset}&limit=1")
    assert driver.find_element("css selector", "#records tbody tr td").text == str(meta.offset)
    driver.get(f"{base}/messages?topic={ORDERS}&partition={meta.partition}&from=timestamp"
               f"&timestamp={meta.timestamp_ms}&filter=needle")
    assert len(driver.find_elements("css selector", "#records tbody tr")) == 1
    driver.get(f"{base}/messages?topic={ORDERS}&partition=0&from=start&filter=binary")
    assert "00000000  00 01 02 03" in driver.find_element("css selector", "#records").text
    assert errors_in_console(driver) == []


def test_produce_a_test_message_through_the_form(driver: Any, base: str) -> None:
    driver.get(f"{base}/messages?topic={ORDERS}")
    form = driver.find_element("id", "produce")
    form.find_element("name", "partition").send_keys("1")
    form.find_element("name", "key").send_keys("from-form")
    form.find_element("name", "value").send_keys("<img src=x onerror=alert(1)>")
    form.find_element("css selector", "button").click()
    notice = wait_for(lambda: driver.find_elements("id", "notice"), 15, "the produce notice")[0].text
    assert notice.startswith(f"produced to {ORDERS} partition 1 at offset ")
    cell = driver.find_element("css selector", "#records tbody tr td:nth-child(4) pre")
    assert cell.text == "<img src=x onerror=alert(1)>"  # shown as text, not run
    assert not driver.find_elements("css selector", "#records img")
    assert errors_in_console(driver) == []


def test_topic_creation_through_the_form(driver: Any, base: str, cluster: Cluster) -> None:
    driver.get(base + "/topics")
    form = driver.find_element("id", "create-topic")
    form.find_element("name", "name").send_keys("from-browser")
    form.find_element("name", "partitions").send_keys("4")
    form.find_element("name", "configs").send_keys("retention.ms=3600000")
    form.find_element("css selector", "button").click()
    wait_for(lambda: "Topic from-browser" in driver.title or None, 15, "the new topic's page")
    assert driver.find_element("id", "notice").text == "created topic from-browser"
    with Admin(cluster.bootstrap) as admin:
        assert len(admin.describe_topic("from-browser").partitions) == 4
        assert admin.describe_configs("from-browser")["retention.ms"].value == 3600000
    # A bad config comes back as the cluster's error, on the form's page.
    driver.get(base + "/topics")
    form = driver.find_element("id", "create-topic")
    form.find_element("name", "name").send_keys("bad-config")
    form.find_element("name", "configs").send_keys("no.such.config=1")
    form.find_element("css selector", "button").click()
    error = wait_for(lambda: driver.find_elements("id", "error"), 15, "the error line")[0].text
    assert error.startswith("INVALID_CONFIG") and "no.such.config" in error


def test_delete_asks_and_needs_the_name(driver: Any, base: str, cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("doomed", partitions=1, replication_factor=1)
    driver.get(base + "/topic?name=doomed")
    form = driver.find_element("id", "delete-topic")
    form.find_element("name", "confirm").send_keys("doomed")
    form.find_element("css selector", "button").click()
    alert = driver.switch_to.alert
    assert alert.text == "Delete topic doomed and all its records?"
    alert.accept()
    wait_for(lambda: driver.find_elements("id", "notice"), 15, "the delete notice")
    with Admin(cluster.bootstrap) as admin:
        assert "doomed" not in admin.list_topics()


def test_group_lag_shows_the_right_numbers(driver: Any, base: str) -> None:
    driver.get(base + "/groups")
    row = next(r for r in driver.find_elements("css selector", "#groups tbody tr") if r.text.startswith(GROUP))
    assert row.find_elements("tag name", "td")[-1].text == str(LAG_END - LAG_COMMITTED)
    driver.get(f"{base}/group?id={GROUP}")
    cells = [c.text for c in driver.find_elements("css selector", "#lag tbody tr td")]
    assert cells[:2] == [LAGGING, "0"]
    assert cells[3:] == [str(LAG_COMMITTED), str(LAG_END), str(LAG_END - LAG_COMMITTED)]
    assert f"{LAGGING}/0: {LAG_END - LAG_COMMITTED}" in driver.find_element("id", "lag-chart").get_attribute(
        "innerHTML")
    # An empty group may be reset (as the CLI); the form is there and works.
    form = driver.find_element("id", "reset-offsets")
    to = form.find_element("name", "to")
    to.clear()
    to.send_keys(str(LAG_COMMITTED + 5))
    form.find_element("css selector", "button").click()
    driver.switch_to.alert.accept()
    wait_for(lambda: driver.find_elements("id", "notice"), 15, "the reset notice")
    cells = [c.text for c in driver.find_elements("css selector", "#lag tbody tr td")]
    assert cells[-1] == str(LAG_END - LAG_COMMITTED - 5)


@pytest.fixture(scope="module")
def read_only_console(cluster: Cluster) -> Iterator[str]:
    """``kraft console --read-only`` on a port of its own, against the cluster's config."""
    port = free_ports(1)[0]
    proc = subprocess.Popen([KRAFT, "console", "--port", str(port), "--read-only",
                             "--config", str(cluster.config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool | None:
        try:
            with urllib.request.urlopen(base + "/console/static/console.js", timeout=2):
                return True
        except OSError:
            return None

    try:
        wait_for(up, 30, "kraft console to listen")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_read_only_console_refuses_writes(driver: Any, read_only_console: str, cluster: Cluster) -> None:
    driver.get(read_only_console + "/topics")
    assert "read-only" in driver.find_element("tag name", "nav").text
    form = driver.find_element("id", "create-topic")
    assert form.find_element("tag name", "fieldset").get_attribute("disabled") is not None
    # Forced past the disabled form, the server still refuses.
    driver.execute_script("arguments[0].querySelector('fieldset').disabled = false;", form)
    form.find_element("name", "name").send_keys("not-allowed")
    form.find_element("css selector", "button").click()
    wait_for(lambda: "Refused" in driver.title or None, 15, "the refusal page")
    assert "CLUSTER_AUTHORIZATION_FAILED" in driver.find_element("id", "error").text
    request = urllib.request.Request(read_only_console + "/topic/delete",
                                     data=urllib.parse.urlencode({"topic": ORDERS, "confirm": ORDERS}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    with Admin(cluster.bootstrap) as admin:
        topics = admin.list_topics()
    assert ORDERS in topics and "not-allowed" not in topics
    # Reading still works, through the standalone console's own clients.
    driver.get(f"{read_only_console}/group?id={GROUP}")
    assert driver.find_elements("css selector", "#lag tbody tr")
