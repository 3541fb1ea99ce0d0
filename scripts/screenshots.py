"""`make screenshots`: a PNG of each web console page into docs/screenshots/, from a real 3-node
cluster holding the browser tests' data (tests/cluster/console_setup.py), after the nodes have
gathered a minute of throughput samples under a light load."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from kraft import Consumer, Producer
from kraft.testing.local_cluster import Cluster
from tests.cluster.console_setup import ORDERS, browser_missing, populate, write_screenshots

LOAD_S = 60


def main() -> None:
    why = browser_missing()
    if why is not None:
        sys.exit(f"screenshots: {why}")
    out = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    with tempfile.TemporaryDirectory(prefix="kraft-screenshots-") as root:
        cluster = Cluster(Path(root), 3, http=True, fsync="never")
        cluster.start_all()
        try:
            populate(cluster)
            producer = Producer(cluster.bootstrap)
            consumer = Consumer(cluster.bootstrap, group_id="dashboard")
            consumer.subscribe([ORDERS])
            deadline = time.monotonic() + LOAD_S
            i = 0
            while time.monotonic() < deadline:  # a varying load, so the charts have a shape
                for _ in range(20 + int(15 * (1 + (i % 20) / 10))):
                    producer.send(ORDERS, b'{"tick": %d}' % i, key=b"k%d" % (i % 7))
                i += 1
                producer.flush()
                consumer.poll(timeout_ms=100)
                time.sleep(0.2)
            producer.close()
            for path in write_screenshots(f"http://127.0.0.1:{cluster.http_ports[1]}", out):
                print(path)
            consumer.close()
        finally:
            cluster.stop_all()


if __name__ == "__main__":
    main()
