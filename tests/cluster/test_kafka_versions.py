"""Kafka 3.7's request versions against a real node: which versions kafka-python, confluent-kafka
(librdkafka), aiokafka and kcat negotiate now (counted by the node: ``kraft_request_versions_total``),
kafka-python's incremental fetch sessions (KIP-227) delivering every record, and raw requests for
the versions no client sends (topic ids, batched lookups, MAX_TIMESTAMP, OffsetCommit's instance id,
InitProducerId with an existing producer)."""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic as KPNewTopic
from prometheus_client.parser import text_string_to_metric_families

from kraft.node.kafka import handlers as kafka_handlers
from kraft.protocol.kafka.message_sets import decode_message_set
from kraft.protocol.kafka.records import encode_kafka_batch
from kraft.testing.local_cluster import Cluster, wait_for
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

N = 300
NIL = uuid.UUID(int=0)
APIS = {"produce": 0, "fetch": 1, "list_offsets": 2, "metadata": 3, "offset_commit": 8, "offset_fetch": 9,
        "find_coordinator": 10, "join_group": 11, "heartbeat": 12, "sync_group": 14, "api_versions": 18,
        "create_topics": 19, "delete_topics": 20, "init_producer_id": 22}


MAX_SERVED = {api: kafka_handlers.HANDLERS[key].MAX_VERSION for api, key in APIS.items()}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("kafka-versions"), 1, rf=1, partitions=2, http=True)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _families(c: Cluster) -> list[Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{c.http_ports[1]}/metrics", timeout=10) as r:
        return list(text_string_to_metric_families(r.read().decode()))


def versions(c: Cluster) -> dict[tuple[str, int], int]:
    """(api, version) -> Kafka requests the node has answered in it."""
    return {(s.labels["api"], int(s.labels["version"])): int(s.value)
            for f in _families(c) if f.name == "kraft_request_versions"
            for s in f.samples if s.name.endswith("_total")}


def sessions(c: Cluster) -> dict[str, int]:
    """The fetch session cache's figures: open, created, evicted, refused, incremental."""
    out = {}
    for f in _families(c):
        if f.name.startswith("kraft_kafka_fetch_sessions"):
            out[f.name.removeprefix("kraft_kafka_fetch_sessions").lstrip("_") or "open"] = int(f.samples[0].value)
    return out


def used_since(c: Cluster, before: dict[tuple[str, int], int]) -> dict[str, int]:
    """api -> the highest version answered (not refused) since ``before``, for the APIs of interest.
    A client may first try a newer ApiVersions than kraft's (refused, UNSUPPORTED_VERSION, not
    counted here: kraft_request_errors_total has it) and then asks again with one kraft has."""
    out: dict[str, int] = {}
    for (api, version), n in versions(c).items():
        if n > before.get((api, version), 0) and api in APIS and version <= MAX_SERVED[api]:
            out[api] = max(out.get(api, -1), version)
    return out


def test_kafka_python_negotiates_the_new_versions_and_fetches_incrementally(node: Cluster) -> None:
    before, sessions_before = versions(node), sessions(node)
    admin = KafkaAdminClient(bootstrap_servers=node.kafka_bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([KPNewTopic("kpv", 2, 1)])
        wait_for(lambda: "kpv" in admin.list_topics(), 30, "kpv in kafka-python's topic list")
        node.wait_leaders("kpv")
        producer = KafkaProducer(bootstrap_servers=node.kafka_bootstrap, enable_idempotence=True, linger_ms=5)
        for i in range(N):
            producer.send("kpv", key=b"k%d" % (i % 7), value=b"v%d" % i)
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer("kpv", bootstrap_servers=node.kafka_bootstrap, group_id="kpv-group",
                                 auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100)
        try:
            got: list[bytes] = []
            deadline = time.monotonic() + 60
            while len(got) < N and time.monotonic() < deadline:
                for records in consumer.poll(500).values():
                    got.extend(r.value for r in records)
            assert sorted(got) == sorted(b"v%d" % i for i in range(N)), "every record once, through a session"
            consumer.commit()
            # idle polls are incremental fetches of a session (no partitions listed, none answered)
            for _ in range(5):
                consumer.poll(200)
            now = sessions(node)
            assert now["created"] > sessions_before["created"] and now["open"] >= 1
            assert now["incremental"] - sessions_before["incremental"] >= 5, "kafka-python fetched incrementally"
        finally:
            consumer.close()
        admin.delete_topics(["kpv"])
    finally:
        admin.close()
    used = used_since(node, before)
    # kafka-python 3.0 goes as far as Kafka 3.7 lets it on every API it sent
    assert used["fetch"] == 12 and used["metadata"] >= 9 and used["produce"] >= 8
    assert used["api_versions"] == 3 and used["offset_commit"] >= 7 and used["find_coordinator"] >= 3
    print(f"kafka-python {used}")


def test_confluent_kafka_negotiates_the_new_versions(node: Cluster) -> None:
    before = versions(node)
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic("ckv", 2, 1)])["ckv"].result(30)
    node.wait_leaders("ckv")
    sessions_before = sessions(node)
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "enable.idempotence": True})
    for i in range(N):
        producer.produce("ckv", key=b"k%d" % (i % 7), value=b"v%d" % i)
    assert producer.flush(30) == 0
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "ckv-group",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe(["ckv"])
        got = 0
        deadline = time.monotonic() + 60
        while got < N and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                got += 1
        assert got == N
        consumer.commit(asynchronous=False)
        assert consumer.committed([m for m in consumer.assignment()], 10)
    finally:
        consumer.close()
    # librdkafka does not implement KIP-227: Fetch v12 with session epoch -1, served without sessions
    assert sessions(node)["created"] == sessions_before["created"]
    used = used_since(node, before)
    assert used["fetch"] == 12 and used["metadata"] == 12 and used["produce"] == 9 and used["api_versions"] == 3
    assert used["offset_commit"] >= 7 and used["offset_fetch"] >= 7
    print(f"confluent-kafka {used}")


def test_aiokafka_and_kcat_still_work(node: Cluster) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic("aiov", 1, 1)])["aiov"].result(30)
    node.wait_leaders("aiov")
    before = versions(node)

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=node.kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for i in range(50):
                await producer.send_and_wait("aiov", b"a%d" % i)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("aiov", bootstrap_servers=node.kafka_bootstrap, group_id="aiov-group",
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[bytes] = []
            while len(got) < 50:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                got.extend(r.value for rs in batch.values() for r in rs if r.value is not None)
            await consumer.commit()
            return got
        finally:
            await consumer.stop()

    assert sorted(asyncio.run(run())) == sorted(b"a%d" % i for i in range(50))
    print(f"aiokafka {used_since(node, before)}")
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat is not installed")
    before = versions(node)
    out = subprocess.run([kcat, "-b", node.kafka_bootstrap, "-C", "-t", "aiov", "-o", "beginning", "-e", "-q"],
                         capture_output=True, timeout=60, check=True).stdout
    assert len(out.splitlines()) == 50
    used = used_since(node, before)
    assert used["fetch"] >= 11 and used["metadata"] >= 4  # kcat 1.7 carries an older librdkafka
    print(f"kcat {used}")


# --- raw requests: the versions no client here sends ---------------------------------------------------

@pytest.fixture
def raw(node: Cluster) -> Iterator[RawKafka]:
    k = RawKafka(node.kafka_ports[1])
    try:
        yield k
    finally:
        k.close()


def _create(k: RawKafka, node: Cluster, name: str, partitions: int = 1) -> uuid.UUID:
    res = k.call(19, 7, {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1}],
                         "timeout": 30000})["topics"][0]
    assert res["error_code"] == 0 and res["num_partitions"] == partitions and res["replication_factor"] == 1
    assert {c["name"] for c in res["configs"]} >= {"cleanup.policy", "retention.ms"}
    node.wait_leaders(name)
    assert res["topic_id"] != NIL
    return uuid.UUID(str(res["topic_id"]))


def test_topic_ids_in_metadata_and_delete_topics(node: Cluster, raw: RawKafka) -> None:
    topic_id = _create(raw, node, "ids")
    by_name = raw.call(3, 12, {"topics": [{"name": "ids", "topic_id": None}], "allow_auto_topic_creation": False,
                               "include_topic_authorized_operations": True})["topics"][0]
    assert (by_name["error_code"], by_name["topic_id"]) == (0, topic_id)
    assert by_name["topic_authorized_operations"] > 0, "no ACLs: every operation"
    unknown = uuid.uuid4()
    by_id = raw.call(3, 12, {"topics": [{"name": None, "topic_id": topic_id}, {"name": None, "topic_id": unknown}],
                             "allow_auto_topic_creation": True})["topics"]
    assert [(t["name"], t["topic_id"], t["error_code"]) for t in by_id] == [("ids", topic_id, 0), (None, unknown, 100)]
    assert raw.call(3, 10, {"topics": [{"name": "ids"}]})["topics"][0]["topic_id"] == topic_id
    assert "topic_id" not in raw.call(3, 9, {"topics": [{"name": "ids"}]})["topics"][0], "v9 has no topic ids"
    # DeleteTopics v6 by id: unknown id, both or neither named, then the topic
    res = raw.call(20, 6, {"topics": [{"name": None, "topic_id": unknown}, {"name": "ids", "topic_id": topic_id},
                                      {"name": None, "topic_id": None}, {"name": None, "topic_id": topic_id}],
                           "timeout": 30000})["responses"]
    assert [r["error_code"] for r in res] == [100, 42, 42, 0]
    assert (res[3]["name"], res[3]["topic_id"]) == ("ids", topic_id)
    wait_for(lambda: raw.call(3, 12, {"topics": [{"name": None, "topic_id": topic_id}]})["topics"][0]["error_code"]
             == 100, 30, "the deleted topic's id unknown")
    again = _create(raw, node, "ids")
    assert again != topic_id, "a topic created again gets a new id"


def test_list_offsets_v7_max_timestamp(node: Cluster, raw: RawKafka) -> None:
    _create(raw, node, "maxts")
    body = {"replica_id": -1, "isolation_level": 0, "topics": [{"name": "maxts", "partitions": [
        {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -3}]}]}
    empty = raw.call(2, 7, body)["topics"][0]["partitions"][0]
    assert (empty["error_code"], empty["offset"], empty["timestamp"]) == (0, -1, -1)
    t0 = 1_700_000_000_000
    for stamps in ([t0, t0 + 50, t0 + 10], [t0 + 20, t0 + 50, t0 + 5], [t0 + 1]):  # the max: offset 1 (and 4)
        batch = encode_kafka_batch([(ts, b"k", b"v", []) for ts in stamps])
        res = raw.call(0, 9, {"acks": -1, "timeout": 10000, "topic_data": [
            {"name": "maxts", "partition_data": [{"index": 0, "records": batch}]}]})
        assert res["responses"][0]["partition_responses"][0]["error_code"] == 0
    found = raw.call(2, 7, body)["topics"][0]["partitions"][0]
    assert (found["error_code"], found["offset"], found["timestamp"]) == (0, 1, t0 + 50)
    assert found["leader_epoch"] >= 0
    latest = raw.call(2, 6, {**body, "topics": [{"name": "maxts", "partitions": [
        {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})["topics"][0]["partitions"][0]
    assert latest["offset"] == 7


def test_offset_commit_v8_offset_fetch_v8_and_find_coordinator_v4(node: Cluster, raw: RawKafka) -> None:
    _create(raw, node, "grp", partitions=2)
    coordinators = raw.call(10, 4, {"key_type": 0, "coordinator_keys": ["g1", "g2"]})["coordinators"]
    assert [(c["key"], c["error_code"], c["node_id"]) for c in coordinators] == [("g1", 0, 1), ("g2", 0, 1)]
    assert raw.call(10, 4, {"key_type": 1, "coordinator_keys": ["tx"]})["coordinators"][0]["error_code"] == 15
    for group, offset in (("g1", 5), ("g2", 7)):
        res = raw.call(8, 8, {"group_id": group, "generation_id_or_member_epoch": -1, "member_id": "",
                              "group_instance_id": None, "topics": [{"name": "grp", "partitions": [
                                  {"partition_index": 0, "committed_offset": 0, "committed_leader_epoch": -1,
                                   "committed_metadata": f"m{offset}"}]}]})
        assert res["topics"][0]["partitions"][0]["error_code"] == 0
    # a static member's commit names its instance id: a group with no such member fences nothing,
    # its member id is unknown (the coordinator's check_commit, as a Kafka coordinator answers)
    static = raw.call(8, 8, {"group_id": "g1", "generation_id_or_member_epoch": 3, "member_id": "m-1",
                             "group_instance_id": "i-1", "topics": [{"name": "grp", "partitions": [
                                 {"partition_index": 1, "committed_offset": 0, "committed_leader_epoch": -1}]}]})
    assert static["topics"][0]["partitions"][0]["error_code"] in (25, 82)
    fetched = raw.call(9, 8, {"groups": [{"group_id": "g1", "topics": None},
                                         {"group_id": "g2", "topics": [{"name": "grp", "partition_indexes": [0, 1]}]},
                                         {"group_id": "nobody", "topics": None}], "require_stable": True})["groups"]
    assert [g["group_id"] for g in fetched] == ["g1", "g2", "nobody"]
    g1, g2, nobody = fetched
    assert [(p["partition_index"], p["committed_offset"], p["metadata"]) for p in g1["topics"][0]["partitions"]] \
        == [(0, 0, "m5")]
    assert [(p["partition_index"], p["committed_offset"], p["committed_leader_epoch"])
            for p in g2["topics"][0]["partitions"]] == [(0, 0, -1), (1, -1, -1)]
    assert nobody["topics"] == [] and nobody["error_code"] == 0


def test_init_producer_id_v4_and_produce_v9(node: Cluster, raw: RawKafka) -> None:
    first = raw.call(22, 4, {"transactional_id": None, "transaction_timeout": -1, "producer_id": -1,
                             "producer_epoch": -1})
    assert first["error_code"] == 0 and first["producer_epoch"] == 0
    # KIP-360: an idempotent producer naming its id and epoch gets a new id at epoch 0, as from Kafka
    again = raw.call(22, 4, {"transactional_id": None, "transaction_timeout": -1,
                             "producer_id": first["producer_id"], "producer_epoch": 0})
    assert again["error_code"] == 0 and again["producer_id"] != first["producer_id"] and again["producer_epoch"] == 0
    half = raw.call(22, 4, {"transactional_id": None, "transaction_timeout": -1, "producer_id": 5,
                            "producer_epoch": -1})
    assert half["error_code"] == 42
    res = raw.call(0, 9, {"acks": -1, "timeout": 10000, "topic_data": [{"name": "nowhere-9", "partition_data": [
        {"index": 0, "records": encode_kafka_batch([(1, b"k", b"v", [])])}]}]})
    part = res["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 3 and part["error_message"], "v8+ answers say why"


@pytest.mark.parametrize(("timestamp_type", "codec"), [
    ("CreateTime", "none"), ("LogAppendTime", "none"), ("CreateTime", "gzip"), ("LogAppendTime", "gzip")])
def test_a_producer_pinned_to_kafka_0_9_sends_metadata_v0_and_message_sets(node: Cluster, timestamp_type: str,
                                                                             codec: str) -> None:
    """librdkafka's 0052 with broker.version.fallback=0.9.0.0 and api.version.request=false: Metadata
    v0 and Produce v1 with magic-0 message sets (no timestamps), which kraft stores as v2 batches.
    Today's consumers read them: timestamp -1 in a CreateTime topic (as Kafka's up-conversion gives
    them), the broker's append time in a LogAppendTime one."""
    topic = f"v09-{timestamp_type}-{codec}"
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"message.timestamp.type": timestamp_type})])[topic].result(30)
    node.wait_leaders(topic)
    before = versions(node)
    started_ms = int(time.time() * 1000)
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "broker.version.fallback": "0.9.0.0",
                           "api.version.request": False, "enable.idempotence": False,
                           "compression.codec": codec, "batch.num.messages": 4})
    delivered: list[Any] = []
    for i in range(20):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, timestamp=1_600_000_000_000,
                         on_delivery=lambda e, m: delivered.append(e))
    assert producer.flush(30) == 0 and delivered == [None] * 20
    used = {api: version for (api, version), n in versions(node).items() if n > before.get((api, version), 0)}
    assert used.get("metadata") == 0 and used.get("produce") == 1, used
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": f"{topic}-group",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) < 20 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
    finally:
        consumer.close()
    assert [(m.key(), m.value(), m.offset()) for m in got] == [(b"k%d" % i, b"v%d" % i, i) for i in range(20)]
    if timestamp_type == "CreateTime":
        assert {m.timestamp()[1] for m in got} == {-1}, "a magic-0 message has no timestamp"
    else:
        assert all(started_ms - 1000 <= m.timestamp()[1] <= int(time.time() * 1000) for m in got)


def test_a_consumer_pinned_to_kafka_0_9_reads_message_sets(node: Cluster, raw: RawKafka) -> None:
    """A group consumer with broker.version.fallback=0.9.0.0 and api.version.request=false: Metadata
    v0, ListOffsets v0 and Fetch v0-1, whose magic-0 message sets (no timestamps) are down-converted
    from kraft's v2 batches (gzip ones here). Fetch v2-3 (magic 1, with timestamps; librdkafka
    negotiates versions for any fallback from 0.10 on) by a raw request."""
    topic = "old-consumer"
    admin = AdminClient({"bootstrap.servers": node.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    node.wait_leaders(topic)
    producer = CKProducer({"bootstrap.servers": node.kafka_bootstrap, "compression.codec": "gzip",
                           "batch.num.messages": 5})
    for i in range(20):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, timestamp=1_600_000_000_000 + i,
                         headers=[("h", b"x")])
    assert producer.flush(30) == 0
    before = versions(node)
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": f"{topic}-group",
                           "broker.version.fallback": "0.9.0.0", "api.version.request": False,
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        got: list[Any] = []
        deadline = time.monotonic() + 60
        while len(got) < 20 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
    finally:
        consumer.close()
    assert [(m.key(), m.value(), m.offset()) for m in got] == [(b"k%d" % i, b"v%d" % i, i) for i in range(20)]
    assert {m.timestamp()[0] for m in got} == {0}, "TIMESTAMP_NOT_AVAILABLE: a magic-0 message has none"
    used: dict[str, set[int]] = {}
    for (api, version), n in versions(node).items():
        if n > before.get((api, version), 0):
            used.setdefault(api, set()).add(version)
    assert 0 in used["metadata"] and used["fetch"] & {0, 1} and 0 in used["list_offsets"], used

    for version in (2, 3):  # magic 1: the records' own timestamps, from the offset asked
        fetch = struct.pack(">iii", -1, 0, 1) + (struct.pack(">i", 1 << 20) if version == 3 else b"")
        fetch += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic.encode()
        fetch += struct.pack(">i", 1) + struct.pack(">iqi", 0, 7, 1 << 20)
        raw.send_frame(raw.header(1, version) + fetch)
        answer = raw.read_frame()
        pos = 4 + 4 + 4 + 2 + len(topic) + 4  # correlation id, throttle, topics, name, partitions
        partition, code, high_watermark, size = struct.unpack_from(">ihqi", answer, pos)
        assert (partition, code, high_watermark) == (0, 0, 20)
        records = decode_message_set(answer[pos + 18:pos + 18 + size])
        assert [(ts, k) for ts, k, _, _ in records] == [(1_600_000_000_000 + i, b"k%d" % i) for i in range(7, 20)]
