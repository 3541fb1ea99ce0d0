"""Bad Kafka-protocol input against a live node's Kafka listener: unsupported keys and versions,
malformed bodies, corrupt batches, random bytes and oversized frames get Kafka's own error codes (or,
for a stream that cannot be framed, a closed connection), and the node keeps serving everyone."""

from __future__ import annotations

import io
import socket
import struct
import uuid
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
        resp = load_response_schema(key, version)
        header, pos = entity_reader(resp.__header_schema__)(memoryview(frame), 0)  # v1 headers (flexible) have tags
        assert header.correlation_id == self.cid
        value, _ = entity_reader(resp)(memoryview(frame), pos)
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
        assert set(keys) == {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 29, 30, 31, 32,
                             33, 35, 37, 42, 43, 44, 45, 46, 47, 50, 51, 60, 68, 69}
        # Kafka 3.7's versions of every API kraft implements (Fetch without topic ids, so up to 12)
        assert keys[0] == (0, 9) and keys[1] == (0, 12) and keys[2] == (0, 7) and keys[3] == (0, 12)
        assert keys[8] == (2, 9) and keys[9] == (1, 9) and keys[10] == (0, 4) and keys[18] == (0, 3)
        assert keys[19] == (2, 7) and keys[20] == (1, 6) and keys[22] == (0, 4)
        assert keys[23] == (2, 4)
        assert keys[21] == (0, 2) and keys[35] == (1, 4) and keys[37] == (0, 3)
        assert keys[42] == (0, 2) and keys[43] == (0, 2) and keys[60] == (0, 1)
        assert keys[68] == (0, 1) and keys[69] == (0, 1)  # KIP-848 consumer groups
        assert keys[16] == (0, 5) and keys[47] == (0, 0) and keys[50] == (0, 0) and keys[51] == (0, 0)
        assert keys[29] == keys[30] == keys[31] == (1, 3)  # the ACL APIs (v0 has no kio schema)
        # ApiVersions v3 (flexible, KIP-511) is served, with the client's name and version checked
        v3 = k.call(18, 3, {"client_software_name": "kraft-test", "client_software_version": "1.0.0"})
        assert v3["error_code"] == 0 and v3["api_keys"] == v0["api_keys"]
        bad = k.call(18, 3, {"client_software_name": "-bad name-", "client_software_version": "1.0.0"})
        assert (bad["error_code"], bad["api_keys"]) == (INVALID_REQUEST, [])
        # a newer ApiVersions than kraft's: the v0 answer with UNSUPPORTED_VERSION and the list
        k.send_frame(struct.pack(">hhih", 18, 9, k.cid + 1, 4) + b"test\x00\x05kraft\x051.0.0\x00")
        k.cid += 1
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
        for key, version in ((0, 10), (1, 13), (3, 13), (57, 0), (999, 0), (-1, 0)):
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


def test_consumer_group_heartbeat_and_describe_answer_bad_fields_with_errors(node: Cluster) -> None:
    k = RawKafka(node.kafka_ports[1])

    def beat(version: int = 1, **fields: Any) -> dict[str, Any]:
        body = {"group_id": "hostile", "member_id": "m-hostile", "member_epoch": 0, "rebalance_timeout": 1000,
                "subscribed_topic_names": ["t"], "topic_partitions": [], **fields}
        return k.call(68, version, body)
    try:
        assert beat(group_id="")["error_code"] == INVALID_REQUEST
        assert beat(member_epoch=-3)["error_code"] == INVALID_REQUEST
        assert beat(member_id="")["error_code"] == INVALID_REQUEST  # v1: the client names itself
        assert beat(subscribed_topic_names=None)["error_code"] == INVALID_REQUEST
        assert beat(subscribed_topic_regex="(?<=t)")["error_code"] == 128  # INVALID_REGULAR_EXPRESSION (RE2)
        assert beat(subscribed_topic_regex="t" * 5000)["error_code"] == 128
        assert beat(subscribed_topic_names=None, subscribed_topic_regex=None)["error_code"] == INVALID_REQUEST
        assert beat(topic_partitions=[{"topic_id": uuid.uuid4(), "partitions": [0]}])["error_code"] == 0, \
            "partitions of an unknown topic id are dropped, so this is an empty owned set"
        assert beat(server_assignor="nonesuch")["error_code"] == 112  # UNSUPPORTED_ASSIGNOR
        assert beat(member_id="stranger", member_epoch=5, topic_partitions=None)["error_code"] == 25
        joined = beat(version=0, member_id="")  # v0: the coordinator names the member
        assert joined["error_code"] == 0 and joined["member_id"] and joined["member_epoch"] > 0
        ahead = beat(member_id=joined["member_id"], member_epoch=joined["member_epoch"] + 7, topic_partitions=None)
        assert ahead["error_code"] == 110  # FENCED_MEMBER_EPOCH
        for mid in (joined["member_id"], "m-hostile"):
            assert beat(member_id=mid, member_epoch=-1)["error_code"] == 0
        described = k.call(69, 1, {"group_ids": ["", "nope", "hostile"], "include_authorized_operations": True})
        codes = [g["error_code"] for g in described["groups"]]
        assert codes[:2] == [69, 69] and codes[2] == 0  # GROUP_ID_NOT_FOUND; "hostile" is Empty now
    finally:
        k.close()
    still_serving(node)


def test_admin_apis_answer_hostile_fields_with_errors(node: Cluster) -> None:
    """The admin APIs of issue 14 given what no client sends: a user name past a key's size, iterations
    at int32's ends, filters that name nothing, a partition number far out, a broker config value of
    10 KB, a logger that does not exist. Each gets Kafka's error (or is served), and the node goes on."""
    k = RawKafka(node.kafka_ports[1])
    try:
        long_user = "u" * 5000
        alter = k.call(51, 0, {"deletions": [{"name": "nobody", "mechanism": 1}], "upsertions": [
            {"name": long_user, "mechanism": 2, "iterations": 4096, "salt": b"\0" * 64, "salted_password": b"x" * 64},
            {"name": "max", "mechanism": 1, "iterations": 2 ** 31 - 1, "salt": b"", "salted_password": b""},
            {"name": "min", "mechanism": 1, "iterations": -(2 ** 31), "salt": b"s", "salted_password": b"p"},
            {"name": "odd", "mechanism": -1, "iterations": 8192, "salt": b"s", "salted_password": b"p"}]})
        assert [(r["user"][:8], r["error_code"]) for r in alter["results"]] == [
            ("nobody", 91), ("u" * 8, 0), ("max", 93), ("min", 93), ("odd", 33)]
        described = k.call(50, 0, {"users": [{"name": long_user}, {"name": ""}]})["results"]
        assert [(r["error_code"], r["credential_infos"]) for r in described] == [
            (0, [{"mechanism": 2, "iterations": 4096}]), (91, [])]
        listed = k.call(16, 5, {"states_filter": ["\x00" * 300], "types_filter": ["nope"]})
        assert (listed["error_code"], listed["groups"]) == (0, [])
        far = {"name": "t", "partitions": [{"partition_index": 2 ** 31 - 1}, {"partition_index": -1}]}
        assert k.call(47, 0, {"group_id": "offsets-only", "topics": [far]}) == {
            "error_code": 69, "throttle_time": 0, "topics": []}  # GROUP_ID_NOT_FOUND before any partition
        commit = k.call(8, 2, {"group_id": "offsets-only", "generation_id_or_member_epoch": -1, "member_id": "",
                               "retention_time_ms": -1, "topics": [{"name": "t", "partitions": [
                                   {"partition_index": 0, "committed_offset": 1, "committed_metadata": ""}]}]})
        assert commit["topics"][0]["partitions"][0]["error_code"] == 0
        deleted = k.call(47, 0, {"group_id": "offsets-only", "topics": [far]})
        assert deleted["error_code"] == 0
        assert [p["error_code"] for p in deleted["topics"][0]["partitions"]] == [UNKNOWN_TOPIC_OR_PARTITION] * 2
        configs = k.call(44, 1, {"resources": [
            {"resource_type": 4, "resource_name": "1", "configs": [
                {"name": "background.threads", "config_operation": 0, "value": "9" * 10_000}]},
            {"resource_type": 4, "resource_name": "-1", "configs": []},
            {"resource_type": 8, "resource_name": "1", "configs": [
                {"name": "no.such.logger", "config_operation": 0, "value": "DEBUG"}]}], "validate_only": False})
        assert [r["error_code"] for r in configs["responses"]] == [40, INVALID_REQUEST, 40], configs
    finally:
        k.close()
    still_serving(node)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


VERSIONS = {0: 7, 1: 11, 2: 4, 3: 7, 8: 3, 9: 3, 10: 1, 11: 5, 12: 1, 13: 1, 14: 3, 15: 4, 16: 2, 18: 0, 19: 3,
            20: 3, 21: 2, 22: 1, 23: 4, 32: 1, 33: 1, 35: 4, 42: 1, 44: 0}
# The last versions before flexible headers, except 21 v2, 23 v4 and 35 v4 (their tags come from `body`).
# The flexible versions added for Kafka 3.7 (each one's first flexible version, and its newest):
NEW_VERSIONS = [(0, 9), (1, 12), (2, 6), (2, 7), (3, 9), (3, 12), (8, 8), (9, 6), (9, 8), (10, 3), (10, 4), (18, 3),
                (19, 5), (19, 7), (20, 4), (20, 6), (22, 2), (22, 4),
                # KIP-848: OffsetCommit and OffsetFetch v9, the consumer group APIs
                (8, 9), (9, 9), (42, 2), (68, 0), (68, 1), (69, 0), (69, 1),
                (0, 0), (0, 1), (0, 2), (3, 0),  # Kafka 0.9's Produce (legacy message sets) and Metadata
                (1, 0), (1, 1), (1, 2), (1, 3), (2, 0),  # and Fetch (message sets) and ListOffsets
                # issue 14's admin APIs: ListGroups with states and types, OffsetDelete, SCRAM credentials,
                # and the flexible IncrementalAlterConfigs (BROKER resources are now altered)
                (16, 3), (16, 4), (16, 5), (47, 0), (50, 0), (51, 0), (44, 1), (33, 2),
                # DescribeAcls, CreateAcls, DeleteAcls: v1 (the last before flexible), v2 and v3
                (29, 1), (29, 2), (29, 3), (30, 1), (30, 2), (30, 3), (31, 1), (31, 2), (31, 3)]


@SETTINGS
@given(key_version=st.sampled_from(sorted(VERSIONS.items()) + NEW_VERSIONS), body=st.binary(max_size=300))
def test_random_bodies_for_every_api(node: Cluster, key_version: tuple[int, int], body: bytes) -> None:
    key, version = key_version
    k = RawKafka(node.kafka_ports[1])
    k.sock.settimeout(20)
    try:
        k.send_frame(k.header(key, version) + body)
        frame = k.read_frame()  # some answer (an error, or a real one if the bytes happen to parse)
        assert struct.unpack_from(">i", frame)[0] == k.cid
    except (ConnectionError, TimeoutError):
        assert key == 0, key_version  # only a Produce that parses with acks=0 goes unanswered, as in Kafka
    finally:
        k.close()
    still_serving(node)


def test_acl_apis_answer_bad_codes_with_invalid_request(node: Cluster) -> None:
    """UNKNOWN (0) and unheard-of codes, filter-only codes in a binding, an empty name, a principal
    without a type: each creation or filter is refused on its own, the request still answered, and
    nothing invalid is stored."""
    k = RawKafka(node.kafka_ports[1])
    try:
        good = {"resource_type": 2, "resource_name": "hostile-acl", "resource_pattern_type": 3,
                "principal": "User:x", "host": "*", "operation": 3, "permission_type": 3}
        bad = [{**good, "resource_type": 0}, {**good, "resource_type": 1}, {**good, "resource_type": 99},
               {**good, "resource_pattern_type": 2}, {**good, "operation": 1}, {**good, "operation": -5},
               {**good, "permission_type": 1}, {**good, "resource_name": ""}, {**good, "principal": "nobody"},
               {**good, "resource_type": 4, "resource_name": "other-cluster"}]
        res = k.call(30, 3, {"creations": [good, *bad]})
        assert [r["error_code"] for r in res["results"]] == [0] + [INVALID_REQUEST] * len(bad)
        described = k.call(29, 3, {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                                   "principal_filter": "User:x", "host_filter": None, "operation": 1,
                                   "permission_type": 1})
        assert described["error_code"] == 0
        assert [(r["resource_name"], len(r["acls"])) for r in described["resources"]] == [("hostile-acl", 1)]
        unknown = k.call(29, 1, {"resource_type_filter": 0, "resource_name_filter": None, "pattern_type_filter": 1,
                                 "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1})
        assert unknown["error_code"] == INVALID_REQUEST and unknown["resources"] == []
        any_filter = {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                      "principal_filter": "User:x", "host_filter": None, "operation": 1, "permission_type": 1}
        deleted = k.call(31, 2, {"filters": [{**any_filter, "operation": 77}, any_filter]})
        assert [f["error_code"] for f in deleted["filter_results"]] == [INVALID_REQUEST, 0]
        assert [m["resource_name"] for m in deleted["filter_results"][1]["matching_acls"]] == ["hostile-acl"]
    finally:
        k.close()
    still_serving(node)


def fetch_body(session_id: int, epoch: int, partitions: list[int]) -> dict[str, Any]:
    return {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": session_id, "session_epoch": epoch, "rack_id": "",
            "topics": [{"topic": "t", "partitions": [
                {"partition": p, "current_leader_epoch": -1, "fetch_offset": 0, "last_fetched_epoch": -1,
                 "log_start_offset": -1, "partition_max_bytes": 1 << 16} for p in partitions]}],
            "forgotten_topics_data": []}


def test_a_flood_of_fetch_sessions_stays_bounded(tmp_path: Path) -> None:
    """max_fetch_sessions = 20: 500 clients each opening a session get sessions while there is room,
    then session id 0 (full fetches, served all the same); the sessions there keep working, a bad
    epoch or an unknown id gets Kafka's errors, and the node keeps serving."""
    c = Cluster(tmp_path, 1, rf=1, extra="max_fetch_sessions = 20")
    try:
        c.start_all()
        k = RawKafka(c.kafka_ports[1])
        try:
            assert k.call(19, 7, {"topics": [{"name": "t", "num_partitions": 2, "replication_factor": 1}],
                                  "timeout": 30000})["topics"][0]["error_code"] == 0
            c.wait_leaders("t")
            first = k.call(1, 12, fetch_body(0, 0, [0, 1]))
            assert first["error_code"] == 0 and first["session_id"] != 0
            ids = [k.call(1, 12, fetch_body(0, 0, [0]))["session_id"] for _ in range(500)]
            assert len([i for i in ids if i]) == 19 and ids[19:] == [0] * 481, "the cache held 20 sessions at most"
            assert len(set(ids[:19]) | {first["session_id"]}) == 20
            # the first session is still there: an incremental fetch with nothing new answers no partitions
            incremental = k.call(1, 12, fetch_body(first["session_id"], 1, []))
            assert (incremental["error_code"], incremental["session_id"]) == (0, first["session_id"])
            assert incremental["responses"] == []
            assert k.call(1, 12, fetch_body(first["session_id"], 1, []))["error_code"] == 71  # epoch used already
            unknown = max(ids) + 1
            assert k.call(1, 12, fetch_body(unknown, 1, []))["error_code"] == 70
            assert k.call(1, 12, fetch_body(first["session_id"], -1, [0]))["session_id"] == 0  # closed
            assert k.call(1, 12, fetch_body(first["session_id"], 2, []))["error_code"] == 70
        finally:
            k.close()
        still_serving(c)
    finally:
        c.stop_all()
