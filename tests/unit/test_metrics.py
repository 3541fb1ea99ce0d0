"""The metrics pieces without a node: histograms, the collector's output for a snapshot (table of
expected samples), per-partition series switched off, health bodies, the HTTP routes, JSON logs,
the key figures of ``kraft cluster metrics`` and the bootstrap reachability check."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import generate_latest

from kraft import cli_format as fmt
from kraft.bootstrap import require_reachable, resolve_bootstrap
from kraft.errors import ConfigError, InvalidTopic, KraftConnectionError, NotLeader
from kraft.histogram import Histogram
from kraft.metrics_client import figures_of, parse_samples
from kraft.node import health, logs
from kraft.node.http import HttpServer, Request, Response, Routes
from kraft.node.metrics import (
    FetchSessionSample,
    GroupLag,
    ListenerSample,
    NodeCollector,
    NodeSnapshot,
    PartitionSample,
    StoreUsage,
    registry,
)
from kraft.node.stats import NodeStats


def part(topic: str, p: int, *, leads: bool, under: bool = False, lag: dict[int, int] | None = None,
         end: int = 10, leader: int | None = 1) -> PartitionSample:
    return PartitionSample(topic, p, leader, leads, under, lag or {}, 2, end, 100 * (p + 1), False)


SNAPSHOT = NodeSnapshot(
    node_id=1,
    partitions=[part("a", 0, leads=True, under=True, lag={2: 5, 3: 0}), part("a", 1, leads=False, leader=2),
                part("b", 0, leads=False, leader=None)],
    metadata_leader=True,
    offline_partitions=1,
    store=StoreUsage(map_size_bytes=40960, page_size_bytes=4096, pages_used=3),
    listeners=[ListenerSample("kraft", 2, 7, 1)],
    fetch_sessions=FetchSessionSample(open=3, created=9, evicted=2, refused=4, incremental=40),
    group_lag=[GroupLag("g", "a", 0, 4)],
    groups=1, group_members=2, rebalances=3, producer_ids_issued=5, peers_connected={2: True, 3: False},
)


def exposition(stats: NodeStats, snapshot: NodeSnapshot = SNAPSHOT, per_partition: bool = True) -> dict[str, float]:
    """Every sample of the collector's output (without the process collector's), 'name{labels}' -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(registry(NodeCollector(lambda: snapshot, stats, per_partition=per_partition))).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def recorded_stats() -> NodeStats:
    stats = NodeStats()
    req = stats.requests
    for api, seconds, error in [("produce", 0.002, None), ("produce", 0.2, "NOT_LEADER_OR_FOLLOWER"),
                                ("fetch", 0.0004, None)]:
        req.started("kraft")
        req.finished("kraft", api, seconds, error)
    for version in (12, 12, 11):
        req.started("kafka")
        req.finished("kafka", "fetch", 0.001, None, version)
    req.started("kafka")  # one still in flight
    req.size("kafka", "produce", 1000)
    stats.traffic.produced("a", 300, 3)
    stats.traffic.fetched("a", 200, 2)
    stats.raft.state_changed(candidate=True, leader=False)
    stats.raft.state_changed(candidate=False, leader=True)
    stats.raft.store_committed(0.003)
    stats.raft.appends_per_commit.observe(4)
    stats.raft.loop_iteration.observe(0.003)
    stats.raft.loop_iteration.observe(6.0)  # a stalled loop: peers hear nothing meanwhile
    return stats


EXPECTED = [
    ("kraft_requests_total{api=produce,front_end=kraft}", 2),
    ("kraft_requests_total{api=fetch,front_end=kraft}", 1),
    ("kraft_request_errors_total{api=produce,error=NOT_LEADER_OR_FOLLOWER,front_end=kraft}", 1),
    ("kraft_request_versions_total{api=fetch,front_end=kafka,version=12}", 2),
    ("kraft_kafka_fetch_sessions{}", 3),
    ("kraft_kafka_fetch_sessions_created_total{}", 9),
    ("kraft_kafka_fetch_sessions_evicted_total{}", 2),
    ("kraft_kafka_fetch_sessions_refused_total{}", 4),
    ("kraft_kafka_fetch_sessions_incremental_total{}", 40),
    ("kraft_request_versions_total{api=fetch,front_end=kafka,version=11}", 1),
    ("kraft_request_duration_seconds_bucket{api=produce,front_end=kraft,le=0.0025}", 1),
    ("kraft_request_duration_seconds_bucket{api=produce,front_end=kraft,le=0.25}", 2),
    ("kraft_request_duration_seconds_count{api=fetch,front_end=kraft}", 1),
    ("kraft_request_size_bytes_bucket{front_end=kafka,kind=produce,le=2048.0}", 1),
    ("kraft_requests_in_flight{front_end=kafka}", 1),
    ("kraft_requests_in_flight{front_end=kraft}", 0),
    ("kraft_topic_records_in_total{topic=a}", 3),
    ("kraft_topic_bytes_in_total{topic=a}", 300),
    ("kraft_topic_records_out_total{topic=a}", 2),
    ("kraft_topic_bytes_out_total{topic=a}", 200),
    ("kraft_raft_elections_total{}", 1),
    ("kraft_raft_leaderships_won_total{}", 1),
    ("kraft_store_commits_total{}", 1),
    ("kraft_store_fsync_duration_seconds_bucket{le=0.0025}", 0),
    ("kraft_store_fsync_duration_seconds_bucket{le=0.005}", 1),
    ("kraft_raft_appends_per_fsync_sum{}", 4),
    ("kraft_raft_loop_iteration_seconds_bucket{le=0.005}", 1),
    ("kraft_raft_loop_iteration_seconds_bucket{le=5.0}", 1),
    ("kraft_raft_loop_iteration_seconds_bucket{le=10.0}", 2),
    ("kraft_raft_groups_led{}", 1),
    ("kraft_raft_metadata_leader{}", 1),
    ("kraft_partition_replicas{}", 3),
    ("kraft_partitions_under_replicated{}", 1),
    ("kraft_partition_replicas_without_leader{}", 1),
    ("kraft_partitions_offline{}", 1),
    ("kraft_log_size_bytes_sum{}", 100 + 200 + 100),
    ("kraft_log_size_bytes{partition=1,topic=a}", 200),
    ("kraft_log_start_offset{partition=0,topic=b}", 2),
    ("kraft_log_end_offset{partition=0,topic=a}", 10),
    ("kraft_partition_leader{is_leader=0,partition=1,topic=a}", 2),
    ("kraft_partition_leader{is_leader=0,partition=0,topic=b}", -1),
    ("kraft_partition_under_replicated{partition=0,topic=a}", 1),
    ("kraft_replica_lag_entries{partition=0,replica=2,topic=a}", 5),
    ("kraft_consumer_group_lag_records{group=g,partition=0,topic=a}", 4),
    ("kraft_consumer_group_lag_records_sum{group=g}", 4),
    ("kraft_consumer_groups{}", 1),
    ("kraft_consumer_group_members{}", 2),
    ("kraft_consumer_group_rebalances_total{}", 3),
    ("kraft_producer_ids_issued{}", 5),
    ("kraft_connections{front_end=kraft}", 2),
    ("kraft_connections_accepted_total{front_end=kraft}", 7),
    ("kraft_connections_refused_total{front_end=kraft}", 1),
    ("kraft_peer_connected{peer=3}", 0),
    ("kraft_lmdb_map_used_bytes{}", 3 * 4096),
    ("kraft_lmdb_pages_free{}", 7),
    ("kraft_node_info{node=1}", 1),
]


@pytest.mark.parametrize(("sample", "value"), EXPECTED, ids=[s for s, _ in EXPECTED])
def test_collector_sample(sample: str, value: float) -> None:
    assert exposition(recorded_stats())[sample] == value


def test_process_metrics_are_there() -> None:
    out = exposition(NodeStats())
    assert out["process_cpu_seconds_total{}"] >= 0 and out["process_resident_memory_bytes{}"] > 0


def test_per_partition_series_switched_off_keep_the_sums() -> None:
    out = exposition(recorded_stats(), per_partition=False)
    assert not [k for k in out if "partition=" in k]
    assert out["kraft_log_size_bytes_sum{}"] == 400
    assert out["kraft_consumer_group_lag_records_sum{group=g}"] == 4


@pytest.mark.parametrize(("values", "le", "count"), [
    ([0.1, 0.5, 1.0], [(0.5, 2), (1.0, 3)], 3),
    ([2.0], [(0.5, 0), (1.0, 0)], 1),  # above every bound: +Inf only
    ([], [(0.5, 0), (1.0, 0)], 0),
])
def test_histogram_is_cumulative_and_inclusive(values: list[float], le: list[tuple[float, int]], count: int) -> None:
    hist = Histogram([0.5, 1.0])
    for v in values:
        hist.observe(v)
    buckets, n, total = hist.cumulative()
    assert buckets == [(repr(b), c) for b, c in le] + [("+Inf", count)]
    assert (n, total) == (count, sum(values))


def test_histogram_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="increase"):
        Histogram([1.0, 0.5])


@pytest.mark.parametrize(("facts", "status", "words"), [
    (health.Readiness(1, "c", 2, 3, []), 200, "ready"),
    (health.Readiness(1, None, 2, 3, []), 503, "cluster's id"),
    (health.Readiness(1, "c", None, 3, []), 503, "no leader"),
    (health.Readiness(1, "c", 2, 3, ["a/0"]), 503, "1 of 3 partition replicas"),
])
def test_readiness(facts: health.Readiness, status: int, words: str) -> None:
    answer = health.ready(facts)
    body = json.loads(answer.body)
    assert (answer.status, answer.content_type) == (status, "application/json")
    assert words in json.dumps(body)
    assert body["replicas_without_leader"] == len(facts.without_leader)


@pytest.mark.parametrize(("driver", "loop", "status"), [(0.1, 0.5, 200), (11, 0.5, 503), (0.1, 30, 503)])
def test_liveness(driver: float, loop: float, status: int) -> None:
    answer = health.live(health.Liveness(1, driver, loop))
    assert answer.status == status
    assert json.loads(answer.body)["status"] == ("live" if status == 200 else "stuck")


def test_http_routes_404_500_and_serving() -> None:
    routes = Routes()
    routes.add("/ok", lambda r: Response(200, f"q={r.query.get('x')}".encode()))

    def broken(_r: Request) -> Response:
        raise RuntimeError("bug")

    routes.add("/broken", broken)
    with pytest.raises(ValueError, match="served already"):
        routes.add("/ok", broken)
    server = HttpServer("127.0.0.1", 0, routes)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(base + "/ok?x=1", timeout=5) as answer:
            assert answer.read() == b"q=['1']"
        for path, code in [("/missing", 404), ("/broken", 500)]:
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(base + path, timeout=5)
            assert info.value.code == code
    finally:
        server.close()


def test_json_log_lines_carry_request_error_fields() -> None:
    stream = io.StringIO()
    logs.configure("json", stream)
    try:
        logs.request_error("kafka", "produce", "10.0.0.9:5555", "app-1", InvalidTopic("bad name"))
        logs.request_error("kraft", "fetch", "10.0.0.9:5556", "", NotLeader("moved"))  # retriable: debug
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logs.request_error("kraft", "metadata", "h:1", "", InvalidTopic("x"), unexpected=True)
    finally:
        logs.configure("text")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert (first["level"], first["logger"]) == ("INFO", "kraft.node.requests")
    assert {k: first[k] for k in ("front_end", "api", "client", "client_id", "error", "code")} == {
        "front_end": "kafka", "api": "produce", "client": "10.0.0.9:5555", "client_id": "app-1",
        "error": "INVALID_TOPIC_EXCEPTION", "code": InvalidTopic.code}
    assert "10.0.0.9:5555" in first["message"] and "INVALID_TOPIC_EXCEPTION" in first["message"]
    assert lines[1]["level"] == "ERROR" and "RuntimeError: boom" in lines[1]["exception"]


def test_text_log_format() -> None:
    stream = io.StringIO()
    logs.configure("text", stream)
    try:
        logging.getLogger("kraft.x").info("hello %d", 5)
    finally:
        logs.configure("text")
    assert stream.getvalue().rstrip().endswith("INFO kraft.x: hello 5")


FIGURE_TEXT = """\
kraft_requests_total{api="produce",front_end="kraft"} 4.0
kraft_requests_total{api="fetch",front_end="kafka"} 6.0
kraft_request_duration_seconds_sum{api="produce",front_end="kraft"} 1.0
kraft_request_duration_seconds_count{api="produce",front_end="kraft"} 4.0
kraft_topic_records_in_total{topic="a"} 7.0
kraft_topic_records_in_total{topic="b"} 3.0
process_resident_memory_bytes 1048576.0
"""


@pytest.mark.parametrize(("key", "value"), [
    ("requests", 10), ("request_mean_seconds", 0.25), ("records_in", 10), ("memory_bytes", 1048576),
    ("request_errors", 0), ("offline", None), ("fsync_mean_seconds", None),
])
def test_key_figures(key: str, value: float | None) -> None:
    assert figures_of(parse_samples(FIGURE_TEXT))[key] == value


@pytest.mark.parametrize(("value", "unit", "cell"), [
    (None, "", "-"), (3.0, "", "3"), (2.5, "", "2.50"), (0.0042, "seconds", "4.20 ms"), (2.0, "seconds", "2.00 s"),
    (1048576.0, "bytes", "1 MiB"),
])
def test_figure_cells(value: float | None, unit: str, cell: str) -> None:
    assert fmt.figure_cell(value, unit) == cell


def test_unreachable_bootstrap_fails_fast_naming_each_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        with pytest.raises(KraftConnectionError, match=rf"127\.0\.0\.1:{dead}: .*refused"):
            require_reachable(f"127.0.0.1:{dead}")
        assert time.monotonic() - started < 3


def test_reachable_bootstrap_passes_with_one_node_up() -> None:
    with socket.socket() as dead, socket.socket() as live:
        dead.bind(("127.0.0.1", 0))
        live.bind(("127.0.0.1", 0))
        live.listen()
        require_reachable(f"127.0.0.1:{dead.getsockname()[1]},127.0.0.1:{live.getsockname()[1]}")


@pytest.mark.parametrize("bootstrap", ["", "nohost", "h:port", "h:70000"])
def test_bad_bootstrap_is_a_config_error(bootstrap: str) -> None:
    with pytest.raises(ConfigError):
        require_reachable(resolve_bootstrap(bootstrap, None) if bootstrap else resolve_bootstrap(" ", None))
