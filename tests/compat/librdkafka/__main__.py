"""``python -m tests.compat.librdkafka``: librdkafka's own tests against a 3-node kraft cluster.

Builds (or finds, cached) librdkafka's test-runner with ``compat/librdkafka/build.sh``, starts a
3-node cluster per librdkafka test scenario (replication factor 3, ``fsync = always``, 4 partitions
per new topic: librdkafka's ``scenarios/*.json``), writes a test.conf with the cluster's Kafka
bootstrap, runs every planned test one at a time with a time limit, prints a line per test and
rewrites the JSON results file after each one (a run cut short keeps what it has).

Owns the order of the run and the cluster's lifecycle around the tests: between tests it deletes
the topics the test made, and when a node process has died during a test it says so in that test's
result and starts a fresh cluster for the next one. It does not judge a test (``outcome`` does).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kraft.apis.admin import Admin
from kraft.config import parse_config
from kraft.errors import KraftError
from kraft.testing.local_cluster import Cluster, wait_for
from tests.compat.librdkafka import outcome, suite

REPO = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO / "compat" / "librdkafka" / "build.sh"
EXCLUDED = REPO / "compat" / "librdkafka" / "excluded.txt"
TOPIC_PREFIX = "rdkafkatest"
NODES = 3


def build() -> Path:
    """The built librdkafka ``tests/`` directory (build.sh prints it on its last line)."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def auto_create_supported() -> bool:
    """Whether this kraft knows ``auto_create_topics`` (issue 14 adds it); without it kraft never
    creates a topic on first use."""
    probe = ("[cluster]\nauto_create_topics = false\n"
             "[node.1]\nhost = 127.0.0.1\nclient_port = 10001\nraft_port = 10002\n")
    try:
        parse_config(probe)
    except KraftError:
        return False
    return True


class ScenarioCluster:
    """The kraft cluster a scenario's tests run against; replaced by a fresh one after a node died."""

    def __init__(self, root: Path, scenario: str, auto_create: bool | None) -> None:
        self.root = root
        self.scenario = scenario
        self.auto_create = auto_create  # None: this kraft has no such setting (never auto-creates)
        self.incarnation = 0
        self.cluster: Cluster | None = None

    def start(self) -> Cluster:
        self.incarnation += 1
        extra = "" if self.auto_create is None else f"auto_create_topics = {str(self.auto_create).lower()}"
        # and replica.selector.class=RackAwareReplicaSelector, as librdkafka's test clusters (0101)
        extra += "\nfetch_from_follower = true"
        cluster = Cluster(self.root / f"{self.scenario}-{self.incarnation}", NODES, fsync="always", rf=3,
                          partitions=4, extra=extra)
        # librdkafka's own test clusters give broker N the rack "RACKN" (tests/cluster_testing.py).
        text = cluster.config_path.read_text()
        for node in range(1, NODES + 1):
            text = text.replace(f"[node.{node}]\n", f"[node.{node}]\nrack = RACK{node}\n")
        cluster.config_path.write_text(text)
        self.cluster = cluster
        cluster.start_all()
        admin = Admin(cluster.bootstrap)
        try:  # the Kafka listeners answer once the node serves; a topic list proves the metadata path
            wait_for(lambda: admin.list_topics() is not None, 30, "the cluster to answer a topic list")
        finally:
            admin.close()
        return cluster

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop_all()
            self.cluster = None

    def after_test(self) -> str:
        """What happened to the cluster during the test ("" when nothing): a dead node is reported and
        the cluster replaced; otherwise the test's topics are deleted."""
        cluster = self.cluster
        assert cluster is not None
        dead = sorted(set(cluster.procs) - set(cluster.alive()))
        if dead:
            logs = "; ".join(f"node {n} {_exit_cause(cluster.procs[n].returncode)}: "
                             f"{cluster.log(n)[-400:].strip()}" for n in dead)
            self.stop()
            self.start()
            return f"{logs} -- a fresh cluster was started"
        return self._delete_test_topics(cluster)

    @staticmethod
    def _delete_test_topics(cluster: Cluster) -> str:
        admin = Admin(cluster.bootstrap)
        try:
            for topic in admin.list_topics():
                if topic.startswith(TOPIC_PREFIX):
                    admin.delete_topic(topic)
        except KraftError as e:
            return f"deleting the test's topics failed: {e!r}"
        finally:
            admin.close()
        return ""


def _keep_node_logs(cluster: Cluster, run_dir: Path) -> str:
    """A failed test's evidence from the nodes: each node's log copied beside the test's output
    (kept with the work directory on a failure) and the last warnings and errors of each, to print
    (a CI run shows its output, not its files)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = ["nodes' last warnings and errors:"]
    for node in sorted(cluster.procs):
        text = cluster.log(node)
        (run_dir / f"node{node}.log").write_text(text)
        notable = [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line][-10:]
        lines += [f"  node {node}: {line[:300]}" for line in notable]
    return "\n".join(lines)


def _exit_cause(code: int | None) -> str:
    if code == 0:  # kraft.node returns 0 only after SIGTERM/SIGINT: nothing in this run sends those
        return "exited with 0 (a SIGTERM or SIGINT from outside this run)"
    return f"exited with {code}"


def write_kafka_tools(work: Path) -> Path:
    """A KAFKA_PATH whose bin/kafka-topics.sh and bin/kafka-acls.sh are ``kafka_topics`` and
    ``kafka_acls`` (Kafka clients, as the Java tools)."""
    root = work / "kafka-tools"
    for tool, module in (("kafka-topics.sh", "kafka_topics"), ("kafka-acls.sh", "kafka_acls")):
        script = root / "bin" / tool
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(f"#!/bin/sh\n# librdkafka's tests call Kafka's {tool}: "
                          f"tests/compat/librdkafka/{module}.py\n"
                          f"export PYTHONPATH='{REPO}'\n"
                          f"exec '{sys.executable}' -m tests.compat.librdkafka.{module} \"$@\"\n")
        script.chmod(0o755)
    return root


def write_test_conf(path: Path, bootstrap: str, timeout_multiplier: float) -> None:
    path.write_text("\n".join([
        f"metadata.broker.list={bootstrap}",
        # kraft on a shared 2-core machine is slower than a local Kafka: the tests' own timeouts x this.
        f"test.timeout.multiplier={timeout_multiplier}",
        "test.topic.random=true",
    ]) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.compat.librdkafka", description=__doc__.split("\n")[0])
    p.add_argument("--tests", help="comma-separated test numbers (default: every test that applies)")
    p.add_argument("--out", type=Path, default=REPO / "compat" / "librdkafka" / "results.json")
    p.add_argument("--time-limit-s", type=float, default=1200.0,
                   help="per test, wall clock (a safety net: librdkafka times its tests out itself; 0113 takes 15 min)")
    p.add_argument("--timeout-multiplier", type=float, default=2.0, help="librdkafka's test.timeout.multiplier")
    p.add_argument("--kafka-version", default="3.7.0",
                   help="the broker version the tests assume (TEST_KAFKA_VERSION): issue 14's target")
    p.add_argument("--librdkafka-quick", action="store_true",
                   help="librdkafka's quick mode (-Q): fewer messages, and every SUB_TEST not marked quick is "
                        "skipped while its test still passes, so it measures little")
    p.add_argument("--update", action="store_true",
                   help="replace these tests' results in --out and keep the others (a re-run of a few)")
    p.add_argument("--work-dir", type=Path, help="outputs and cluster data (default: a new temp dir)")
    p.add_argument("--subtests", help="run only the subtests whose name contains this text (librdkafka's "
                                      "SUBTESTS: one substring, such as AlterConfigs); a diagnosis, never recorded")
    args = p.parse_args(argv)
    if args.subtests and args.update:
        p.error("--subtests runs part of a test: its outcome is not the test's, so it is not written to results")
    # SIGTERM (a CI timeout, kill PID) ends the run through the finally below, which stops the nodes.
    signal.signal(signal.SIGTERM, _terminate)

    tests_dir = build()
    src_dir = tests_dir.parent
    only = [t.strip() for t in args.tests.split(",") if t.strip()] if args.tests else None
    runs, excluded = suite.load(tests_dir, EXCLUDED, only)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kraft-compat-"))
    work.mkdir(parents=True, exist_ok=True)
    auto_create = True if auto_create_supported() else None
    kafka_tools = write_kafka_tools(work)
    print(f"librdkafka compat: {len(runs)} runs ({len(excluded)} test numbers excluded), outputs in {work}",
          flush=True)
    if auto_create is None:
        print("note: this kraft has no auto_create_topics setting: topics are never created on first use",
              flush=True)

    header: dict[str, Any] = {
        "librdkafka": (src_dir / "src" / "rdkafka.h").read_text().split("#define RD_KAFKA_VERSION", 1)[1]
                      .split()[0],
        "test_runner": str(tests_dir / "test-runner"),
        "kafka_version": args.kafka_version, "librdkafka_quick": args.librdkafka_quick,
        "time_limit_s": args.time_limit_s,
        "timeout_multiplier": args.timeout_multiplier,
        "cluster": {"nodes": NODES, "replication_factor": 3, "partitions": 4, "fsync": "always",
                    "racks": "RACK1..RACK3", "fetch_from_follower": True,
                    "auto_create_topics": "not supported by this kraft" if auto_create is None else "per scenario"},
        "excluded": {e.number: f"{e.category}: {e.reason}" for e in excluded.values()},
    }
    kept: list[dict[str, Any]] = []
    if args.update and args.out.exists():
        rerun = {r.key for r in runs}
        kept = [t for t in json.loads(args.out.read_text())["tests"] if t["key"] not in rerun]
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    clusters: dict[str, ScenarioCluster] = {}
    try:
        for i, run in enumerate(runs, 1):
            sc = clusters.get(run.scenario)
            if sc is None:
                for other in clusters.values():
                    other.stop()
                wanted = None if auto_create is None else run.scenario != "noautocreate"
                sc = clusters[run.scenario] = ScenarioCluster(work / "clusters", run.scenario, wanted)
            if sc.cluster is None:
                sc.start()
            assert sc.cluster is not None
            conf = work / f"test-{sc.scenario}-{sc.incarnation}.conf"
            write_test_conf(conf, sc.cluster.kafka_bootstrap, args.timeout_multiplier)
            res = outcome.run_test(run, test_runner=tests_dir / "test-runner", src_dir=src_dir, test_conf=conf,
                                   work_dir=work / "runs" / run.key.replace("@", "-"),
                                   kafka_version=args.kafka_version, time_limit_s=args.time_limit_s,
                                   quick=args.librdkafka_quick,
                                   extra_env={"KAFKA_PATH": str(kafka_tools), "BROKERS": sc.cluster.kafka_bootstrap,
                                              **({"SUBTESTS": args.subtests} if args.subtests else {})})
            if res.outcome != "pass":
                print(_keep_node_logs(sc.cluster, work / "runs" / run.key.replace("@", "-")), flush=True)
            event = sc.after_test()
            entry = {**asdict(res), "cluster_event": event}
            results.append(entry)
            line = f"[{i:3d}/{len(runs)}] {run.key:<18} {res.outcome:<8} {res.duration_s:7.1f}s"
            if res.reason:
                line += f"  {res.reason[:160]}"
            if event:
                line += f"  [cluster: {event[:160]}]"
            print(line, flush=True)
            if not args.subtests:
                _write(args.out, header, kept + results, time.monotonic() - started)
    finally:
        for sc in clusters.values():
            sc.stop()
        shutil.rmtree(work / "clusters", ignore_errors=True)
    summary = _summary(kept + results)
    print("librdkafka compat: " + ", ".join(f"{k} {v}" for k, v in summary.items())
          + f" in {time.monotonic() - started:.0f} s; results in {args.out}", flush=True)
    passed = summary["pass"] == summary["runs"]
    if passed and args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)  # nothing to look at; a failure keeps its outputs
    return 0 if passed else 1


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def _summary(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"runs": len(results), "pass": 0, "fail": 0, "timeout": 0, "skipped": 0}
    for r in results:
        counts[r["outcome"]] += 1
    return counts


def _write(path: Path, header: dict[str, Any], results: list[dict[str, Any]], elapsed_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda t: (t["number"], t["scenario"] != suite.DEFAULT_SCENARIO, t["scenario"]))
    doc = {**header, "duration_s": round(elapsed_s), "summary": _summary(results), "tests": results}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
