"""The ``kraft`` command against real nodes: cluster up/status/kill/start/down, topics, produce, consume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

KRAFT = str(Path(sys.executable).parent / "kraft")


def kraft(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KRAFT, *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"kraft {' '.join(args)} failed: {out.stdout}\n{out.stderr}"
    return out


@pytest.fixture
def ini(tmp_path: Path) -> Iterator[str]:
    cluster = Cluster(tmp_path, 3)  # only for free ports and the file; the CLI starts the nodes
    path = str(cluster.config_path)
    try:
        yield path
    finally:
        subprocess.run([KRAFT, "cluster", "down", "--config", path], capture_output=True, timeout=60)
        for pid_file in (tmp_path / "data").glob("*/node.pid"):  # whatever `down` missed
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def test_cli_drives_a_three_node_cluster(ini: str) -> None:
    kraft("cluster", "up", "--config", ini)
    status = json.loads(kraft("cluster", "status", "--config", ini, "--json").stdout)
    assert [n["state"] for n in status["nodes"]] == ["up", "up", "up"], status
    kraft("topic", "create", "orders", "--partitions", "6", "--replication-factor", "3", "--config", ini)
    assert "orders" in json.loads(kraft("topic", "list", "--config", ini, "--json").stdout)["topics"]

    one = json.loads(kraft("produce", "orders", "hello", "--key", "k1", "--config", ini, "--json").stdout)
    assert one["offset"] == 0
    lines = "".join(f"line {i}\n" for i in range(100))
    kraft("produce", "orders", "--config", ini, stdin=lines)
    out = kraft("consume", "orders", "--from-beginning", "--max-messages", "101", "--config", ini, "--json")
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(records) == 101
    assert sorted(r["value"] for r in records) == sorted(["hello"] + [f"line {i}" for i in range(100)])
    assert {r["partition"] for r in records} <= set(range(6))

    table = kraft("consume", "orders", "--from-beginning", "--max-messages", "3", "--config", ini).stdout
    assert "partition" in table.lower() and "offset" in table.lower()

    kraft("cluster", "kill", "--node", "2", "--config", ini)
    after = json.loads(kraft("produce", "orders", "still writable", "--config", ini, "--json").stdout)
    assert after["offset"] >= 0
    status = json.loads(kraft("cluster", "status", "--config", ini, "--json").stdout)
    assert [n["state"] for n in status["nodes"]][1] != "up"
    kraft("cluster", "start", "--node", "2", "--config", ini)

    def fully_led() -> dict[str, Any] | None:
        # A partition whose election the restarted node set off is described with high watermark 0
        # until it has a leader again.
        d = json.loads(kraft("topic", "describe", "orders", "--config", ini, "--json").stdout)
        ok = all(p["leader"] is not None and p["high_watermark"] >= 0 for p in d["partitions"])
        return d if ok else None

    described = wait_for(fully_led, 60, "every partition of orders led")
    assert len(described["partitions"]) == 6
    assert sum(p["high_watermark"] for p in described["partitions"]) == 102
    kraft("topic", "delete", "orders", "--config", ini)
    missing = kraft("topic", "describe", "orders", "--config", ini, check=False)
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr
    kraft("cluster", "down", "--config", ini)
