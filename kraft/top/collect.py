"""``kraft top``'s eyes: one ``Observation`` of the cluster per refresh.

Owns: scraping every node's ``/metrics`` that has an HTTP address (the one it announced in the node
registry, else the config's; in parallel, each within ``SCRAPE_TIMEOUT_S``, labels kept), and the
cluster's nodes, topics and groups from ``Admin`` (bounded: ``TOPICS_MAX`` topics and ``GROUPS_MAX``
groups described per refresh).
Must not: compute rates or draw (``kraft.top.model``, ``kraft.top.view``).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from kraft.apis import Admin
from kraft.apis.types import GroupDescription, NodeDescription, TopicDescription
from kraft.errors import GroupIdNotFound, KraftError, UnknownTopicOrPartition
from kraft.metrics_client import http_addresses
from kraft.top.model import Labels, NodeObservation, Observation

SCRAPE_TIMEOUT_S = 0.8  # a refresh is every second: a node slower than this shows as down
SCRAPES_IN_PARALLEL_MAX = 8
TOPICS_MAX = 200
GROUPS_MAX = 100
# Only these families are kept from a scrape (the per-partition ones are large and unused here).
WANTED = ("process_cpu_seconds_total", "process_resident_memory_bytes", "kraft_requests_total",
          "kraft_topic_records_in_total", "kraft_topic_records_out_total")


def parse(text: str) -> dict[str, dict[Labels, float]]:
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in WANTED:
                out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


def scrape(address: str) -> tuple[dict[str, dict[Labels, float]] | None, str | None]:
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=SCRAPE_TIMEOUT_S) as answer:
            return parse(answer.read().decode()), None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))


class Collector:
    def __init__(self, bootstrap: str, http_nodes: Mapping[int, str]) -> None:
        self.admin = Admin(bootstrap, request_timeout_ms=5000)
        self.http_nodes = dict(http_nodes)  # a config's; each refresh adds what nodes announced
        self.pool = ThreadPoolExecutor(max_workers=SCRAPES_IN_PARALLEL_MAX)

    def observe(self) -> Observation:
        error = None
        nodes: list[NodeDescription] = []
        topics: list[TopicDescription] = []
        groups: list[GroupDescription] = []
        controller = None
        scrapes = {}
        try:
            cluster = self.admin.describe_cluster()
            nodes, controller = list(cluster.nodes), cluster.controller
            # Scrapes run while the topics and groups are described.
            scrapes = {n: self.pool.submit(scrape, a) for n, a in http_addresses(nodes, self.http_nodes).items()}
            topics = self._topics()
            groups = self._groups()
        except KraftError as exc:
            error = str(exc)
            if not scrapes:  # the cluster did not answer: the config's nodes may still
                scrapes = {n: self.pool.submit(scrape, a) for n, a in self.http_nodes.items()}
        known = {n.node_id for n in nodes}
        # A node the file names but the metadata does not (yet): shown with what its scrape says.
        nodes += [NodeDescription(n, a, 0) for n, a in self.http_nodes.items() if n not in known]
        observed = []
        for n in sorted(nodes, key=lambda d: d.node_id):
            future = scrapes.get(n.node_id)
            samples, why = future.result() if future is not None else (None, None)
            observed.append(NodeObservation(n, samples, why))
        return Observation(time.monotonic(), observed, topics, groups, controller, error)

    def _topics(self) -> list[TopicDescription]:
        out = []
        for name in self.admin.list_topics()[:TOPICS_MAX]:
            try:
                out.append(self.admin.describe_topic(name))
            except UnknownTopicOrPartition:
                continue
        return out

    def _groups(self) -> list[GroupDescription]:
        out = []
        for group_id in self.admin.list_groups()[:GROUPS_MAX]:
            try:
                out.append(self.admin.describe_group(group_id))
            except GroupIdNotFound:
                continue
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.admin.close()
