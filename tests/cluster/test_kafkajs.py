"""kafkajs (npm), an unmodified Node Kafka client, against a real 3-node kraft cluster: admin (topics,
partitions, configs, a group's offsets, groups), an idempotent producer (acks -1, keys, headers,
batches over partitions), a consumer group sharing partitions, rebalancing when a member leaves and
resuming from its commits, and offsets by timestamp with a seek.

The flows are JavaScript (tests/compat/kafkajs/flows.js); this file installs kafkajs, pinned in
tests/compat/kafkajs/package.json, into ~/.cache/kraft-kafkajs (``KRAFT_KAFKAJS_CACHE``) once, with
npm's own client, and runs one flow per test. Without Node or npm (Debian ``nodejs``, ``npm``; ``make
test`` installs them when run as root) or without the registry, the tests skip, naming what is
missing; under CI=1 they fail instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from kraft.partitioner import partition_for_key
from kraft.testing.local_cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

FLOWS_DIR = Path(__file__).resolve().parents[1] / "compat" / "kafkajs"
FLOW_TIMEOUT_S = 120


def _missing(why: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def _kafkajs_version() -> str:
    return str(json.loads((FLOWS_DIR / "package.json").read_text())["dependencies"]["kafkajs"])


def install_kafkajs() -> Path:
    """The node_modules directory holding the pinned kafkajs, installed into the cache if it is not there."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js or npm is not installed (Debian packages nodejs and npm)")
    version = _kafkajs_version()
    cache = Path(os.environ.get("KRAFT_KAFKAJS_CACHE", Path.home() / ".cache" / "kraft-kafkajs"))
    target = cache / f"kafkajs-{version}"
    installed = target / "node_modules" / "kafkajs" / "package.json"
    if not (installed.exists() and json.loads(installed.read_text()).get("version") == version):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(FLOWS_DIR / "package.json", target / "package.json")
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock"],
                              cwd=target, capture_output=True, text=True, timeout=180)
        if done.returncode != 0 or not installed.exists():
            _missing(f"npm could not install kafkajs {version}: {done.stderr.strip()[-500:]}")
    return target / "node_modules"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return install_kafkajs()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("kafkajs"), 3)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def run_flow(cluster: Cluster, node_modules: Path, flow: str) -> dict[str, object]:
    """Runs one flow of flows.js; its JSON summary, or the test fails with kafkajs's own message."""
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    done = subprocess.run(["node", str(FLOWS_DIR / "flows.js"), flow, cluster.kafka_bootstrap, f"js-{flow}"],
                          capture_output=True, text=True, timeout=FLOW_TIMEOUT_S, env=env)
    ok = [line for line in done.stdout.splitlines() if line.startswith("OK ")]
    assert done.returncode == 0 and ok, f"kafkajs {flow} flow failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    out: dict[str, object] = json.loads(ok[-1][3:])
    return out


def test_admin(cluster: Cluster, node_modules: Path) -> None:
    out = run_flow(cluster, node_modules, "admin")
    assert out["deleteGroups"] == "deleted", out


def test_idempotent_producer_with_keys_and_headers(cluster: Cluster, node_modules: Path) -> None:
    out = run_flow(cluster, node_modules, "produce")
    placed = out["keyPartitions"]
    assert isinstance(placed, dict)
    # kafkajs' default partitioner is murmur2, as Java's and kraft's: a key lands in the same partition
    assert placed == {key: partition_for_key(key.encode(), 4) for key in placed}


def test_group_shares_partitions_rebalances_and_resumes_from_commits(cluster: Cluster, node_modules: Path) -> None:
    out = run_flow(cluster, node_modules, "group")
    assert out["duplicates"] == 0, out


def test_offsets_by_timestamp_and_seek(cluster: Cluster, node_modules: Path) -> None:
    run_flow(cluster, node_modules, "timestamps")
