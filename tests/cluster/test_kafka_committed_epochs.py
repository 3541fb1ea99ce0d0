"""Committed offsets with their leader epochs (OffsetCommit v6+ / OffsetFetch v5+, KIP-320) and
OffsetFetch v9's member checks (KIP-848), against a real node: the epoch a commit names comes back
from any version that carries it, survives a restart (it is replicated with the offset), and a
consumer-protocol member reading its group's offsets is checked as its commits are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import TopicPartition as CKTopicPartition

from kraft import Admin
from kraft.testing.local_cluster import Cluster
from tests.faults.test_kafka_hostile_input import RawKafka

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, STALE_MEMBER_EPOCH = 25, 110, 113


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("epochs"), 1, rf=1, partitions=2)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _create(c: Cluster) -> None:
    with Admin(c.bootstrap) as admin:
        admin.create_topic("ep", partitions=2)
    c.wait_leaders("ep")


def _commit(raw: RawKafka, version: int, group: str, offsets: list[tuple[int, int, int]], member: str = "",
            epoch: int = -1) -> list[int]:
    res = raw.call(8, version, {"group_id": group, "generation_id_or_member_epoch": epoch, "member_id": member,
                                "group_instance_id": None, "topics": [{"name": "ep", "partitions": [
                                    {"partition_index": p, "committed_offset": o, "committed_leader_epoch": e,
                                     "committed_metadata": ""} for p, o, e in offsets]}]})
    return [p["error_code"] for p in res["topics"][0]["partitions"]]


def _fetch(raw: RawKafka, version: int, group: str, **member: object) -> dict[str, object]:
    if version >= 8:
        return raw.call(9, version, {"groups": [{"group_id": group, **member, "topics": [
            {"name": "ep", "partition_indexes": [0, 1]}]}], "require_stable": False})["groups"][0]
    return raw.call(9, version, {"group_id": group, "topics": [{"name": "ep", "partition_indexes": [0, 1]}],
                                 "require_stable": False})


def _epochs(answer: dict[str, object]) -> list[tuple[int, int, int]]:
    topics = answer["topics"]
    assert isinstance(topics, list)
    return [(p["partition_index"], p["committed_offset"], p["committed_leader_epoch"]) for p in topics[0]["partitions"]]


def test_committed_leader_epochs_are_kept_returned_and_replicated(node: Cluster) -> None:
    _create(node)
    raw = RawKafka(node.kafka_ports[1])
    try:
        assert _commit(raw, 8, "g", [(0, 0, 4), (1, 0, -1)]) == [0, 0]
        for version in (5, 6, 8, 9):
            assert _epochs(_fetch(raw, version, "g")) == [(0, 0, 4), (1, 0, -1)], version
        # v5 and older commits have no epoch: one replaces the epoch an earlier commit named
        assert _commit(raw, 5, "g", [(0, 0, 0)]) == [0]
        assert _epochs(_fetch(raw, 9, "g"))[0] == (0, 0, -1)
        assert _commit(raw, 9, "g", [(0, 0, 7)]) == [0]
    finally:
        raw.close()
    node.kill(1)
    node.start(1)
    node.wait_leaders("ep")
    consumer = CKConsumer({"bootstrap.servers": node.kafka_bootstrap, "group.id": "g"})
    try:
        committed = consumer.committed([CKTopicPartition("ep", 0), CKTopicPartition("ep", 1)], timeout=30)
        assert [(tp.offset, tp.leader_epoch) for tp in committed] == [(0, 7), (0, None)]
    finally:
        consumer.close()


def test_offset_fetch_v9_checks_a_consumer_protocol_member(node: Cluster) -> None:
    _create(node)
    raw = RawKafka(node.kafka_ports[1])
    try:
        joined = raw.call(68, 0, {"group_id": "kip848", "member_id": "", "member_epoch": 0, "rebalance_timeout": 5000,
                                  "subscribed_topic_names": ["ep"], "topic_partitions": []})
        assert joined["error_code"] == 0
        member, epoch = joined["member_id"], joined["member_epoch"]
        assert _commit(raw, 9, "kip848", [(0, 0, 2)], member=member, epoch=epoch) == [0]
        ok = _fetch(raw, 9, "kip848", member_id=member, member_epoch=epoch)
        assert ok["error_code"] == 0 and _epochs(ok) == [(0, 0, 2), (1, -1, -1)]
        assert _fetch(raw, 9, "kip848", member_id=member, member_epoch=epoch - 1)["error_code"] == STALE_MEMBER_EPOCH
        assert _fetch(raw, 9, "kip848", member_id=member, member_epoch=epoch + 1)["error_code"] == FENCED_MEMBER_EPOCH
        stranger = _fetch(raw, 9, "kip848", member_id="stranger", member_epoch=1)
        assert (stranger["error_code"], stranger["topics"]) == (UNKNOWN_MEMBER_ID, [])
        # an admin client (no member, epoch -1), and any reader of a classic or unknown group, is not checked
        assert _fetch(raw, 9, "kip848", member_id=None, member_epoch=-1)["error_code"] == 0
        assert _fetch(raw, 9, "classic-or-none", member_id="whoever", member_epoch=3)["error_code"] == 0
    finally:
        raw.close()
