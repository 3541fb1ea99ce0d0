"""``kraft cluster metrics``' library side: scrape a node's ``/metrics`` and ``/health/ready`` and boil
them down to the figures a person looks at first.

Owns: ``http_addresses`` (where each node's HTTP listener is: the node registry over a config),
``scrape`` (HTTP GET with a timeout, parsed with prometheus_client's own text parser),
``KEY_FIGURES`` (name, unit, how it is computed from the samples: one table drives the CLI's rows,
its JSON keys and their tests) and ``NodeFigures``.
Must not: print (cli.py does) or know node internals: only the published metric names.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from kraft.apis.types import NodeDescription
from kraft.errors import KraftConnectionError

SCRAPE_TIMEOUT_S = 3.0

# Sample name (with labels dropped) -> every value of it, summed by the figures below.
Samples = Mapping[str, list[float]]


def _sum(name: str, absent: float | None = None) -> Callable[[Samples], float | None]:
    """The sum of every series of ``name``; ``absent`` when it has none (0 for counters that have no
    series until something happens, None for figures only some nodes have)."""
    return lambda s: sum(s[name]) if name in s else absent


def _ratio(total: str, count: str) -> Callable[[Samples], float | None]:
    def f(s: Samples) -> float | None:
        n = sum(s.get(count, []))
        return sum(s.get(total, [])) / n if n else None
    return f


# (key, label, unit, figure): unit is how the CLI shows it (seconds, bytes, or a plain number).
KEY_FIGURES: list[tuple[str, str, str, Callable[[Samples], float | None]]] = [
    ("cpu_seconds", "CPU time", "seconds", _sum("process_cpu_seconds_total")),
    ("memory_bytes", "resident memory", "bytes", _sum("process_resident_memory_bytes")),
    ("connections", "client connections", "", _sum("kraft_connections")),
    ("requests_in_flight", "requests in flight", "", _sum("kraft_requests_in_flight")),
    ("requests", "requests", "", _sum("kraft_requests_total", 0.0)),
    ("request_errors", "request errors", "", _sum("kraft_request_errors_total", 0.0)),
    ("request_mean_seconds", "mean request time", "seconds",
     _ratio("kraft_request_duration_seconds_sum", "kraft_request_duration_seconds_count")),
    ("records_in", "records in", "", _sum("kraft_topic_records_in_total", 0.0)),
    ("records_out", "records out", "", _sum("kraft_topic_records_out_total", 0.0)),
    ("bytes_in", "bytes in", "bytes", _sum("kraft_topic_bytes_in_total", 0.0)),
    ("bytes_out", "bytes out", "bytes", _sum("kraft_topic_bytes_out_total", 0.0)),
    ("partition_replicas", "partition replicas", "", _sum("kraft_partition_replicas")),
    ("partitions_led", "partitions led", "", _sum("kraft_raft_groups_led")),
    ("under_replicated", "under-replicated (led here)", "", _sum("kraft_partitions_under_replicated")),
    ("offline", "offline partitions (metadata leader)", "", _sum("kraft_partitions_offline")),
    ("metadata_leader", "metadata leader", "", _sum("kraft_raft_metadata_leader")),
    ("elections", "elections stood", "", _sum("kraft_raft_elections_total")),
    ("commit_mean_seconds", "mean commit time", "seconds",
     _ratio("kraft_raft_commit_duration_seconds_sum", "kraft_raft_commit_duration_seconds_count")),
    ("fsync_mean_seconds", "mean fsync time", "seconds",
     _ratio("kraft_store_fsync_duration_seconds_sum", "kraft_store_fsync_duration_seconds_count")),
    ("appends_per_fsync", "appends per fsync", "",
     _ratio("kraft_raft_appends_per_fsync_sum", "kraft_raft_appends_per_fsync_count")),
    ("log_bytes", "log size", "bytes", _sum("kraft_log_size_bytes_sum")),
    ("lmdb_used_bytes", "LMDB map used", "bytes", _sum("kraft_lmdb_map_used_bytes")),
    ("consumer_groups", "consumer groups (coordinator)", "", _sum("kraft_consumer_groups")),
    ("group_lag_records", "group lag (coordinator)", "", _sum("kraft_consumer_group_lag_records_sum", 0.0)),
]


@dataclass(frozen=True)
class NodeFigures:
    node: int | None
    address: str
    ready: bool | None  # None: not asked or not answered
    figures: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None  # why the node could not be scraped
    version: str | None = None  # the node's kraft version (its /health/ready says)


def _get(url: str, timeout_s: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KraftConnectionError(f"cannot scrape {url}: {reason}") from None


def http_addresses(nodes: Iterable[NodeDescription], configured: Mapping[int, str] | None = None) -> dict[int, str]:
    """Node id -> HOST:PORT of its HTTP listener: what each node announced in the cluster's node
    registry (``Admin.describe_cluster``), over ``configured`` (a cluster.ini's ``http_port``s) for
    nodes that announced none (a node from before HTTP ports were announced, one not registered yet)."""
    out = dict(configured or {})
    for n in nodes:
        if n.http_address is not None:
            out[n.node_id] = n.http_address
    return out


def parse_samples(text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(float(sample.value))
    return out


def figures_of(samples: Samples) -> dict[str, float | None]:
    return {key: figure(samples) for key, _label, _unit, figure in KEY_FIGURES}


def scrape(address: str, node: int | None = None, timeout_s: float = SCRAPE_TIMEOUT_S) -> NodeFigures:
    """The key figures of the node whose HTTP listener is ``address`` (HOST:PORT); the error, not an
    exception, when it cannot be reached."""
    try:
        status, body = _get(f"http://{address}/metrics", timeout_s)
        if status != 200:
            return NodeFigures(node, address, None, error=f"/metrics answered HTTP {status}")
        samples = parse_samples(body.decode())
        ready_status, ready_body = _get(f"http://{address}/health/ready", timeout_s)
    except KraftConnectionError as exc:
        return NodeFigures(node, address, None, error=exc.message)
    ready = ready_status == 200
    try:
        ready_json = json.loads(ready_body)
    except ValueError:
        ready_json = {}
    if not isinstance(ready_json, dict):
        ready_json = {}
    if node is None:
        try:
            node = int(ready_json.get("node"))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            node = None
    version = ready_json.get("version")
    return NodeFigures(node, address, ready, figures_of(samples), version=str(version) if version else None)
