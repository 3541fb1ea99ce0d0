"""``kraft top`` in a real terminal (tmux send-keys / capture-pane) against a real 3-node cluster
(issue 15), named by ``--bootstrap`` alone: the nodes view shows every node up with its partitions
led, the topics view shows records/s while a producer runs, the groups view the right lag,
``s``/``r`` sort, the partitions view names an under-replicated partition after a node is killed,
and ``q`` quits and gives the terminal back. Plus the view and model as pure functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.apis.types import GroupDescription, NodeDescription, PartitionInfo, PartitionOffsets, TopicDescription
from kraft.testing.local_cluster import Cluster, wait_for
from kraft.top.model import NodeObservation, Observation, rows_of
from kraft.top.view import ViewState, render

KRAFT = str(Path(sys.executable).parent / "kraft")


# --- pure: model and view -----------------------------------------------------------------------------

def _observation(t: float, cpu: float, requests: float, records_in: float) -> Observation:
    samples = {"process_cpu_seconds_total": {(): cpu}, "process_resident_memory_bytes": {(): 50 * 2**20},
               "kraft_requests_total": {(("api", "produce"),): requests},
               "kraft_topic_records_in_total": {(("topic", "t"),): records_in}}
    topic = TopicDescription("t", [PartitionInfo(0, 1, [1, 2], 10, 0, 4096, {1: "leader", 2: "in sync"}),
                                   PartitionInfo(1, None, [2, 1], 0)])
    group = GroupDescription("g", "Empty", 3, [], [PartitionOffsets("t", 0, 4, 10, 6)])
    return Observation(t, [NodeObservation(NodeDescription(1, "h", 1), samples),
                           NodeObservation(NodeDescription(2, "h", 2), None, "Connection refused")],
                       [topic], [group], controller=1)


def test_rows_turn_counters_into_rates() -> None:
    rows = rows_of(_observation(12.0, 3.0, 500, 1000), _observation(10.0, 2.0, 300, 600))
    one, two = rows.nodes
    assert (one.cpu_percent, one.requests_per_s, one.partitions_led, one.replicas, one.controller) == \
        (50.0, 100.0, 1, 2, True)
    assert two.up == "down: Connection refused" and two.cpu_percent is None
    (topic,) = rows.topics
    assert (topic.records_in_per_s, topic.records_out_per_s, topic.size_bytes, topic.under_replicated) == \
        (200.0, 0.0, 4096, 1)  # scraped twice, nothing fetched: 0, not unknown
    assert rows.under_replicated == [("t", 1, None, "no leader")]
    assert rows.groups[0].lag == 6
    first = rows_of(_observation(10.0, 2.0, 300, 600), None)
    assert first.nodes[0].cpu_percent is None  # no rate before a second refresh


def test_keys_switch_views_and_sort() -> None:
    state = ViewState()
    assert state.key("q") is None
    state = state.key("2")
    assert state == ViewState("topics", "name", False)
    state = state.key("s")
    assert state is not None and state.sort == "in"
    state = state.key("r")
    assert state is not None and state.descending
    assert state.key("x") == state
    assert state.key("t") == state  # the same view keeps its sort


def _text(state: ViewState) -> str:
    rows = rows_of(_observation(12.0, 3.0, 500, 1000), _observation(10.0, 2.0, 300, 600))
    console = Console(width=140, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(render(rows, state, "12:00:00"))
    return console.export_text()


def test_views_render() -> None:
    assert "down: Connection refused" in _text(ViewState())
    assert "200.0" in _text(ViewState("topics", "name"))
    assert "no leader" in _text(ViewState("partitions", "topic"))
    assert "Empty" in _text(ViewState("groups", "name"))


# --- in a real terminal ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("tmux") is None:
        why = "tmux is not installed (Debian package tmux; `make test` installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    c = Cluster(tmp_path_factory.mktemp("top"), 3, http=True, fsync="never")
    c.start_all()
    try:
        yield c
    finally:
        c.stop_all()


class Tmux:
    """One tmux server of our own (its own socket), one session running a command."""

    def __init__(self, command: list[str], width: int = 150, height: int = 45) -> None:
        self.socket = f"kraft-top-{uuid.uuid4().hex[:8]}"
        # The pane's own size, not one a COLUMNS of this process' environment would impose on rich.
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", str(width), "-y", str(height),
                   "env -u COLUMNS -u LINES " + " ".join(command) + "; echo EXITED; sleep 30")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "top", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "top")

    def until(self, predicate: Callable[[str], bool], what: str, timeout_s: float = 20) -> str:
        """The screen once ``predicate`` holds for it."""
        def seen() -> str | None:
            text = self.screen()
            return text if predicate(text) else None
        try:
            return wait_for(seen, timeout_s, what, interval_s=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def wait(self, shown: str, what: str, timeout_s: float = 20) -> str:
        return self.until(lambda text: shown in text, what, timeout_s)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.mark.cluster
@pytest.mark.timeout(240)
def test_kraft_top_in_a_terminal(cluster: Cluster) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("clicks", partitions=3, replication_factor=3)
    cluster.wait_leaders("clicks")
    stop = threading.Event()
    producer = Producer(cluster.bootstrap)

    def produce() -> None:
        while not stop.is_set():
            for i in range(50):
                producer.send("clicks", b"x", key=b"%d" % i)
            producer.flush()
            stop.wait(0.05)

    feeder = threading.Thread(target=produce, daemon=True)
    feeder.start()
    consumer = Consumer(cluster.bootstrap, group_id="watchers", enable_auto_commit=False)
    consumer.commit({TopicPartition("clicks", 0): 0})
    consumer.close()
    # --bootstrap alone: the nodes' HTTP ports (CPU, rates, up) come from the cluster's node registry.
    tmux = Tmux([KRAFT, "top", "--bootstrap", cluster.bootstrap])
    try:
        tmux.wait("view: nodes", what="the nodes view")
        screen = tmux.until(lambda text: text.count(" up ") >= 3, "three nodes up")
        assert "Nodes" in screen and "127.0.0.1:" in screen
        tmux.keys("t")
        tmux.wait("view: topics", what="the topics view")
        # records/s in, while the producer runs: a number above zero in the clicks row.
        def clicks_rate() -> str | None:
            row = next((line for line in tmux.screen().splitlines() if "clicks" in line), "")
            cells = row.replace("│", " ").split()
            return row if len(cells) > 3 and cells[2] not in ("-", "0.0") else None
        wait_for(clicks_rate, 20, "a records/s in figure for clicks", interval_s=0.3)
        tmux.keys("s")
        tmux.wait("sort: in asc", what="sorted by records in")
        tmux.keys("r")
        tmux.wait("sort: in desc", what="reversed")
        tmux.keys("g")
        tmux.wait("watchers", what="the group in the groups view")
        stop.set()
        feeder.join(timeout=10)
        producer.close()
        cluster.kill(3)
        tmux.keys("p")
        tmux.wait("view: partitions", what="the partitions view")
        screen = tmux.until(lambda text: "Under-replicated partitions (3)" in text,
                            "three under-replicated partitions after node 3 died", timeout_s=40)
        assert "clicks" in screen
        tmux.keys("n")
        tmux.until(lambda text: "down" in text, "node 3 down")
        tmux.keys("q")
        tmux.wait("EXITED", what="kraft top to quit")
        assert "Traceback" not in tmux.screen()
    finally:
        stop.set()
        tmux.close()
