"""The topic configs of Streams' internal topics, against in-process real nodes: changelogs
compacted (windowed ones also deleted by time), repartition topics deleted only by purges,
existing internal topics given the configs they lack."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kraft import Admin
from kraft.apis.streams import JoinWindows, Serde, SessionWindows, StreamsApp, TimeWindows
from kraft.apis.streams.topics import WINDOWED_CHANGELOG_EXTRA_RETENTION_MS, prepare_topics, update_configs
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
