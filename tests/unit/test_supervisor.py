"""Node process management against a fake node (a tiny script that listens on its client port), so
these tests need neither Raft nor LMDB. Waits are condition polls with deadlines, never bare sleeps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kraft.config import ClusterConfig, parse_config
from kraft.errors import NodeProcessError
from kraft.node.supervisor import (
    NodeCommand,
    ProcessState,
    StopResult,
    Supervisor,
    is_running,
    node_command,
    wait_until_listening,
)
from kraft.testing.local_cluster import free_ports

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

REPO = Path(__file__).resolve().parents[2]

FAKE_NODE = """
import signal, socket, sys
from kraft.config import load_config

args = sys.argv[1:]
config = load_config(args[args.index("--config") + 1])
node = config.node(int(args[args.index("--node") + 1]))
mode = args[-1]
if mode == "crash":
    print("fake node: address already in use", flush=True)
    sys.exit(3)
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = socket.create_server((node.host, node.client_port))
print("fake node listening", flush=True)
while True:
    server.accept()[0].close()
"""


def free_port() -> int:
    return free_ports(1)[0]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)  # sleep-ok: poll interval of a deadline-bounded wait


def make_config(tmp_path: Path, nodes: int = 2) -> ClusterConfig:
    text = "[cluster]\ndata_dir = data\n"
    for node_id in range(1, nodes + 1):
        text += f"[node.{node_id}]\nhost = 127.0.0.1\nclient_port = {free_port()}\nraft_port = {free_port()}\n"
    path = tmp_path / "cluster.ini"
    path.write_text(text)
    return parse_config(text, path)


CommandFactory = Callable[[str], NodeCommand]  # mode → command line of a fake node


@pytest.fixture
def fake_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CommandFactory:
    script = tmp_path / "fake_node.py"
    script.write_text(FAKE_NODE)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the fake imports kraft.config

    def command(mode: str = "serve") -> NodeCommand:
        return lambda config, node_id: [sys.executable, str(script), *node_command(config, node_id)[3:], mode]

    return command


@pytest.fixture
def cleanup() -> Iterator[list[Supervisor]]:
    supervisors: list[Supervisor] = []
    yield supervisors
    for supervisor in supervisors:
        supervisor.down(timeout_s=0)


def test_node_command() -> None:
    assert node_command(Path("/x/c.ini"), 3) == [
        sys.executable,
        "-m",
        "kraft.node",
        "--config",
        "/x/c.ini",
        "--node",
        "3",
    ]


def test_start_status_and_down(tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]) -> None:
    config = make_config(tmp_path)
    supervisor = Supervisor(config, fake_node("serve"))
    cleanup.append(supervisor)
    pids = {node_id: supervisor.start(node_id) for node_id in config.node_ids}
    deadline = time.monotonic() + 10
    for node_id in config.node_ids:
        supervisor.wait_ready(node_id, deadline)
        assert supervisor.pid_file(node_id).read_text() == f"{pids[node_id]}\n"
        assert supervisor.status(node_id).state is ProcessState.RUNNING
        assert "fake node listening" in supervisor.log_tail(node_id)
    assert supervisor.log_file(1) == tmp_path / "data" / "1" / "node.log"

    assert supervisor.down(timeout_s=10) == {1: StopResult.STOPPED, 2: StopResult.STOPPED}
    assert not any(is_running(pid) for pid in pids.values())
    assert not supervisor.pid_file(1).exists()
    assert supervisor.down() == {1: StopResult.NOT_RUNNING, 2: StopResult.NOT_RUNNING}


def test_start_twice_is_refused(tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("serve"))
    cleanup.append(supervisor)
    pid = supervisor.start(1)
    with pytest.raises(NodeProcessError, match=f"node 1 is already running \\(pid {pid}\\)"):
        supervisor.start(1)


def test_stop_and_continue(tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("serve"))
    cleanup.append(supervisor)
    pid = supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)
    assert supervisor.kill(1, signal.SIGSTOP) == pid
    wait_for(lambda: supervisor.status(1).state is ProcessState.PAUSED)
    supervisor.kill(1, signal.SIGCONT)
    wait_for(lambda: supervisor.status(1).state is ProcessState.RUNNING)


def test_down_ends_a_paused_node(tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("serve"))
    cleanup.append(supervisor)
    supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)
    supervisor.kill(1, signal.SIGSTOP)
    wait_for(lambda: supervisor.status(1).state is ProcessState.PAUSED)
    assert supervisor.down(timeout_s=10) == {1: StopResult.STOPPED}


def test_kill_leaves_a_stale_pid_file_that_is_cleaned(
    tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]
) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("serve"))
    cleanup.append(supervisor)
    pid = supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)
    supervisor.kill(1, signal.SIGKILL)
    wait_for(lambda: not is_running(pid))
    assert supervisor.pid_file(1).exists()
    assert supervisor.status(1).state is ProcessState.NOT_RUNNING
    assert not supervisor.pid_file(1).exists()
    with pytest.raises(NodeProcessError, match="node 1 is not running"):
        supervisor.kill(1, signal.SIGKILL)
    # and it starts again
    supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)


def test_down_kills_a_node_that_ignores_term(
    tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]
) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("ignore-term"))
    cleanup.append(supervisor)
    pid = supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)
    assert supervisor.down(timeout_s=0.3) == {1: StopResult.KILLED}
    wait_for(lambda: not is_running(pid))


def test_a_node_that_exits_at_start_is_reported_with_its_log(tmp_path: Path, fake_node: CommandFactory) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1), fake_node("crash"))
    supervisor.start(1)
    started = time.monotonic()
    with pytest.raises(NodeProcessError, match=r"node 1 exited; end of .*node\.log:\n(.|\n)*address already in use"):
        supervisor.wait_ready(1, time.monotonic() + 30)
    assert time.monotonic() - started < 15  # noticed the exit, did not wait for the deadline


def test_not_listening_by_the_deadline(tmp_path: Path) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1))
    with pytest.raises(NodeProcessError, match=r"is not listening on 127\.0\.0\.1:[0-9]+ in time"):
        supervisor.wait_ready(1, time.monotonic() + 0.2)


def test_embedded_default_config_is_written_out_for_the_node(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_node: CommandFactory,
    cleanup: list[Supervisor],
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    config = parse_config(f"[node.1]\nhost = 127.0.0.1\nclient_port = {port}\nraft_port = {free_port()}\n")
    supervisor = Supervisor(config, fake_node("serve"))
    cleanup.append(supervisor)
    supervisor.start(1)
    supervisor.wait_ready(1, time.monotonic() + 10)
    written = parse_config((tmp_path / "data" / "cluster.ini").read_text())
    assert written.data_dir == config.data_dir
    assert written.nodes == config.nodes


def test_pid_file_garbage_or_foreign_pid_is_stale(tmp_path: Path) -> None:
    supervisor = Supervisor(make_config(tmp_path, 1))
    supervisor.pid_file(1).parent.mkdir(parents=True)
    for content in ("", "garbage", "-5", str(os.getpid())):  # our own pid is not a kraft node
        supervisor.pid_file(1).write_text(content)
        assert supervisor.running_pid(1) is None
        assert not supervisor.pid_file(1).exists()


def test_zombie_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z")
    assert not is_running(child.pid)
    child.wait()


def test_wait_until_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert wait_until_listening("127.0.0.1", port, time.monotonic() + 5)
    assert not wait_until_listening("127.0.0.1", port, time.monotonic() + 0.1)
    started = time.monotonic()
    assert not wait_until_listening("127.0.0.1", port, time.monotonic() + 30, is_alive=lambda: False)
    assert time.monotonic() - started < 5


def test_start_is_refused_when_another_process_holds_a_port(tmp_path: Path, fake_node: CommandFactory) -> None:
    config = make_config(tmp_path, 1)
    supervisor = Supervisor(config, fake_node("serve"))
    in_use = r"node 1: raft_port 127\.0\.0\.1:[0-9]+ is already in use"
    with socket.create_server(("127.0.0.1", config.node(1).raft_port)), pytest.raises(NodeProcessError, match=in_use):
        supervisor.start(1)
    assert not supervisor.pid_file(1).exists()


def test_listening_port_of_a_dead_process_is_not_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert not wait_until_listening("127.0.0.1", port, time.monotonic() + 5, is_alive=lambda: False)


def test_a_node_of_another_config_is_not_ours(
    tmp_path: Path, fake_node: CommandFactory, cleanup: list[Supervisor]
) -> None:
    ours = Supervisor(make_config(tmp_path, 1), fake_node("serve"))
    cleanup.append(ours)
    pid = ours.start(1)
    ours.wait_ready(1, time.monotonic() + 10)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = Supervisor(make_config(other_dir, 1))
    other.pid_file(1).parent.mkdir(parents=True)
    other.pid_file(1).write_text(f"{pid}\n")  # same node id, same pid, different cluster.ini
    assert other.running_pid(1) is None
    assert ours.running_pid(1) == pid
