"""Local node processes for ``kraft cluster up|down|kill|start|status``.

Owns the process side of a node on this machine: starting ``python -m kraft.node`` detached (its
own session, so it outlives the CLI that started it), the pid file ``data_dir/<id>/node.pid``, the
log ``data_dir/<id>/node.log``, signals, and waiting for a node's client port to accept
connections. It knows nothing about what a node does; asking a node for its state over the
protocol is the client's job.
"""

from __future__ import annotations

import enum
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kraft.config import ClusterConfig, render_config
from kraft.errors import NodeProcessError
from kraft.raft.clock import MONOTONIC, Clock

POLL_INTERVAL_S = 0.05
CONNECT_TIMEOUT_S = 0.5
LOG_TAIL_LINES = 20

#: The signals ``kraft cluster kill --signal`` accepts.
SIGNALS: dict[str, signal.Signals] = {
    "KILL": signal.SIGKILL,
    "TERM": signal.SIGTERM,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
}

NodeCommand = Callable[[Path, int], list[str]]


def node_command(config_path: Path, node_id: int) -> list[str]:
    """The command line of a node process."""
    return [sys.executable, "-m", "kraft.node", "--config", str(config_path), "--node", str(node_id)]


class ProcessState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"  # SIGSTOP: the port still accepts connections but nothing answers
    NOT_RUNNING = "not running"


class StopResult(enum.Enum):
    STOPPED = "stopped"  # exited after SIGTERM
    KILLED = "killed"  # still there at the deadline, so SIGKILL
    NOT_RUNNING = "not running"


@dataclass(frozen=True)
class NodeProcess:
    """What this machine knows of one node's process."""

    node_id: int
    pid: int | None
    state: ProcessState


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as dead; our own are reaped here)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: the usual case, since a node outlives the CLI that started it
    else:
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return _proc_state(pid) != "Z"


def _proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat (R, S, T, Z, ...); None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces or ')': the state follows the last ')'.
    return stat.rpartition(")")[2].split()[0]


def _is_node_process(pid: int, node_id: int, config_path: Path) -> bool:
    """Guard against pid reuse: after a reboot a stale pid file may name some unrelated process
    (even another cluster's node), and `kraft cluster kill` must not signal it. Without /proc there
    is nothing to check."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    if not raw:
        # Right after posix_spawn the child may be inside its exec, its new argv not set up yet (a
        # second `start` at once then found no node and started another: test_start_twice_is_refused
        # under load). A process without arguments cannot be told apart: assume ours.
        return True
    argv = raw.split(b"\0")
    return b"--node" in argv and str(node_id).encode() in argv and str(config_path).encode() in argv


def wait_until_listening(host: str, port: int, deadline: float, is_alive: Callable[[], bool] | None = None,
                         clock: Clock = MONOTONIC) -> bool:
    """Poll a TCP connect to ``host:port`` until it succeeds (True) or ``deadline`` (on ``clock``)
    passes (False). Stops early, with False, once ``is_alive`` says the process has died."""
    while True:
        remaining = deadline - clock.now()
        listening = _accepts_connections(host, port, max(0.01, min(CONNECT_TIMEOUT_S, remaining)))
        alive = is_alive is None or is_alive()
        if listening or not alive:
            return listening and alive  # listening but dead: someone else holds the port
        if clock.now() + POLL_INTERVAL_S > deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def _accepts_connections(host: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class Supervisor:
    """Starts, signals and stops the node processes of one cluster.ini on this machine."""

    def __init__(self, config: ClusterConfig, command: NodeCommand = node_command, clock: Clock = MONOTONIC) -> None:
        self.clock = clock  # deadlines are read from it (sleeps between polls stay real: processes run in real time)
        self.config = config
        self._command = command

    def pid_file(self, node_id: int) -> Path:
        return self.config.node_data_dir(node_id) / "node.pid"

    def log_file(self, node_id: int) -> Path:
        return self.config.node_data_dir(node_id) / "node.log"

    def running_pid(self, node_id: int) -> int | None:
        """The pid of the node's live process, or None (a stale or unreadable pid file is removed)."""
        pid = self._read_pid_file(node_id)
        if pid is not None and is_running(pid) and _is_node_process(pid, node_id, self._config_path()):
            return pid
        self.pid_file(node_id).unlink(missing_ok=True)
        return None

    def status(self, node_id: int) -> NodeProcess:
        pid = self.running_pid(node_id)
        if pid is None:
            return NodeProcess(node_id, None, ProcessState.NOT_RUNNING)
        paused = _proc_state(pid) == "T"
        return NodeProcess(node_id, pid, ProcessState.PAUSED if paused else ProcessState.RUNNING)

    def start(self, node_id: int) -> int:
        """Start the node in the background and return its pid; NodeProcessError if it runs already."""
        running = self.running_pid(node_id)
        if running is not None:
            raise NodeProcessError(f"node {node_id} is already running (pid {running})", pid=running)
        self._check_ports_free(node_id)
        node_dir = self.config.node_data_dir(node_id)
        node_dir.mkdir(parents=True, exist_ok=True)
        argv = self._command(self._config_file(), node_id)
        with self.log_file(node_id).open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            pid = _spawn_detached(argv, log.fileno())
        self._write_pid_file(node_id, pid)
        return pid

    def wait_ready(self, node_id: int, deadline: float) -> None:
        """Wait until the node's client port accepts connections; NodeProcessError (with the end of
        its log) if the process exits first or the deadline passes."""
        node = self.config.node(node_id)
        pid = self._read_pid_file(node_id)
        alive = (lambda: is_running(pid)) if pid is not None else None
        if wait_until_listening(node.host, node.client_port, deadline, alive, self.clock):
            return
        exited = alive is not None and not alive()
        what = "exited" if exited else f"is not listening on {node.client_address} in time"
        raise NodeProcessError(
            f"node {node_id} {what}; end of {self.log_file(node_id)}:\n{self.log_tail(node_id)}",
            node=node_id,
        )

    def kill(self, node_id: int, sig: signal.Signals) -> int:
        """Send ``sig`` to the node's process group; returns the pid. NodeProcessError if not running."""
        pid = self.running_pid(node_id)
        if pid is None:
            raise NodeProcessError(f"node {node_id} is not running", node=node_id)
        _signal_group(pid, sig)
        return pid

    def stop(self, node_id: int, timeout_s: float) -> StopResult:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL."""
        return self.down([node_id], timeout_s)[node_id]

    def down(self, node_ids: Iterable[int] | None = None, timeout_s: float = 10.0) -> dict[int, StopResult]:
        """Stop nodes (all of the config by default): SIGTERM to every one first so they shut down
        in parallel, then SIGKILL whatever is left at the deadline."""
        ids = list(self.config.node_ids if node_ids is None else node_ids)
        pids = {node_id: self.running_pid(node_id) for node_id in ids}
        results = {node_id: StopResult.NOT_RUNNING for node_id, pid in pids.items() if pid is None}
        live = {node_id: pid for node_id, pid in pids.items() if pid is not None}
        for pid in live.values():
            _signal_group(pid, signal.SIGTERM)
            _signal_group(pid, signal.SIGCONT)  # a paused node only sees the TERM once it runs again
        deadline = self.clock.now() + timeout_s
        while True:
            for node_id in [n for n, pid in live.items() if not is_running(pid)]:
                results[node_id] = StopResult.STOPPED
                del live[node_id]
            if not live or self.clock.now() >= deadline:
                break
            time.sleep(POLL_INTERVAL_S)
        for node_id, pid in live.items():
            _signal_group(pid, signal.SIGKILL)
            results[node_id] = StopResult.KILLED
        for node_id in ids:
            if results[node_id] is not StopResult.NOT_RUNNING:
                self.pid_file(node_id).unlink(missing_ok=True)
        return {node_id: results[node_id] for node_id in ids}

    def log_tail(self, node_id: int, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_file(node_id).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _check_ports_free(self, node_id: int) -> None:
        """Refuse to start a node whose port something else already listens on: the node would exit,
        and waiting for "its" port would wrongly succeed on the other process."""
        node = self.config.node(node_id)
        ports = [("client_port", node.client_port), ("raft_port", node.raft_port), ("kafka_port", node.kafka_port),
                 ("http_port", node.http_port)]
        for key, port in ports:
            if port is not None and _accepts_connections(node.host, port):
                raise NodeProcessError(
                    f"node {node_id}: {key} {node.host}:{port} is already in use by another process", node=node_id
                )

    def _config_path(self) -> Path:
        """The file node processes of this config are started with."""
        return self.config.path if self.config.path is not None else self.config.data_dir / "cluster.ini"

    def _config_file(self) -> Path:
        """_config_path(), written out first for the embedded default, which has no file (data_dir is
        absolute in it, so the text means the same from its new place)."""
        path = self._config_path()
        if self.config.path is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_config(self.config))
        return path

    def _read_pid_file(self, node_id: int) -> int | None:
        try:
            text = self.pid_file(node_id).read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and int(text) > 0 else None

    def _write_pid_file(self, node_id: int, pid: int) -> None:
        # Write then rename, so a concurrent reader never sees a half-written pid.
        path = self.pid_file(node_id)
        tmp = path.with_suffix(".pid.tmp")
        tmp.write_text(f"{pid}\n")
        os.replace(tmp, path)


def _spawn_detached(argv: list[str], log_fd: int) -> int:
    """Start ``argv`` in a new session with stdout and stderr on ``log_fd``; returns its pid.

    posix_spawn rather than subprocess.Popen: the CLI exits right after, and a Popen object left
    behind would warn that its child still runs; the node is deliberately nobody's child.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log_fd, 1),
        (os.POSIX_SPAWN_DUP2, log_fd, 2),
    ]
    try:
        # setsid: the node gets no SIGINT/SIGHUP from the terminal of the CLI that started it.
        return os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsid=True)
    except OSError as exc:
        raise NodeProcessError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the node's process group (it leads one, having started a session), so anything it
    spawned gets the signal too; fall back to the pid alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass  # it died since we looked: the goal of the signal is reached or moot
