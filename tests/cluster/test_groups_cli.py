"""``kraft consume --group`` and ``kraft group list/describe/reset-offsets`` against a real node."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kraft import Admin, Producer
from kraft.testing.local_cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

KRAFT = str(Path(sys.executable).parent / "kraft")


def kraft(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([KRAFT, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"kraft {' '.join(args)} failed: {out.stdout}\n{out.stderr}"
    return out


def records(out: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_group_commands(cluster1: Cluster) -> None:
    b = cluster1.bootstrap
    with Admin(b) as admin:
        admin.create_topic("orders", partitions=3, replication_factor=1)
    cluster1.wait_leaders("orders")
    middle = 0
    with Producer(b, acks="all") as producer:
        for i in range(30):
            producer.send("orders", value=b"v%02d" % i, partition=i % 3)
            if i == 14:
                producer.flush()
                time.sleep(0.05)  # sleep-ok: a timestamp boundary for --to-timestamp
                middle = int(time.time() * 1000)
                time.sleep(0.05)  # sleep-ok: same
        producer.flush()

    first = records(kraft("consume", "orders", "--group", "billing", "--from-beginning", "--max-messages", "10",
                          "-b", b, "--json"))
    assert len(first) == 10
    listed = kraft("group", "list", "-b", b, "--json")
    assert json.loads(listed.stdout) == {"groups": ["billing"]}
    described = json.loads(kraft("group", "describe", "billing", "-b", b, "--json").stdout)
    assert described["state"] == "Empty" and described["members"] == []
    committed = {o["partition"]: o["committed"] for o in described["offsets"]}
    printed = {0: 0, 1: 0, 2: 0}  # partitions nothing was printed from commit where the run started
    for r in first:
        printed[r["partition"]] = max(printed[r["partition"]], r["offset"] + 1)
    assert committed == printed, "the commit is the position after each printed record"
    assert all(o["end_offset"] == 10 and o["lag"] == 10 - o["committed"] for o in described["offsets"])

    # No --from-beginning: the committed offsets decide where the group continues.
    second = records(kraft("consume", "orders", "--group", "billing", "--max-messages", "20", "--timeout-ms",
                           "5000", "-b", b, "--json"))
    seen = [(r["partition"], r["offset"]) for r in first + second]
    assert len(seen) == 30 and len(set(seen)) == 30, "the second run continues where the first stopped"

    table = kraft("group", "describe", "billing", "-b", b).stdout
    assert "group billing: Empty" in table
    assert table.splitlines()[2].split() == ["topic", "partition", "member", "committed", "end", "offset", "lag"]

    reset = json.loads(kraft("group", "reset-offsets", "billing", "orders", "--to", "earliest", "-b", b,
                             "--json").stdout)
    assert [o["offset"] for o in reset["offsets"]] == [0, 0, 0]
    kraft("group", "reset-offsets", "billing", "orders", "--to-timestamp", str(middle), "-b", b)
    after = json.loads(kraft("group", "describe", "billing", "-b", b, "--json").stdout)
    assert sum(o["committed"] for o in after["offsets"]) == 15, "records 15..29 come after the timestamp"
    kraft("group", "reset-offsets", "billing", "orders", "--to", "7", "--partition", "1", "-b", b)
    after = json.loads(kraft("group", "describe", "billing", "-b", b, "--json").stdout)
    assert {o["partition"]: o["committed"] for o in after["offsets"]}[1] == 7

    missing = kraft("group", "describe", "nobody", "-b", b, "--json", check=False)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"] == "GROUP_ID_NOT_FOUND"
    bad = kraft("group", "reset-offsets", "billing", "orders", "-b", b, check=False)
    assert bad.returncode == 2
