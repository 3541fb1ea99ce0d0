"""Hostile and wrong input against a live node: clear errors, stable codes, the node keeps serving."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from kraft import errors
from kraft.protocol.batch import encode_batch
from kraft.protocol.frames import encode_request
from kraft.testing.local_cluster import Cluster, RawClient, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def ready_topic(cluster: Cluster, name: str) -> None:
    code, _ = cluster.call(1, "create_topic", {"name": name, "partitions": 2})
    assert code == 0
    cluster.wait_leaders(name)


def test_malformed_and_oversized_frames_close_only_that_connection(cluster1: Cluster) -> None:
    ready_topic(cluster1, "t")
    bystander = RawClient(cluster1.client_ports[1])
    for garbage in (b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1",  # 0xc1 is never valid msgpack
                    struct.pack(">I", 1 << 31) + b"x",          # length over max_frame_bytes
                    struct.pack(">I", 3) + msgpack.packb([1, 2, 3])):  # not a request shape
        s = socket.create_connection(("127.0.0.1", cluster1.client_ports[1]), timeout=5)
        s.sendall(garbage)
        assert s.recv(100) == b"", "the node must close a connection that sent a bad frame"
        s.close()
    code, body = bystander.call("metadata", {"topics": ["t"]})
    assert code == 0 and body["topics"][0]["error_code"] == 0
    bystander.close()


def test_errors_have_stable_codes(cluster1: Cluster) -> None:
    ready_topic(cluster1, "t")
    c = RawClient(cluster1.client_ports[1])
    code, body = c.call("no_such_request", {})
    assert code == errors.UnsupportedRequest.code and "no_such_request" in body["message"]
    code, body = c.call("produce", {"acks": 7, "entries": []})
    assert code == errors.InvalidRequest.code
    code, body = c.call("create_topic", {"name": "bad name!"})
    assert code == errors.InvalidTopic.code
    code, body = c.call("create_topic", {"name": "t"})
    assert code == errors.TopicAlreadyExists.code
    code, body = c.call("create_topic", {"name": "x", "replication_factor": 3})
    assert code == errors.InvalidReplicationFactor.code
    batch = encode_batch([(int(time.time() * 1000), None, b"v", [])])
    code, body = c.call("produce", {"entries": [{"topic": "nope", "partition": 0, "batch": batch},
                                                {"topic": "t", "partition": 9, "batch": batch},
                                                {"topic": "t", "partition": 0, "batch": b"junk"},
                                                {"topic": "t", "partition": 0, "batch": batch[:-1] + b"\x00"},
                                                {"topic": "t", "partition": 1, "batch": batch}]})
    assert code == 0
    codes = [r["error_code"] for r in body["results"]]
    assert codes == [errors.UnknownTopicOrPartition.code, errors.UnknownTopicOrPartition.code,
                     errors.CorruptRecord.code, errors.CorruptRecord.code, 0]
    huge = encode_batch([(0, None, b"x" * (1024 * 1024 + 1), [])])
    code, body = c.call("produce", {"entries": [{"topic": "t", "partition": 0, "batch": huge}]})
    assert body["results"][0]["error_code"] == errors.RecordTooLarge.code
    code, body = c.call("fetch", {"max_wait_ms": 0, "partitions": [{"topic": "t", "partition": 1, "offset": 99}]})
    assert body["partitions"][0]["error_code"] == errors.OffsetOutOfRange.code
    code, body = c.call("fetch", {"max_wait_ms": 0, "partitions": [{"topic": "t", "partition": 1, "offset": 0}]})
    assert body["partitions"][0]["error_code"] == 0 and len(body["partitions"][0]["batches"]) == 1
    c.close()


def test_port_in_use_and_bad_config_refuse_to_start(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 1, rf=1)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", cluster.client_ports[1]))
    squatter.listen(1)
    try:
        out = subprocess.run([sys.executable, "-m", "kraft.node", "--config", str(cluster.config_path)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1
        assert "client_port" in out.stderr and "in use" in out.stderr
    finally:
        squatter.close()
    bad = tmp_path / "bad.ini"
    bad.write_text("[cluster]\nfsync = sometimes\n[node.1]\nhost = 127.0.0.1\nclient_port = 1\nraft_port = 2\n")
    out = subprocess.run([sys.executable, "-m", "kraft.node", "--config", str(bad)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "[cluster] fsync" in out.stderr


def test_long_poll_fetch_waits_then_returns_new_data(cluster1: Cluster) -> None:
    ready_topic(cluster1, "t")
    waiting = RawClient(cluster1.client_ports[1])
    first = {"topic": "t", "partition": 0, "offset": 0}

    def serving() -> bool:
        # A new leader answers LEADER_NOT_AVAILABLE, at once, until its first entry is applied and
        # stored (wait_leaders sees the leader before that; on a loaded machine, for a while).
        code, body = waiting.call("fetch", {"max_wait_ms": 0, "partitions": [first]})
        return code == 0 and body["partitions"][0]["error_code"] == 0

    wait_for(serving, 10, "the partition's leader to serve fetches")
    start = time.monotonic()
    code, body = waiting.call("fetch", {"max_wait_ms": 300, "partitions": [first]})
    assert code == 0 and body["partitions"][0]["error_code"] == 0 and body["partitions"][0]["batches"] == []
    assert time.monotonic() - start >= 0.25, "an empty fetch must wait max_wait_ms, not spin"
    batch = encode_batch([(0, None, b"late", [])])
    waiting.sock.sendall(encode_request(
        99, "fetch", {"max_wait_ms": 10_000, "partitions": [{"topic": "t", "partition": 0, "offset": 0}]}))
    code, body = cluster1.call(1, "produce", {"entries": [{"topic": "t", "partition": 0, "batch": batch}]})
    assert body["results"][0]["error_code"] == 0
    t0 = time.monotonic()

    def answered() -> bool:
        frame = waiting.decoder.next_frame()
        if frame is None:
            waiting.decoder.feed(waiting.sock.recv(1 << 16))
            frame = waiting.decoder.next_frame()
        return frame is not None and len(frame[2]["partitions"][0]["batches"]) == 1

    wait_for(answered, 5, "the waiting fetch to return the new batch")
    assert time.monotonic() - t0 < 2
    waiting.close()


def test_connection_limits_refuse_excess_and_cut_off_a_client_that_does_not_read(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 1, rf=1, extra="max_in_flight_requests = 4\nmax_connection_buffer_bytes = 1048576")
    try:
        cluster.start_all()
        ready_topic(cluster, "t")
        big = encode_batch([(0, None, b"x" * 200_000, [])])
        for _ in range(5):
            code, body = cluster.call(1, "produce", {"entries": [{"topic": "t", "partition": 0, "batch": big}]})
            assert body["results"][0]["error_code"] == 0
        # Many long-polling fetches at once: beyond 4 in flight, each is refused at once with its code.
        c = RawClient(cluster.client_ports[1])
        waiting = {"max_wait_ms": 2000, "min_bytes": 1 << 30,
                   "partitions": [{"topic": "t", "partition": 1, "offset": 0}]}
        for cid in range(1, 9):
            c.sock.sendall(encode_request(cid, "fetch", waiting))
        codes = {}
        while len(codes) < 8:
            frame = c.decoder.next_frame()
            if frame is None:
                c.decoder.feed(c.sock.recv(1 << 16))
                continue
            codes[frame[0]] = frame[1]
        assert sorted(codes.values()).count(errors.TooManyInFlight.code) == 4
        c.close()
        # A client that never reads its answers is cut off once they pass the buffer limit.
        greedy = socket.create_connection(("127.0.0.1", cluster.client_ports[1]), timeout=30)
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        read_all = {"max_wait_ms": 0, "partitions": [{"topic": "t", "partition": 0, "offset": 0, "max_bytes": 1 << 20}]}

        def cut_off() -> bool:
            try:
                for cid in range(4):
                    greedy.sendall(encode_request(cid, "fetch", read_all))
            except OSError:
                return True
            return False

        wait_for(cut_off, 60, "the node to close the connection of a client that does not read", interval_s=0.2)
        greedy.close()
        code, body = cluster.call(1, "metadata", {"topics": ["t"]})
        assert code == 0, "the node keeps serving others"
    finally:
        cluster.stop_all()
