"""``make bench-idle``: what idle partitions cost, and how fast they fail over, at N partitions.

A 3-node cluster (RF 3, fsync always) gets one topic of N partitions; once every partition has a
leader (and, where the node reports it, its groups went quiescent), each node's CPU time over a
10 s window is its idle cost; then node 1 is killed with SIGKILL and the time until every partition
has a leader on nodes 2 and 3 is the failover time. CPU is measured as process CPU time (utime +
stime), so other load on the machine changes it little.

    python -m benchmarks.idle --partitions 300 1000 3000
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.run import proc_cpu_s
from kraft import Admin
from kraft.testing.local_cluster import Cluster, RawClient, wait_for

WINDOW_S = 10.0


def quiescent_groups(cluster: Cluster, node: int) -> int | None:
    """The node's quiescent partition groups (None: it does not report them)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.http_ports[node]}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    found = re.search(r"^kraft_raft_groups_quiescent (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else None


def measure(partitions: int, root: Path) -> dict[str, Any]:
    limits = f"max_partitions_per_node = {partitions + 100}\nmax_partitions_per_topic = {partitions}"
    cluster = Cluster(root, 3, http=True, extra=limits)
    try:
        cluster.start_all()
        t0 = time.monotonic()
        with Admin(cluster.bootstrap, request_timeout_ms=600_000) as admin:
            admin.create_topic("idle", partitions=partitions, replication_factor=3)
        created_s = time.monotonic() - t0
        cluster.wait_leaders("idle", timeout_s=900)
        elected_s = time.monotonic() - t0
        quiet: dict[int, int | None] = {}

        def settled() -> bool:
            quiet.update({n: quiescent_groups(cluster, n) for n in (1, 2, 3)})
            return all(q is None or q >= partitions for q in quiet.values())

        try:
            wait_for(settled, 120, "idle groups quiescent", interval_s=1.0)
        except AssertionError:
            pass  # reported as measured
        time.sleep(3)  # sleep-ok: a benchmark's settling pause, not synchronisation
        pids = {n: p.pid for n, p in cluster.procs.items()}
        before = {n: proc_cpu_s(pid) for n, pid in pids.items()}
        t = time.monotonic()
        time.sleep(WINDOW_S)  # sleep-ok: the measurement window
        dt = time.monotonic() - t
        idle = {n: round(100 * (proc_cpu_s(pid) - before[n]) / dt, 1) for n, pid in pids.items()}
        probe = RawClient(cluster.client_ports[2])
        cluster.kill(1, signal.SIGKILL)
        t0 = time.monotonic()

        def all_led() -> bool:
            _, md = probe.call("metadata", {"topics": ["idle"]})
            return all(p["leader"] in (2, 3) for p in md["topics"][0]["partitions"])

        wait_for(all_led, 300, "every partition led again", interval_s=0.05)
        failover_s = time.monotonic() - t0
        probe.close()
        return {"partitions": partitions, "create_s": round(created_s, 2), "all_led_s": round(elected_s, 2),
                "quiescent_groups": quiet, "idle_cpu_pct": idle, "failover_s": round(failover_s, 2)}
    finally:
        cluster.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, nargs="+", default=[300, 1000])
    args = parser.parse_args()
    for n in args.partitions:
        with tempfile.TemporaryDirectory(prefix="kraft-idle-") as tmp:
            print(json.dumps(measure(n, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
