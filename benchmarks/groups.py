"""Consumer-group benchmarks: commit throughput through the metadata group, and rebalance time.

Commit throughput: one member of a group pipelines ``offset_commit`` requests (one partition each,
``COMMIT_WINDOW`` in flight) at the coordinator; the coordinator batches what arrives while a
proposal is in flight into the next metadata-group entry. Rebalance time: three consumers are
stable in a group; a fourth subscribes; the figure is the time from its first poll until all four
have been assigned in the new generation.
"""

from __future__ import annotations

import selectors
import socket
import statistics
import threading
import time
from typing import Any

from kraft import Consumer
from kraft.protocol.frames import FrameDecoder, decode_response, encode_request
from kraft.testing.local_cluster import Cluster, RawClient, wait_for

COMMIT_WINDOW = 64


def coordinator_port(cluster: Cluster) -> int:
    c = RawClient(next(iter(cluster.client_ports.values())))
    try:
        code, body = c.call("find_coordinator", {"group_id": "bench"})
        assert code == 0, body
        return int(body["port"])
    finally:
        c.close()


def commit_throughput(cluster: Cluster, topic: str, partitions: int, commits: int) -> float:
    port = coordinator_port(cluster)
    member = RawClient(port)
    code, joined = member.call("join_group", {"group_id": "bench", "member_id": "", "client_id": "bench",
                                              "topics": [topic], "session_timeout_ms": 30_000,
                                              "rebalance_timeout_ms": 30_000, "strategy": "range"})
    assert code == 0, joined
    sock = socket.create_connection(("127.0.0.1", port))
    decoder = FrameDecoder()
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sent = done = 0
    start = time.perf_counter()
    while done < commits:
        while sent < commits and sent - done < COMMIT_WINDOW:
            body: dict[str, Any] = {"group_id": "bench", "member_id": joined["member_id"],
                                    "generation": joined["generation"],
                                    "offsets": [{"topic": topic, "partition": sent % partitions, "offset": 0}]}
            sock.sendall(encode_request(sent, "offset_commit", body))
            sent += 1
        sel.select(5)
        decoder.feed(sock.recv(1 << 20))
        while (frame := decoder.next_frame()) is not None:
            _, code, result = decode_response(frame)
            assert code == 0 and result["results"][0]["error_code"] == 0, result
            done += 1
    elapsed = time.perf_counter() - start
    sock.close()
    member.call("leave_group", {"group_id": "bench", "member_id": joined["member_id"]})
    member.close()
    return commits / elapsed


def rebalance_time(cluster: Cluster, topic: str, group: str) -> float:
    """Seconds from a fourth member's first poll until all four hold the new generation's partitions."""
    stop = threading.Event()
    consumers: list[Consumer] = []
    assigned: dict[int, int] = {}

    def run(i: int) -> None:
        c = Consumer(cluster.bootstrap, group_id=group, heartbeat_interval_ms=1000, session_timeout_ms=10_000)
        consumers.append(c)

        def on_assign(tps: list[Any], i: int = i) -> None:
            assigned[i] = len(tps)

        c.subscribe([topic], on_assign=on_assign)
        while not stop.is_set():
            c.poll(timeout_ms=100)
        c.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(assigned) == 3 and sum(assigned.values()) == 6, 60, "three stable members")
    assigned.clear()
    t0 = time.monotonic()
    fourth = threading.Thread(target=run, args=(3,), daemon=True)
    fourth.start()
    wait_for(lambda: len(assigned) == 4 and sum(assigned.values()) == 6, 60, "four members assigned", 0.01)
    elapsed = time.monotonic() - t0
    stop.set()
    for t in [*threads, fourth]:
        t.join(timeout=30)
    return elapsed


def run_group_benchmarks(cluster: Cluster, runs: int) -> dict[str, Any]:
    from kraft import Admin

    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("groups-bench", partitions=6, replication_factor=3)
    cluster.wait_leaders("groups-bench")
    commit_rates = [commit_throughput(cluster, "groups-bench", 6, 5000) for _ in range(runs)]
    rebalances = [rebalance_time(cluster, "groups-bench", f"rb-{i}") for i in range(runs)]
    return {"commits_per_s": statistics.median(commit_rates), "commit_runs": commit_rates,
            "rebalance_4th_member_s": statistics.median(rebalances), "rebalance_runs": rebalances}
