"""Bad Kafka-protocol input against a live node's Kafka listener: unsupported keys and versions,
malformed bodies, corrupt batches, random bytes and oversized frames get Kafka's own error codes (or,
for a stream that cannot be framed, a closed connection), and the node keeps serving everyone."""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from kraft.protocol.kafka.codec import build, to_plain
from kraft.protocol.kafka.records import encode_kafka_batch
from kraft.testing.local_cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3


class RawKafka:
    """One blocking Kafka connection speaking through kio, for probing a node byte by byte."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.cid = 0

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def header(self, key: int, version: int, schema_version: int | None = None) -> bytes:
        self.cid += 1
        return struct.pack(">hhih", key, version, self.cid, 4) + b"test"

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._exactly(4))[0]
        return self._exactly(size)

    def _exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def call(self, key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        schema = load_request_schema(key, version)
        out = io.BytesIO()
        header_cls = schema.__header_schema__
        entity_writer(header_cls)(out, build(header_cls, {"request_api_key": key, "request_api_version": version,
                                                          "correlation_id": self.cid + 1, "client_id": "test"}))
        entity_writer(schema)(out, build(schema, body))
        self.cid += 1
        self.send_frame(out.getvalue())
        frame = self.read_frame()
        assert struct.unpack(">i", frame[:4])[0] == self.cid
        resp = load_response_schema(key, version)
        value, _ = entity_reader(resp)(memoryview(frame), 4)
        return to_plain(value)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(Path(tmp_path_factory.mktemp("kafka-hostile")), 1, rf=1)
    try:
        c.start_all()
        k = RawKafka(c.kafka_ports[1])
        res = k.call(19, 3, {"topics": [{"name": "t", "num_partitions": 2, "replication_factor": 1}],
                             "timeout": 30000})
        assert res["topics"][0]["error_code"] == 0
        k.close()
        c.wait_leaders("t")
        yield c
    finally:
        c.stop_all()


def still_serving(c: Cluster) -> None:
    assert c.procs[1].poll() is None, "the node died"
    k = RawKafka(c.kafka_ports[1])
    try:
        res = k.call(3, 4, {"topics": [{"name": "t"}]})
        assert res["topics"][0]["error_code"] == 0
    finally:
        k.close()


def test_api_versions_lists_only_implemented_apis_and_answers_newer_versions_with_v0(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        v0 = k.call(18, 0, {})
        keys = {a["api_key"]: (a["min_version"], a["max_version"]) for a in v0["api_keys"]}
        assert set(keys) == {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 32, 33, 35, 37,
                             43, 44, 45, 46, 60}
        assert keys[0] == (3, 7) and keys[1] == (4, 11) and keys[2] == (1, 4) and keys[3] == (1, 7)
        assert keys[23] == (2, 4)
        assert keys[21] == (0, 2) and keys[35] == (1, 4) and keys[37] == (0, 3)
        assert keys[43] == (0, 2) and keys[60] == (0, 1)
        # ApiVersions v3 (flexible) from a newer client: the v0 answer with UNSUPPORTED_VERSION (KIP-511).
        k.send_frame(k.header(18, 3) + b"\x00\x05kraft\x051.0.0\x00")
        frame = k.read_frame()
        cid, code = struct.unpack_from(">ih", frame)
        assert (cid, code) == (k.cid, UNSUPPORTED_VERSION)
        # the same connection goes on working
        assert k.call(3, 1, {"topics": None})["brokers"][0]["node_id"] == 1
    finally:
        k.close()


def test_unsupported_key_and_version_get_unsupported_version(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        for key, version in ((0, 9), (1, 12), (3, 12), (57, 0), (999, 0), (-1, 0)):
            k.send_frame(k.header(key, version) + b"\x00" * 16)
            frame = k.read_frame()
            assert struct.unpack_from(">i", frame)[0] == k.cid
            assert UNSUPPORTED_VERSION in struct.unpack_from(">" + "h" * ((len(frame) - 4) // 2), frame, 4), (
                key, version)
        assert k.call(18, 0, {})["error_code"] == 0
    finally:
        k.close()
    still_serving(node)


def test_malformed_body_gets_invalid_request_and_the_connection_lives(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        k.send_frame(k.header(10, 1) + b"\x7f\xff")  # FindCoordinator: a key string longer than the frame
        frame = k.read_frame()
        cid, _throttle, code = struct.unpack_from(">iih", frame)
        assert (cid, code) == (k.cid, INVALID_REQUEST)
        assert k.call(10, 1, {"key": "g", "key_type": 0})["error_code"] == 0
    finally:
        k.close()


def test_corrupt_batch_gets_corrupt_message_and_good_ones_still_land(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        good = encode_kafka_batch([(1_700_000_000_000, b"k", b"v", [])])
        bad = bytearray(good)
        bad[-1] ^= 0xFF

        def produce(batch: bytes, topic: str = "t") -> dict[str, Any]:
            res = k.call(0, 7, {"acks": -1, "timeout": 10000, "topic_data": [
                {"name": topic, "partition_data": [{"index": 0, "records": batch}]}]})
            return res["responses"][0]["partition_responses"][0]

        assert produce(bytes(bad))["error_code"] == CORRUPT_MESSAGE
        assert produce(good[:30])["error_code"] == CORRUPT_MESSAGE
        assert produce(good, "nope")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        ok = produce(good)
        assert ok["error_code"] == 0 and ok["base_offset"] >= 0
    finally:
        k.close()


def test_oversized_frame_closes_only_that_connection(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        k.sock.sendall(struct.pack(">i", 1 << 30) + b"\x00" * 64)
        with pytest.raises((ConnectionError, OSError)):
            k.read_frame()
    finally:
        k.close()
    still_serving(node)


def test_offset_for_leader_epoch_answers_bad_partitions_and_epochs_with_errors(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])
    try:
        res = k.call(23, 3, {"replica_id": -1, "topics": [
            {"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": -1, "leader_epoch": 2**31 - 1},
                                          {"partition": -5, "current_leader_epoch": -1, "leader_epoch": 0},
                                          {"partition": 0, "current_leader_epoch": 2**31 - 1, "leader_epoch": 0}]},
            {"topic": "", "partitions": [{"partition": 0, "current_leader_epoch": -1, "leader_epoch": -7}]}]})
        t, empty = res["topics"]
        huge, negative, newer = t["partitions"]
        assert (huge["error_code"], huge["leader_epoch"], huge["end_offset"]) == (0, -1, -1)  # an unknown epoch
        assert negative["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        assert newer["error_code"] == 75  # UNKNOWN_LEADER_EPOCH
        assert empty["partitions"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    finally:
        k.close()
    still_serving(node)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(key=st.sampled_from([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 32, 33, 35, 44]),
       body=st.binary(max_size=300))
def test_random_bodies_for_every_api(node: Cluster, key: int, body: bytes) -> None:
    versions = {0: 7, 1: 11, 2: 4, 3: 7, 8: 3, 9: 3, 10: 1, 11: 5, 12: 1, 13: 1, 14: 3, 15: 4, 16: 2, 18: 0, 19: 3,
                20: 3, 21: 2, 22: 1, 23: 4, 32: 1, 33: 1, 35: 4, 44: 0}
    # The last versions before flexible headers, except 21 v2, 23 v4 and 35 v4 (their tags come from `body`).
    k = RawKafka(node.kafka_ports[1])
    k.sock.settimeout(20)
    try:
        k.send_frame(k.header(key, versions[key]) + body)
        frame = k.read_frame()  # some answer (an error, or a real one if the bytes happen to parse)
        assert struct.unpack_from(">i", frame)[0] == k.cid
    except (ConnectionError, TimeoutError):
        assert key == 0  # only a Produce that parses with acks=0 goes unanswered, as in Kafka
    finally:
        k.close()
    still_serving(node)
