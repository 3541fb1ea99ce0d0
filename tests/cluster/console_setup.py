"""What the console's browser tests and ``make screenshots`` share: a 3-node cluster with HTTP ports
holding a topic with records of every kind, an empty consumer group with known lag, a group with a
member, and a headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ORDERS = "orders"
LAGGING = "lagging"  # one partition: LAG_END records, the group committed LAG_COMMITTED
LAG_END = 25
LAG_COMMITTED = 10
GROUP = "billing"
PAGES = [("overview", "/"), ("topics", "/topics"), ("topic", f"/topic?name={ORDERS}"),
         ("messages", f"/messages?topic={ORDERS}&partition=0&from=start"), ("groups", "/groups"),
         ("group", f"/group?id={GROUP}"), ("connect", "/connect"), ("streams", "/streams")]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        return "chromium and chromium-driver are not installed (Debian packages; `make test` installs them as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def start_browser(width: int = 1400, height: int = 1000):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=os.devnull), options=options)


def populate(cluster: Cluster) -> None:
    """Records of every kind in ``orders``, and ``billing`` with lag LAG_END - LAG_COMMITTED on ``lagging``."""
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(ORDERS, partitions=3, replication_factor=3)
        admin.create_topic(LAGGING, partitions=1, replication_factor=3)
    cluster.wait_leaders(ORDERS)
    cluster.wait_leaders(LAGGING)
    producer = Producer(cluster.bootstrap)
    try:
        for i in range(30):
            order = {"id": i, "item": "book" if i % 2 else "<b>lamp</b>", "price": 10 + i}
            producer.send(ORDERS, json.dumps(order).encode(), key=f"customer-{i % 5}".encode(),
                          headers=[("source", b"web"), ("trace", bytes([0, i]))])
        producer.send(ORDERS, bytes(range(48)), key=b"binary", partition=0)
        producer.send(ORDERS, b"plain text order", key=None, partition=0)
        for i in range(LAG_END):
            producer.send(LAGGING, f"event {i}".encode(), partition=0)
        producer.flush()
    finally:
        producer.close()
    consumer = Consumer(cluster.bootstrap, group_id=GROUP, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(LAGGING, 0): LAG_COMMITTED})
    finally:
        consumer.close()


def write_screenshots(base: str, out: Path) -> list[Path]:
    """A PNG of each console page, served at ``base``, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    driver = start_browser()
    written = []
    try:
        for name, path in PAGES:
            driver.get(base + path)
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1400, min(max(int(height) + 40, 600), 2400))
            target = out / f"{name}.png"
            driver.save_screenshot(str(target))
            written.append(target)
    finally:
        driver.quit()
    return written
