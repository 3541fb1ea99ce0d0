"""``make bench-observe``: the cost of observing (issue 15). Produce and consume throughput on a
3-node cluster while every node's ``/metrics`` is scraped every second and the console's overview
page is open (fetched every second, and its charts fragment every 5 s, as its script does), as a
ratio of the same runs without (target >= 95%).

The machine is shared and noisy, so runs alternate (off/on, on/off, ...) on one cluster, each on a
fresh topic, and the figures are medians over ``--rounds``. Results go to stdout and to
``benchmarks/results/observe.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.run import PARTITIONS, consume_throughput, produce_throughput
from kraft import Admin
from kraft.testing.local_cluster import Cluster

HERE = Path(__file__).resolve().parent
SCRAPE_INTERVAL_S = 1.0
OVERVIEW_INTERVAL_S = 1.0
FRAGMENT_EVERY = 5  # overview fetches per charts fragment fetch


class Observers:
    """A Prometheus-like scraper of every node and a browser-like poller of the overview, on threads."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.counts = {"scrapes": 0, "pages": 0, "failures": 0}
        self.threads = [threading.Thread(target=self._scrape, daemon=True),
                        threading.Thread(target=self._overview, daemon=True)]

    def _get(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
        except OSError:
            self.counts["failures"] += 1

    def _scrape(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            for port in self.cluster.http_ports.values():
                self._get(f"http://127.0.0.1:{port}/metrics")
                self.counts["scrapes"] += 1
            self.stop.wait(max(0.0, SCRAPE_INTERVAL_S - (time.monotonic() - started)))

    def _overview(self) -> None:
        base = f"http://127.0.0.1:{self.cluster.http_ports[1]}"
        n = 0
        while not self.stop.is_set():
            started = time.monotonic()
            self._get(base + "/")
            if n % FRAGMENT_EVERY == 0:
                self._get(base + "/console/fragment/throughput")
            n += 1
            self.counts["pages"] += 1
            self.stop.wait(max(0.0, OVERVIEW_INTERVAL_S - (time.monotonic() - started)))

    def __enter__(self) -> Observers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def one_run(cluster: Cluster, admin: Admin, name: str, records: int, observed: bool) -> dict[str, object]:
    admin.create_topic(name, partitions=PARTITIONS, replication_factor=3)
    cluster.wait_leaders(name)
    if observed:
        with Observers(cluster) as obs:
            produce = produce_throughput(cluster, name, records)
            consume = consume_throughput(cluster, name, records)
        counts: dict[str, int] = dict(obs.counts)
    else:
        produce = produce_throughput(cluster, name, records)
        consume = consume_throughput(cluster, name, records)
        counts = {}
    admin.delete_topic(name)
    return {"observed": observed, "produce": produce["records_per_s"], "consume": consume["records_per_s"],
            **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--records", type=int, default=400_000, help="records per produce and consume run")
    parser.add_argument("--fsync", default="always", choices=["always", "never"])
    args = parser.parse_args()
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="kraft-observe-") as root:
        cluster = Cluster(Path(root), 3, http=True, fsync=args.fsync)
        cluster.start_all()
        try:
            with Admin(cluster.bootstrap) as admin:
                for r in range(args.rounds):
                    order = (False, True) if r % 2 == 0 else (True, False)  # alternate who goes first
                    for observed in order:
                        run = one_run(cluster, admin, f"observe-{r}-{int(observed)}", args.records, observed)
                        runs.append(run)
                        print(json.dumps(run), flush=True)
        finally:
            cluster.stop_all()
    summary: dict[str, object] = {"machine": f"{platform.node()} {os.cpu_count()} CPU, Python "
                                  f"{platform.python_version()}", "records": args.records, "rounds": args.rounds,
                                  "fsync": args.fsync, "runs": runs}
    for what in ("produce", "consume"):
        off = statistics.median(float(str(r[what])) for r in runs if not r["observed"])
        on = statistics.median(float(str(r[what])) for r in runs if r["observed"])
        summary[what] = {"off_median": off, "on_median": on, "ratio": on / off}
        print(f"{what}: without {off:,.0f} records/s, observed {on:,.0f} records/s, ratio {on / off:.1%}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "observe.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
