"""Real kraft node processes on 127.0.0.1 with free ports, for cluster tests and benchmarks.

Every process is started with its own pid recorded and is stopped by that pid (SIGKILL as the last
resort) when the test ends, whatever happened in it. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from kraft.errors import ClusterAuthorizationFailed
from kraft.protocol.frames import FrameDecoder, decode_response, encode_request

T = TypeVar("T")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports nobody listens on now, chosen *below* the kernel's ephemeral range: a port
    from that range (what ``bind(0)`` hands out) can be taken by any outgoing connection (a client of
    an earlier test) before the node binds it. Below it, only another process choosing the same random
    port can collide."""
    low, _high = _ephemeral_range()
    if low - _FIRST_PORT < 1000:
        return _ephemeral_ports(n)  # an unusual range leaves no room below it: the old way
    chosen: list[int] = []
    while len(chosen) < n:
        port = _random.randrange(_FIRST_PORT, low)
        if port not in chosen and _bindable(port):
            chosen.append(port)
    return chosen


_FIRST_PORT = 10000
_random = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ephemeral_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(cond: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # the condition may fail while nodes come up
            last_exc = e
        time.sleep(interval_s)  # sleep-ok: poll interval of a deadline-bounded wait
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last error: {last_exc!r})")


class RawClient:
    """A minimal blocking native-protocol client for probing a single node."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.decoder = FrameDecoder()
        self.cid = 0

    def call(self, api: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.cid += 1
        self.sock.sendall(encode_request(self.cid, api, body))
        while True:
            frame = self.decoder.next_frame()
            if frame is not None:
                cid, code, result = decode_response(frame)
                assert cid == self.cid
                return code, result
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("node closed the connection")
            self.decoder.feed(data)

    def close(self) -> None:
        self.sock.close()


class Cluster:
    def __init__(self, root: Path, n: int, *, fsync: str = "always", rf: int = 3, partitions: int = 3,
                 extra: str = "", faults: bool = False, sync_snapshots: bool = False, http: bool = False) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.n = n
        ports = free_ports(4 * n if http else 3 * n)
        self.client_ports = {i + 1: ports[3 * i] for i in range(n)}
        self.raft_ports = {i + 1: ports[3 * i + 1] for i in range(n)}
        self.kafka_ports = {i + 1: ports[3 * i + 2] for i in range(n)}
        # With ``http``: each node serves /metrics and /health on its http_port.
        self.http_ports = {i + 1: ports[3 * n + i] for i in range(n)} if http else {}
        lines = ["[cluster]", f"data_dir = {root / 'data'}", f"replication_factor = {rf}",
                 f"partitions = {partitions}", f"fsync = {fsync}", extra]
        for i in range(1, n + 1):
            lines += [f"[node.{i}]", "host = 127.0.0.1", f"client_port = {self.client_ports[i]}",
                      f"raft_port = {self.raft_ports[i]}", f"kafka_port = {self.kafka_ports[i]}"]
            if i in self.http_ports:
                lines.append(f"http_port = {self.http_ports[i]}")
        self.config_path = root / "cluster.ini"
        self.config_path.write_text("\n".join(lines) + "\n")
        self.configs: dict[int, Path] = {}  # a node's own cluster.ini when not the shared one (add_node)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.retired: set[int] = set()  # stopped for good (decommissioned): never started again
        self.env = {**os.environ, "KRAFT_FAULTS": "1"} if faults else None
        if sync_snapshots:  # each node keeps a copy of its data as of its last fsync (power-loss tests)
            self.env = {**(self.env or os.environ), "KRAFT_FAULTS_SYNC_SNAPSHOT": "1"}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports.values())

    @property
    def kafka_bootstrap(self) -> str:
        """The nodes' Kafka-protocol listeners, for Kafka clients."""
        return ",".join(f"127.0.0.1:{p}" for p in self.kafka_ports.values())

    def add_node(self) -> int:
        """A node the others' cluster.ini does not know: its own cluster.ini is theirs plus its section.
        Started, not waited for (it joins the running cluster: ``kraft node start --node N``)."""
        node = max(self.client_ports) + 1
        client, raft, kafka = free_ports(3)
        self.client_ports[node], self.raft_ports[node], self.kafka_ports[node] = client, raft, kafka
        path = self.root / f"cluster-node{node}.ini"
        path.write_text(self.config_path.read_text() + "\n".join([
            f"[node.{node}]", "host = 127.0.0.1", f"client_port = {client}", f"raft_port = {raft}",
            f"kafka_port = {kafka}"]) + "\n")
        self.configs[node] = path
        self.start(node)
        return node

    def start(self, node: int) -> None:
        if node in self.retired:
            raise AssertionError(f"node {node} was retired (decommissioned): it never comes back")
        log = open(self.root / f"node{node}.log", "ab")  # noqa: SIM115 - owned by the process
        config = self.configs.get(node, self.config_path)
        self.procs[node] = subprocess.Popen(
            [sys.executable, "-m", "kraft.node", "--config", str(config), "--node", str(node)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env,
        )
        log.close()

    def start_all(self) -> None:
        self.start_nodes(range(1, self.n + 1))

    def start_nodes(self, nodes: Iterable[int]) -> None:
        """Start ``nodes`` (others of the file may start later: a cluster that grows) and wait until
        they listen, the metadata group has a leader and they have registered (new replicas go to
        registered nodes: a topic created before one of them registered would leave it out)."""
        started = list(nodes)
        for i in started:
            self.start(i)
        for i in started:
            wait_for(functools.partial(self._listening, i), 20, f"node {i} listening")
        wait_for(self._has_controller, 30, "a metadata leader")
        wait_for(lambda: self.registered(started), 30, f"nodes {started} to register")

    def registered(self, nodes: list[int]) -> bool:
        """Whether some running node's metadata has every one of ``nodes`` registered (a rebalance
        plan counts the registered nodes)."""
        for node in self.alive():
            c = RawClient(self.client_ports[node])
            try:
                code, plan = c.call("plan_rebalance", {})
                if code == 0 and set(nodes) <= {n for n, _ in plan["replicas_before"]}:
                    return True
            finally:
                c.close()
        return False

    def _listening(self, node: int) -> bool:
        """Whether ``node`` answers on its client port. It must say it is that node: another process
        of this shared machine can take a free port before the node binds it (the node then exits,
        "address already in use"), and a bare connect would take that process's listener for it."""
        proc = self.procs[node]
        if proc.poll() is not None:
            raise AssertionError(f"node {node} exited with {proc.returncode}: {self.log(node)[-2000:]}")
        try:
            c = RawClient(self.client_ports[node], timeout_s=2.0)
        except OSError:
            return False
        try:
            code, status = c.call("node_status", {})
            return code == 0 and status.get("node_id") == node
        except Exception:  # not a kraft node, or one still starting
            return False
        finally:
            c.close()

    def _has_controller(self) -> bool:
        for node in self.alive():
            c = RawClient(self.client_ports[node])
            try:
                code, md = c.call("metadata", {"topics": []})
                if code == 0 and md["controller"] is not None:
                    return True
            finally:
                c.close()
        return False

    def alive(self) -> list[int]:
        return [i for i, p in self.procs.items() if p.poll() is None]

    def kill(self, node: int, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[node]
        os.kill(proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=15)

    def never_started(self) -> list[int]:
        """Nodes of cluster.ini not started yet (spares a growing cluster may start later)."""
        return [i for i in range(1, self.n + 1) if i not in self.procs and i not in self.retired]

    def retire(self, node: int) -> None:
        """Stop ``node`` for good (a decommissioned node that holds no replica): it leaves ``procs``,
        so waits, status reads and faults over the cluster's nodes no longer include it."""
        if self.procs[node].poll() is None:
            self.kill(node, signal.SIGKILL)
        del self.procs[node]
        self.retired.add(node)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass

    def log(self, node: int) -> str:
        path = self.root / f"node{node}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def call(self, node: int, api: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        c = RawClient(self.client_ports[node])
        try:
            return c.call(api, body)
        finally:
            c.close()

    def leaders(self, topic: str) -> dict[int, int | None]:
        """partition -> leader, as the nodes that are up report it (None while unknown)."""
        for node in self.alive():
            code, md = self.call(node, "metadata", {"topics": [topic]})
            if code == 0 and md["topics"] and md["topics"][0]["error_code"] == 0:
                return {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}
        return {}

    def preferred_leaders(self, topic: str) -> dict[int, int]:
        """partition -> its preferred replica (the first of its assignment), as a node up reports it."""
        for node in self.alive():
            code, md = self.call(node, "metadata", {"topics": [topic]})
            if code == 0 and md["topics"] and md["topics"][0]["error_code"] == 0:
                return {p["partition"]: int(p["replicas"][0]) for p in md["topics"][0]["partitions"]}
        return {}

    def wait_leaders(self, topic: str, timeout_s: float = 30, exclude: set[int] | None = None, *,
                     preferred: bool = False) -> dict[int, int]:
        """partition -> leader once every partition of ``topic`` has a leader among the nodes up
        (not in ``exclude``) that serves it: its own term's first entry applied and stored, so that
        a fetch or ListOffsets right after is answered (a new leader refuses them until then). With
        ``preferred``, only once each leader is its partition's preferred replica: leader balancing
        (``leader_balance_interval_ms``) would otherwise move it away from a test that took it for
        the leader."""
        def ready() -> dict[int, int]:
            leaders = self.leaders(topic)
            alive = set(self.alive()) - (exclude or set())
            led = {p: v for p, v in leaders.items() if v is not None and v in alive}
            if not leaders or len(led) != len(leaders):
                return {}
            if preferred and led != self.preferred_leaders(topic):
                return {}
            return led if all(self._serving(node, topic, {p for p, v in led.items() if v == node})
                              for node in set(led.values())) else {}

        return wait_for(ready, timeout_s, f"serving leaders of every partition of {topic}")

    def _serving(self, node: int, topic: str, partitions: set[int]) -> bool:
        """Whether ``node`` leads and serves each of ``partitions`` of ``topic``."""
        code, status = self.call(node, "node_status", {})
        if code == ClusterAuthorizationFailed.code:
            return True  # a cluster with ACLs that does not let this client see: leaders alone then
        if code != 0:
            return False
        serving = {g["partition"] for g in status["groups"]
                   if g["topic"] == topic and g["leader"] == node and g.get("serving")}
        return partitions <= serving

    def partition(self, side: set[int]) -> None:
        """Cut the nodes in ``side`` off from the rest (both directions); ``heal`` undoes it."""
        others = set(self.procs) - side
        for node in self.alive():
            blocked = others if node in side else side
            code, body = self.call(node, "debug_faults", {"blocked": sorted(blocked)})
            assert code == 0, body

    def heal(self) -> None:
        for node in self.alive():
            code, body = self.call(node, "debug_faults", {})
            assert code == 0, body

    def node_status(self, node: int) -> dict[str, Any]:
        code, status = self.call(node, "node_status", {})
        assert code == 0
        return status
