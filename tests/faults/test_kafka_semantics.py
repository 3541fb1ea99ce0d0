"""Kafka protocol semantics probed request by request on a live node (raw frames through kio): fetch
size limits, fetch inside a batch and past the end, acks=0 produce (no answer; a failure closes the
connection, as Kafka does), batch header fields a client may set, and offset commits of a consumer
that uses assign() (generation -1, no member id)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import TopicPartition as CKTopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition
from kio.index import load_request_schema
from kio.serial import entity_writer

from kraft.protocol.kafka.codec import build
from kraft.protocol.kafka.records import decode_kafka_batch, encode_kafka_batch, split_record_set
from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_MEMBER_ID = 25
MEMBER_ID_REQUIRED = 79
TS = 1_700_000_000_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(Path(tmp_path_factory.mktemp("kafka-semantics")), 1, rf=1)
    try:
        c.start_all()
        k = RawKafka(c.kafka_ports[1])
        for name in ("big", "inside", "acks0", "hdr", "commits", "reset"):
            res = k.call(19, 3, {"topics": [{"name": name, "num_partitions": 3, "replication_factor": 1}],
                                 "timeout": 30000})
            assert res["topics"][0]["error_code"] == 0
            c.wait_leaders(name)
        k.close()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def k(node: Cluster) -> Iterator[RawKafka]:
    conn = RawKafka(node.kafka_ports[1])
    try:
        yield conn
    finally:
        conn.close()


def produce(k: RawKafka, topic: str, partition: int, batch: bytes, acks: int = -1) -> dict[str, Any]:
    res = k.call(0, 7, {"acks": acks, "timeout": 10000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]})
    part = res["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 0, part
    return part


def fetch(k: RawKafka, topic: str, offsets: dict[int, int], *, max_bytes: int = 52428800,
          partition_max_bytes: int = 1048576, max_wait: int = 0) -> dict[int, dict[str, Any]]:
    res = k.call(1, 11, {"replica_id": -1, "max_wait": max_wait, "min_bytes": 1, "max_bytes": max_bytes,
                         "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                         "topics": [{"topic": topic, "partitions": [
                             {"partition": p, "fetch_offset": o, "partition_max_bytes": partition_max_bytes,
                              "current_leader_epoch": -1, "log_start_offset": -1}
                             for p, o in offsets.items()]}],
                         "forgotten_topics_data": [], "rack_id": ""})
    assert res["error_code"] == 0
    return {p["partition_index"]: p for t in res["responses"] for p in t["partitions"]}


def test_fetch_max_bytes_lets_only_the_first_partition_go_over(k: RawKafka) -> None:
    value = b"x" * 20_000
    for p in range(3):
        for _ in range(2):
            produce(k, "big", p, encode_kafka_batch([(TS, b"k", value, [])]))
    # max_bytes below one batch: the first non-empty partition still gets one batch (KIP-74), no more.
    parts = fetch(k, "big", {0: 0, 1: 0, 2: 0}, max_bytes=1000)
    sizes = [len(parts[p]["records"] or b"") for p in range(3)]
    assert sizes[0] > 20_000 and sizes[0] < 40_000 and sizes[1:] == [0, 0], sizes
    assert all(parts[p]["high_watermark"] == 2 for p in range(3))
    # room for three batches: the first partition fills up to its partition limit, the next gets one.
    parts = fetch(k, "big", {0: 0, 1: 0, 2: 0}, max_bytes=65_000, partition_max_bytes=45_000)
    counts = [len(split_record_set(parts[p]["records"] or b"")) for p in range(3)]
    assert counts == [2, 1, 0], counts
    total = sum(len(parts[p]["records"] or b"") for p in range(3))
    assert total <= 65_000
    # partition_max_bytes below one batch, on a later partition: nothing rather than over the limit.
    parts = fetch(k, "big", {0: 0, 1: 0}, partition_max_bytes=1000)
    assert len(split_record_set(parts[0]["records"])) == 1 and not parts[1]["records"]


def test_fetch_inside_a_batch_and_past_the_end(k: RawKafka) -> None:
    base = produce(k, "inside", 0, encode_kafka_batch([(TS + i, b"k%d" % i, b"v%d" % i, []) for i in range(5)]))
    assert base["base_offset"] == 0
    parts = fetch(k, "inside", {0: 3})
    batches = split_record_set(parts[0]["records"])
    # the whole batch that holds offset 3 (the client skips the first records)
    assert [r[0] for r in decode_kafka_batch(batches[0])] == [0, 1, 2, 3, 4]
    parts = fetch(k, "inside", {0: 5, 1: 0})  # at the end, and an empty partition: no records, no error
    assert parts[0]["error_code"] == 0 and not parts[0]["records"] and parts[0]["high_watermark"] == 5
    assert parts[1]["error_code"] == 0 and not parts[1]["records"] and parts[1]["high_watermark"] == 0
    parts = fetch(k, "inside", {0: 6})
    assert parts[0]["error_code"] == OFFSET_OUT_OF_RANGE
    assert (parts[0]["high_watermark"], parts[0]["log_start_offset"]) == (5, 0)


def test_acks0_gets_no_answer_and_a_failed_one_closes_the_connection(k: RawKafka, node: Cluster) -> None:
    batch = encode_kafka_batch([(TS, b"k", b"v", [])])
    k.cid += 1  # acks=0: no answer to read
    k.send_frame(_produce_frame(k.cid, "acks0", 1, batch, acks=0))
    # the next request on the same connection is answered (and is the next frame read)
    assert k.call(3, 4, {"topics": [{"name": "acks0"}]})["topics"][0]["error_code"] == 0
    wait_for(lambda: fetch(k, "acks0", {1: 0})[1]["high_watermark"] == 1, 10, "the acks=0 batch landing")
    # acks=0 to a partition that does not exist: Kafka closes the connection so the producer,
    # which gets no answer, refreshes its metadata. Requests before it are still answered.
    k.cid += 1
    metadata = k.cid
    k.send_frame(_metadata_frame(metadata))
    k.cid += 1
    k.send_frame(_produce_frame(k.cid, "acks0", 99, batch, acks=0))
    assert int.from_bytes(k.read_frame()[:4], "big") == metadata
    k.sock.settimeout(10)
    assert k.sock.recv(1) == b"", "the connection stayed open after a failed acks=0 produce"
    fresh = RawKafka(node.kafka_ports[1])
    try:
        assert fresh.call(3, 4, {"topics": [{"name": "acks0"}]})["topics"][0]["error_code"] == 0
    finally:
        fresh.close()


def test_client_set_base_offset_and_leader_epoch_are_replaced(k: RawKafka) -> None:
    batch = bytearray(encode_kafka_batch([(TS, b"k", b"v", []), (TS + 1, b"k2", b"v2", [])], base_offset=1234))
    batch[12:16] = (77).to_bytes(4, "big")  # partition leader epoch: outside the CRC, as the base offset
    first = produce(k, "hdr", 0, bytes(batch))["base_offset"]
    again = produce(k, "hdr", 0, bytes(batch))["base_offset"]
    assert (first, again) == (0, 2)
    served = split_record_set(fetch(k, "hdr", {0: 0})[0]["records"])
    assert [int.from_bytes(b[:8], "big") for b in served] == [0, 2]
    # the producer's epoch is not served: the leader epoch the batch was written in is (Metadata v7's)
    epoch = k.call(3, 7, {"topics": [{"name": "hdr"}], "allow_auto_topic_creation": False}
                   )["topics"][0]["partitions"][0]["leader_epoch"]
    assert epoch >= 1
    assert [int.from_bytes(b[12:16], "big", signed=True) for b in served] == [epoch, epoch]
    assert [r[0] for b in served for r in decode_kafka_batch(b)] == [0, 1, 2, 3]


def test_assign_consumer_commits_with_generation_minus_one(k: RawKafka) -> None:
    produce(k, "commits", 0, encode_kafka_batch([(TS, b"k", b"v", [])] * 3))

    def commit(group: str, member: str, generation: int, offset: int) -> int:
        res = k.call(8, 3, {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member,
                            "retention_time_ms": -1, "topics": [{"name": "commits", "partitions": [
                                {"partition_index": 0, "committed_offset": offset, "committed_metadata": ""}]}]})
        return res["topics"][0]["partitions"][0]["error_code"]

    def committed(group: str) -> dict[int, int]:
        res = k.call(9, 3, {"group_id": group, "topics": [{"name": "commits", "partition_indexes": [0, 1]},
                                                          {"name": "nope", "partition_indexes": [0]}]})
        assert res["error_code"] == 0
        return {p["partition_index"]: p["committed_offset"] for t in res["topics"] for p in t["partitions"]
                if t["name"] == "commits"}

    assert committed("simple") == {0: -1, 1: -1}  # an unknown group: -1 everywhere, no error
    assert commit("simple", "", -1, 2) == 0
    assert committed("simple") == {0: 2, 1: -1}
    # a group with live members refuses an outsider's commit with UNKNOWN_MEMBER_ID, as Kafka does
    coord = k.call(10, 1, {"key": "busy", "key_type": 0})
    assert coord["error_code"] == 0
    body = {"group_id": "busy", "session_timeout": 10000, "rebalance_timeout": 10000, "group_instance_id": None,
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"\x00\x00\x00\x00\x00\x01\x00\x07commits\xff\xff\xff\xff"}]}
    named = k.call(11, 5, {**body, "member_id": ""})
    assert named["error_code"] == MEMBER_ID_REQUIRED  # KIP-394: join again with this id
    join = k.call(11, 5, {**body, "member_id": named["member_id"]})
    assert join["error_code"] == 0
    assert commit("busy", "", -1, 1) == UNKNOWN_MEMBER_ID
    k.call(13, 1, {"group_id": "busy", "member_id": join["member_id"]})


def test_consumers_asking_beyond_the_end_reset_and_read(k: RawKafka, node: Cluster) -> None:
    produce(k, "reset", 0, encode_kafka_batch([(TS + i, b"k", b"r%d" % i, []) for i in range(4)]))
    ck = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "reset-ck",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        ck.assign([CKTopicPartition("reset", 0, 1000)])  # OFFSET_OUT_OF_RANGE, then earliest
        got: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(got) < 4 and time.monotonic() < deadline:
            m = ck.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert got == [b"r0", b"r1", b"r2", b"r3"]
    finally:
        ck.close()
    kp = KafkaConsumer(bootstrap_servers=node.kafka_bootstrap, auto_offset_reset="earliest",
                       enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        tp = KPTopicPartition("reset", 0)
        kp.assign([tp])
        kp.seek(tp, 1000)
        assert [m.value for m in kp] == [b"r0", b"r1", b"r2", b"r3"]
    finally:
        kp.close()


def test_pipelined_join_and_heartbeat_on_one_connection_answer_in_order(node: Cluster) -> None:
    """A JoinGroup that waits for a rebalance holds back the answers behind it on its connection
    (Kafka's order rule), but not their processing: the Heartbeat sent behind it is handled at once,
    and both answers arrive, in request order, when the round completes."""
    sub = b"\x00\x00\x00\x00\x00\x01\x00\x07commits\xff\xff\xff\xff"
    join_body = {"group_id": "pipe", "session_timeout": 10000, "rebalance_timeout": 10000,
                 "group_instance_id": None, "protocol_type": "consumer",
                 "protocols": [{"name": "range", "metadata": sub}]}
    a, b = RawKafka(node.kafka_ports[1]), RawKafka(node.kafka_ports[1])
    try:
        first = a.call(11, 5, {**join_body, "member_id": _member_id(a, join_body)})
        assert first["error_code"] == 0 and first["leader"] == first["member_id"]
        me = first["member_id"]
        assert a.call(14, 3, {"group_id": "pipe", "generation_id": first["generation_id"], "member_id": me,
                              "group_instance_id": None, "assignments": [{"member_id": me, "assignment": b""}]}
                      )["error_code"] == 0
        b_id = _member_id(b, join_body)
        b.cid += 1
        b.send_frame(_frame(11, 5, b.cid, {**join_body, "member_id": b_id}))  # waits for a to rejoin
        heartbeat = {"group_id": "pipe", "generation_id": first["generation_id"], "member_id": me}
        wait_for(lambda: a.call(12, 1, heartbeat)["error_code"] != 0, 10, "the round starting")
        a.cid += 1
        join_cid = a.cid
        a.send_frame(_frame(11, 5, join_cid, {**join_body, "member_id": me}))
        a.cid += 1
        a.send_frame(_frame(12, 1, a.cid, heartbeat))
        a.sock.settimeout(20)
        join_answer, heartbeat_answer = a.read_frame(), a.read_frame()
        assert int.from_bytes(join_answer[:4], "big") == join_cid
        assert int.from_bytes(heartbeat_answer[:4], "big") == a.cid
        b.sock.settimeout(20)
        assert int.from_bytes(b.read_frame()[:4], "big") == b.cid
    finally:
        a.close()
        b.close()


def _member_id(k: RawKafka, join_body: dict[str, Any]) -> str:
    """KIP-394: a new member's first JoinGroup (v4+) gets MEMBER_ID_REQUIRED and the id to join with."""
    named = k.call(11, 5, {**join_body, "member_id": ""})
    assert named["error_code"] == MEMBER_ID_REQUIRED and named["member_id"]
    return str(named["member_id"])


def _produce_frame(cid: int, topic: str, partition: int, batch: bytes, acks: int) -> bytes:
    return _frame(0, 7, cid, {"acks": acks, "timeout": 10000, "transactional_id": None, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]})


def _metadata_frame(cid: int) -> bytes:
    return _frame(3, 4, cid, {"topics": [{"name": "acks0"}], "allow_auto_topic_creation": False})


def _frame(key: int, version: int, cid: int, body: dict[str, Any]) -> bytes:
    schema = load_request_schema(key, version)
    out = io.BytesIO()
    header_cls = schema.__header_schema__
    entity_writer(header_cls)(out, build(header_cls, {"request_api_key": key, "request_api_version": version,
                                                      "correlation_id": cid, "client_id": "test"}))
    entity_writer(schema)(out, build(schema, body))
    return out.getvalue()

