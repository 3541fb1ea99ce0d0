"""Metrics, health, logs and a clean stop, on real node processes (issue 15).

A 3-node cluster serving HTTP: records produced show up as records in on the partitions' leaders,
fetched ones as records out; killing a node makes partitions under-replicated on their leaders;
health answers; ``kraft cluster metrics --json`` reads the same figures; a node with
``log_format = json`` writes JSON lines, request errors among them with the client, API and code;
SIGTERM with open client connections stops with one line per phase and no traceback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.console.cluster import ConsoleCluster
from kraft.metrics_client import parse_samples
from kraft.testing.local_cluster import Cluster, RawClient, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

RECORDS = 60
KRAFT = str(Path(sys.executable).parent / "kraft")


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(port: int) -> dict[str, list[float]]:
    status, body = get(port, "/metrics")
    assert status == 200
    return parse_samples(body.decode())


def labelled(port: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every series of ``name`` on the node: sorted labels -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(get(port, "/metrics")[1].decode()):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(cluster: Cluster, name: str, nodes: list[int] | None = None) -> float:
    return sum(sum(samples(cluster.http_ports[n]).get(name, [])) for n in nodes or cluster.alive())


@pytest.fixture
def http_cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3, http=True, extra="log_format = json\ngroup_lag_refresh_ms = 200")
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def test_metrics_health_and_cli_on_three_nodes(http_cluster: Cluster) -> None:
    c = http_cluster
    admin = Admin(c.bootstrap)
    try:
        admin.create_topic("m", partitions=3, replication_factor=3)
        c.wait_leaders("m")
        producer = Producer(c.bootstrap)
        futures = [producer.send("m", f"v{i}".encode(), partition=i % 3) for i in range(RECORDS)]
        for f in futures:
            f.result(timeout=30)
        producer.close()
        consumer = Consumer(c.bootstrap)
        consumer.assign([TopicPartition("m", p) for p in range(3)])
        consumer.seek_to_beginning()
        got = 0
        deadline_polls = 200
        while got < RECORDS and deadline_polls:
            got += len(consumer.poll(timeout_ms=200))
            deadline_polls -= 1
        consumer.close()
        assert got == RECORDS
    finally:
        admin.close()

    # Records in: counted once, on each partition's leader; out: on whoever served the fetches.
    assert total(c, "kraft_topic_records_in_total") == RECORDS
    assert total(c, "kraft_topic_records_out_total") == RECORDS
    assert total(c, "kraft_raft_groups_led") == 3 + 0  # partition groups only
    assert total(c, "kraft_partition_replicas") == 9
    assert total(c, "kraft_partitions_under_replicated") == 0
    per_node = {n: labelled(c.http_ports[n], "kraft_requests_total") for n in c.alive()}
    produce = sum(v for series in per_node.values() for k, v in series.items() if ("api", "produce") in k)
    assert produce >= 1
    ends = {n: labelled(c.http_ports[n], "kraft_log_end_offset") for n in c.alive()}
    assert all(sum(series.values()) == RECORDS for series in ends.values())  # every replica has them all

    for n in c.alive():
        status, body = get(c.http_ports[n], "/health/live")
        assert status == 200 and json.loads(body)["status"] == "live"
        status, body = get(c.http_ports[n], "/health/ready")
        assert status == 200, body
        assert json.loads(body)["replicas"] == 3
        assert get(c.http_ports[n], "/nope")[0] == 404

    out = subprocess.run([sys.executable, "-m", "cli", "cluster", "metrics", "--config", str(c.config_path),
                          "--json"], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    nodes = json.loads(out.stdout)["nodes"]
    assert [n["node"] for n in nodes] == [1, 2, 3] and all(n["ready"] for n in nodes)
    assert sum(n["figures"]["records_in"] for n in nodes) == RECORDS
    assert sum(n["figures"]["partition_replicas"] for n in nodes) == 9

    # --bootstrap alone: the nodes and their HTTP ports come from the cluster's node registry (run
    # where there is no cluster.ini, so nothing could come from a config).
    elsewhere = c.root / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([KRAFT, "cluster", "metrics", "--bootstrap", c.bootstrap, "--json"],
                         capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    by_registry = json.loads(out.stdout)["nodes"]
    assert [(n["node"], n["address"]) for n in by_registry] == [(i, f"127.0.0.1:{c.http_ports[i]}") for i in (1, 2, 3)]
    assert all(n["ready"] and n["error"] is None for n in by_registry)
    assert sum(n["figures"]["records_in"] for n in by_registry) == RECORDS
    out = subprocess.run([KRAFT, "cluster", "metrics", "--bootstrap", c.bootstrap, "--node", "9", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert out.returncode != 0 and "not in the cluster's node registry" in out.stdout + out.stderr
    # The console and kraft top find them the same way (what `kraft console --bootstrap` runs).
    console = ConsoleCluster(c.bootstrap)
    try:
        overview = console.overview()
        assert {n.node_id: n.http for n in overview.nodes} == {i: f"127.0.0.1:{c.http_ports[i]}" for i in (1, 2, 3)}
        assert all(n.figures is not None and n.figures.error is None for n in overview.nodes)
    finally:
        console.close()

    # A node down: partitions whose leader stays up are under-replicated there.
    c.kill(3)
    wait_for(lambda: total(c, "kraft_partitions_under_replicated", [1, 2]) == 3 or None, 60,
             "every partition under-replicated on the surviving leaders")
    out = subprocess.run([sys.executable, "-m", "cli", "cluster", "metrics", "--config", str(c.config_path),
                          "--node", "3", "--json"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 1
    assert json.loads(out.stdout)["nodes"][0]["error"]


def test_group_lag_is_reported_once_by_the_coordinator(http_cluster: Cluster) -> None:
    """The coordinator (the metadata leader) reports every committed partition's lag, those led by
    other nodes too (their end offsets asked of them in the background); no other node reports any."""
    c = http_cluster
    counts = {0: 10, 1: 20, 2: 30}
    committed = {0: 4, 1: 0, 2: 30}
    with Admin(c.bootstrap) as admin:
        admin.create_topic("lag", partitions=3, replication_factor=3)
        leaders = c.wait_leaders("lag")
        producer = Producer(c.bootstrap)
        for f in [producer.send("lag", b"x", partition=p) for p, n in counts.items() for _ in range(n)]:
            f.result(timeout=30)
        producer.close()
        consumer = Consumer(c.bootstrap, group_id="watchers", enable_auto_commit=False)
        consumer.commit({TopicPartition("lag", p): o for p, o in committed.items()})
        consumer.close()
        coordinator = wait_for(lambda: admin.describe_cluster().controller, 30, "a metadata leader")
    assert set(leaders.values()) != {coordinator}, f"some partition is led elsewhere: {leaders}"
    want = {(("group", "watchers"), ("partition", str(p)), ("topic", "lag")): float(counts[p] - committed[p])
            for p in counts}
    wait_for(lambda: labelled(c.http_ports[coordinator], "kraft_consumer_group_lag_records") == want or None, 30,
             "the coordinator's lag of every partition")
    assert labelled(c.http_ports[coordinator], "kraft_consumer_group_lag_records_sum") == {
        (("group", "watchers"),): 26.0}
    assert samples(c.http_ports[coordinator])["kraft_consumer_group_lag_age_seconds"][0] < 30
    for n in set(c.alive()) - {coordinator}:
        assert not labelled(c.http_ports[n], "kraft_consumer_group_lag_records"), f"node {n} reports none"
        assert not labelled(c.http_ports[n], "kraft_consumer_group_lag_records_sum")


def test_json_logs_name_request_errors_and_sigterm_stops_cleanly(http_cluster: Cluster) -> None:
    c = http_cluster
    # A request error: creating a topic with a bad name (INVALID_TOPIC_EXCEPTION, not retriable: info).
    raw = RawClient(c.client_ports[1])
    try:
        code, _body = raw.call("create_topic", {"name": "bad name!", "partitions": 1})
        assert code != 0
    finally:
        raw.close()
    # Open client connections at SIGTERM: a long-polling consumer and an idle raw connection.
    idle = RawClient(c.client_ports[2])
    consumer = Consumer(c.bootstrap)
    admin = Admin(c.bootstrap)
    try:
        admin.create_topic("s", partitions=1, replication_factor=3)
        c.wait_leaders("s")
        consumer.assign([TopicPartition("s", 0)])
        consumer.poll(timeout_ms=500)
        for n in (1, 2):
            c.kill(n, signal.SIGTERM)
            assert c.procs[n].returncode == 0
    finally:
        admin.close()
        idle.close()
    lines = [json.loads(line) for line in c.log(1).splitlines() if line.startswith("{")]
    assert lines, c.log(1)[-2000:]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    errors_logged = [line for line in lines if line.get("api") == "create_topic"]
    assert errors_logged, "the failed create_topic is logged"
    entry = errors_logged[0]
    assert entry["front_end"] == "kraft" and entry["client"].startswith("127.0.0.1:")
    assert entry["error"] == "INVALID_TOPIC_EXCEPTION" and isinstance(entry["code"], int)
    for n in (1, 2):
        log = c.log(n)
        assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
        assert "closing the client listeners" in log and "client connections closed" in log
        assert f"stopped node {n}" in log
    consumer.close()
