"""Admin's topic configs against an in-process cluster: create with configs, describe with sources,
alter (set and delete in one step), and refusals that name the key and change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kraft import Admin, ConfigEntry, InvalidConfig, UnknownTopicOrPartition
from kraft.errors import InvalidRequest
from kraft.testing import InProcessCluster

pytestmark = pytest.mark.timeout(30)

WEEK_MS = 7 * 24 * 3600 * 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    # max_record_bytes is the cluster-wide max.message.bytes: this one is "cluster", not "default"
    with InProcessCluster(nodes=3, default_partitions=1, max_record_bytes=500_000) as c:
        yield c


@pytest.fixture
def admin(cluster: InProcessCluster) -> Iterator[Admin]:
    with Admin(cluster.bootstrap, request_timeout_ms=5000) as a:
        yield a


def test_create_with_config_and_describe_every_source(admin: Admin) -> None:
    admin.create_topic("c1", config={"cleanup.policy": "delete,compact", "retention.ms": 3600000,
                                     "min.cleanable.dirty.ratio": "0.1"})
    configs = admin.describe_configs("c1")
    assert configs["cleanup.policy"] == ConfigEntry("compact,delete", "topic", "delete")
    assert configs["retention.ms"] == ConfigEntry(3600000, "topic", WEEK_MS)
    assert configs["min.cleanable.dirty.ratio"] == ConfigEntry(0.1, "topic", 0.5)
    assert configs["retention.bytes"] == ConfigEntry(-1, "default", -1)
    assert configs["max.message.bytes"] == ConfigEntry(500_000, "cluster", 500_000)
    assert list(configs)[:2] == ["cleanup.policy", "retention.ms"]  # the table's order


def test_the_older_configs_keyword_still_works(admin: Admin) -> None:
    admin.create_topic("c2", configs={"retention.bytes": "1000"})
    assert admin.describe_configs("c2")["retention.bytes"] == ConfigEntry(1000, "topic", -1)
    with pytest.raises(ValueError, match="not both"):
        admin.create_topic("c3", config={}, configs={})


def test_a_bad_config_refuses_the_create_and_names_every_bad_key(admin: Admin) -> None:
    with pytest.raises(InvalidConfig) as info:
        admin.create_topic("bad", config={"retention.ms": "soon", "compression.codec": "lz4", "segment.ms": "1"})
    assert info.value.code == 40
    assert "retention.ms: 'soon' is not an integer" in info.value.message
    assert "compression.codec: unknown topic config" in info.value.message
    assert "bad" not in admin.list_topics()
    with pytest.raises(InvalidConfig, match=r"max\.message\.bytes: 600000 is over this cluster.s max_record_bytes"):
        admin.create_topic("bad", config={"max.message.bytes": 600_000})
    with pytest.raises(InvalidConfig, match=r"min\.compaction\.lag\.ms: 10 is more than max\.compaction\.lag\.ms"):
        admin.create_topic("bad", config={"min.compaction.lag.ms": 10, "max.compaction.lag.ms": 5})
    assert "bad" not in admin.list_topics()


def test_alter_sets_and_deletes_in_one_step(cluster: InProcessCluster, admin: Admin) -> None:
    admin.create_topic("a1", config={"retention.ms": 1000, "segment.ms": 60000})
    admin.alter_configs("a1", set={"cleanup.policy": "compact", "retention.bytes": 10_000}, delete=["retention.ms"])
    configs = admin.describe_configs("a1")
    assert {n: (c.value, c.source) for n, c in configs.items() if c.source == "topic"} == {
        "cleanup.policy": ("compact", "topic"), "retention.bytes": (10_000, "topic"), "segment.ms": (60000, "topic")}
    assert configs["retention.ms"] == ConfigEntry(WEEK_MS, "default", WEEK_MS)
    cluster.wait_for_metadata()  # every node answers the same, from the replicated metadata
    for node in cluster.node_ids:
        with Admin(cluster.address(node), request_timeout_ms=5000) as other:
            assert other.describe_configs("a1") == configs
    admin.alter_configs("a1", delete="segment.ms")  # one name, not a list of letters
    assert admin.describe_configs("a1")["segment.ms"].source == "default"


def test_a_bad_alter_changes_nothing(admin: Admin) -> None:
    admin.create_topic("a2", config={"retention.ms": 1000})
    before = admin.describe_configs("a2")
    with pytest.raises(InvalidConfig, match=r"message\.timestamp\.type: .Now. is not one of"):
        admin.alter_configs("a2", set={"retention.ms": 5, "message.timestamp.type": "Now"}, delete=["segment.ms"])
    with pytest.raises(InvalidConfig, match="nope: unknown topic config"):
        admin.alter_configs("a2", delete=["nope"])
    with pytest.raises(InvalidRequest, match="given twice"):
        admin.alter_configs("a2", set={"retention.ms": 5}, delete=["retention.ms"])
    admin.alter_configs("a2", set={"retention.ms": 5}, validate_only=True)
    assert admin.describe_configs("a2") == before


def test_unknown_topic(admin: Admin) -> None:
    with pytest.raises(UnknownTopicOrPartition):
        admin.describe_configs("missing")
    with pytest.raises(UnknownTopicOrPartition):
        admin.alter_configs("missing", set={"retention.ms": 1})
