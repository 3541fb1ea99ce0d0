"""The topic configs of Streams' and Connect's internal topics, against in-process real nodes:
changelogs compacted (windowed ones also deleted by time), repartition topics deleted only by
purges, existing internal topics given the configs they lack; Connect's offsets and status topics
compacted, an existing one with another cleanup policy refused, and every record the worker
writes there keyed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from kraft import Admin, Producer
from kraft.apis.connect import ConfigError, Worker
from kraft.apis.connect.offsets import OffsetStore, record_key
from kraft.apis.connect.status import StatusPublisher, read_status
from kraft.apis.connect.topics import read_to_end
from kraft.apis.streams import JoinWindows, Serde, SessionWindows, StreamsApp, TimeWindows
from kraft.apis.streams.topics import WINDOWED_CHANGELOG_EXTRA_RETENTION_MS, prepare_topics, update_configs
from kraft.errors import InvalidRecord
from kraft.testing import InProcessCluster

pytestmark = pytest.mark.timeout(60)
DAY_MS = 24 * 3600 * 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    with InProcessCluster(nodes=1, default_partitions=2, default_replication_factor=1) as c:
        yield c


@pytest.fixture
def admin(cluster: InProcessCluster) -> Iterator[Admin]:
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as a:
        yield a


def own_configs(admin: Admin, topic: str) -> dict[str, object]:
    """The configs ``topic`` sets itself (source "topic")."""
    return {name: e.value for name, e in admin.describe_configs(topic).items() if e.source == "topic"}


def test_streams_internal_topics_are_created_with_kafka_streams_configs(cluster: InProcessCluster,
                                                                        admin: Admin) -> None:
    for topic in ("words", "clicks", "orders", "payments"):
        cluster.create_topic(topic, partitions=2)
    app = StreamsApp("cfg", cluster.bootstrap, default_key_serde=Serde.str, default_value_serde=Serde.str)
    app.stream("words").group_by(lambda _k, v: v).count(store="counts")
    clicks = app.stream("clicks").group_by_key()
    clicks.windowed_by(TimeWindows.of(10_000, grace_ms=5_000)).count(store="per-10s", retention_ms=3_600_000)
    (clicks.windowed_by(SessionWindows.with_inactivity_gap(60_000))
        .count(store="sessions"))
    app.stream("orders").outer_join(app.stream("payments"), lambda o, p: (o, p), JoinWindows.of(1_000, 500))
    topology = app.topology
    prepare_topics(admin, topology, topology.subtopologies(), None)

    compact = {"cleanup.policy": "compact", "message.timestamp.type": "CreateTime"}
    assert own_configs(admin, "cfg-counts-changelog") == compact
    assert own_configs(admin, "cfg-per-10s-changelog") == {
        "cleanup.policy": "compact,delete", "message.timestamp.type": "CreateTime",
        "retention.ms": 3_600_000 + WINDOWED_CHANGELOG_EXTRA_RETENTION_MS}
    # A session store's retention defaults to max(gap + grace, 1 day), as a window store's.
    assert own_configs(admin, "cfg-sessions-changelog")["retention.ms"] == DAY_MS + DAY_MS
    join_buffers = [s for s in topology.stores if "JOINTHIS" in s or "JOINOTHER" in s]
    pending = [s for s in topology.stores if "OUTERSHARED" in s]
    assert len(join_buffers) == 2 and len(pending) == 1
    for store in join_buffers:  # window stores: kept for the join window and its grace, plus a day
        assert own_configs(admin, topology.changelog_topic(store)) == {
            "cleanup.policy": "compact,delete", "message.timestamp.type": "CreateTime",
            "retention.ms": 2_500 + WINDOWED_CHANGELOG_EXTRA_RETENTION_MS}
    assert own_configs(admin, topology.changelog_topic(pending[0])) == compact
    [repartition] = topology.repartition_topics
    assert own_configs(admin, repartition) == {
        "cleanup.policy": "delete", "retention.ms": -1, "segment.bytes": 52428800,
        "message.timestamp.type": "CreateTime"}


def test_existing_internal_topics_get_the_configs_they_lack_and_keep_their_own(
        cluster: InProcessCluster, admin: Admin, caplog: pytest.LogCaptureFixture) -> None:
    cluster.create_topic("lines", partitions=2)
    app = StreamsApp("old", cluster.bootstrap, default_key_serde=Serde.str, default_value_serde=Serde.str)
    words = app.stream("lines")
    words.group_by(lambda _k, v: v).count(store="counts")
    app.add_state_store("pinned")
    words.process(lambda: None, stores=["pinned"])
    [repartition] = app.topology.repartition_topics
    # As a kraft before topic configs made them: no configs at all; and one an operator set to delete.
    cluster.create_topic("old-counts-changelog", partitions=2)
    cluster.create_topic(repartition, partitions=2)
    admin.create_topic("old-pinned-changelog", partitions=2, config={"cleanup.policy": "delete"})
    cluster.wait_for_leaders("old-pinned-changelog")
    with caplog.at_level(logging.WARNING, logger="kraft.apis.streams.topics"):
        prepare_topics(admin, app.topology, app.topology.subtopologies(), None)

    assert own_configs(admin, "old-counts-changelog") == {"cleanup.policy": "compact",
                                                          "message.timestamp.type": "CreateTime"}
    assert own_configs(admin, repartition)["retention.ms"] == -1
    assert own_configs(admin, "old-pinned-changelog") == {"cleanup.policy": "delete",
                                                          "message.timestamp.type": "CreateTime"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("old-counts-changelog did not set" in m and "cleanup.policy=compact" in m for m in messages)
    assert any("old-pinned-changelog has cleanup.policy=delete of its own" in m for m in messages)
    # Once the topics have them, a restart changes nothing.
    assert update_configs(admin, "old-counts-changelog", {"cleanup.policy": "compact",
                                                          "message.timestamp.type": "CreateTime"}) == {}


def test_the_worker_creates_compacted_internal_topics_and_keys_every_record(cluster: InProcessCluster,
                                                                           admin: Admin) -> None:
    worker = Worker(cluster.bootstrap, [], offsets_topic="w1-offsets", status_topic="w1-status")
    worker.start()
    try:
        for topic in ("w1-offsets", "w1-status"):
            assert own_configs(admin, topic) == {"cleanup.policy": "compact"}
            assert len(admin.describe_topic(topic).partitions) == 1
        # The same source partition written with its keys in another order: one key, so compaction
        # keeps only the latest offset.
        worker.offsets.commit("db", {"a": ({"table": "t", "db": "x"}, {"pos": 1})})
        worker.offsets.commit("db", {"a": ({"db": "x", "table": "t"}, {"pos": 2})})
        assert record_key("db", {"table": "t", "db": "x"}) == record_key("db", {"db": "x", "table": "t"})
        worker.publish_status({"connector": "db", "task": 0, "state": "RUNNING"})
        with Producer(cluster.bootstrap) as producer:
            producer.flush()
            with pytest.raises(InvalidRecord):  # why every record there needs a key
                producer.send("w1-offsets", value=b"{}").result(10)
    finally:
        worker.stop()
    offsets = read_to_end(cluster.bootstrap, "w1-offsets")
    assert [json.loads(r.key or b"null") for r in offsets] == [["db", {"db": "x", "table": "t"}]] * 2
    statuses = read_to_end(cluster.bootstrap, "w1-status")
    assert statuses and all(r.key is not None for r in statuses)
    assert read_status(cluster.bootstrap, "w1-status")[0]["state"] in ("RUNNING", "STOPPED")
    with Producer(cluster.bootstrap) as producer:
        store = OffsetStore(cluster.bootstrap, producer, "w1-offsets")
        store.load()
    assert store.get("db", {"table": "t", "db": "x"}) == {"pos": 2}


@pytest.mark.parametrize("policy", [None, "delete", "compact,delete"])
def test_the_worker_refuses_an_existing_internal_topic_that_is_not_only_compacted(
        cluster: InProcessCluster, admin: Admin, policy: str | None) -> None:
    topic = f"w2-offsets-{(policy or 'default').replace(',', '-')}"
    admin.create_topic(topic, partitions=1, config={"cleanup.policy": policy} if policy else None)
    worker = Worker(cluster.bootstrap, [], offsets_topic=topic, status_topic="w2-status")
    with pytest.raises(ConfigError) as err:
        worker.start()
    message = str(err.value)
    assert f"topic {topic!r} given by the worker's offsets_topic" in message
    assert "'cleanup.policy=compact'" in message and f"'cleanup.policy={policy or 'delete'}'" in message
    assert f"kraft topic alter {topic} --config cleanup.policy=compact" in message
    admin.alter_configs(topic, set={"cleanup.policy": "compact"})
    worker = Worker(cluster.bootstrap, [], offsets_topic=topic, status_topic="w2-status")
    worker.start()  # compacted now: accepted
    worker.stop()


def test_a_status_publisher_keys_its_records(cluster: InProcessCluster, admin: Admin) -> None:
    admin.create_topic("w3-status", partitions=1, config={"cleanup.policy": "compact"})
    cluster.wait_for_leaders("w3-status")
    with Producer(cluster.bootstrap) as producer:
        StatusPublisher(producer, "w3-status").publish({"connector": "c", "task": 1, "state": "FAILED"})
        producer.flush()
    [record] = read_to_end(cluster.bootstrap, "w3-status")
    assert record.key == b"c/1"
