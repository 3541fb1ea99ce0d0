"""The cluster's ``batch_format`` end to end on an in-process cluster: kraft's producer writes the
record batches the cluster's metadata names (columns, or rows), its consumer reads both, and a node
serves rows to a fetch that does not ask for columns (a consumer from before columns), the same
records in the layout it reads, within its byte budget. The rule for what a node names
(``kraft.node.batch_format``) as a table. The layouts themselves: tests/unit/test_batch.py."""

from __future__ import annotations

import time

import pytest

from kraft import Consumer, ConsumerRecord, Producer, TopicPartition
from kraft.apis.client_core import ClusterMetadata
from kraft.node.batch_format import advertised_batch_format, every_node_reads
from kraft.node.broker_values import FetchedPartition
from kraft.node.handlers.fetch import _in_rows
from kraft.protocol.batch import MAGIC_COLUMNS, MAGIC_ROWS, decode_batch, encode_batch
from kraft.testing import InProcessCluster

pytestmark = pytest.mark.timeout(60)
TP0 = TopicPartition("t", 0)


def produce(cluster: InProcessCluster, n: int) -> None:
    with Producer(cluster.bootstrap, linger_ms=5) as p:
        for i in range(n):
            p.send("t", b"v%d" % i, key=None if i % 3 else b"k%d" % i, partition=0,
                   headers={"i": b"%d" % i} if i % 5 == 0 else None, timestamp_ms=1000 + i // 7)
        p.flush()


def consume(cluster: InProcessCluster, n: int) -> list[ConsumerRecord]:
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + 20
    with Consumer(cluster.bootstrap, fetch_max_wait_ms=100) as c:
        c.assign([TP0])
        while len(out) < n:
            assert time.monotonic() < deadline, f"got {len(out)} of {n} records"
            out += c.poll(200)
    return out


@pytest.mark.parametrize(("batch_format", "magic"), [("columns", MAGIC_COLUMNS), ("rows", MAGIC_ROWS)])
def test_the_producer_writes_the_cluster_s_batch_format(batch_format, magic) -> None:
    with InProcessCluster(nodes=1, batch_format=batch_format) as cluster:
        cluster.create_topic("t", partitions=1)
        produce(cluster, 500)
        assert {header.magic for _, header in cluster.batch_headers("t", 0)} == {magic}
        records = consume(cluster, 500)
        assert [(r.offset, r.key, r.value, r.timestamp_ms, r.headers) for r in records] == [
            (i, None if i % 3 else b"k%d" % i, b"v%d" % i, 1000 + i // 7, (("i", b"%d" % i),) if i % 5 == 0 else ())
            for i in range(500)]


def test_a_fetch_that_does_not_ask_for_columns_gets_the_same_records_in_rows() -> None:
    with InProcessCluster(nodes=1) as cluster:
        cluster.create_topic("t", partitions=1)
        cluster.append("t", 0, [b"old"])  # a batch in rows among them: served as it is
        produce(cluster, 200)
        leader = cluster.leader("t", 0)
        assert leader is not None
        request = {"max_wait_ms": 0, "partitions": [{"topic": "t", "partition": 0, "offset": 0}]}
        old = cluster._dispatch(leader, "fetch", request)["partitions"][0]
        new = cluster._dispatch(leader, "fetch", {**request, "columns": True})["partitions"][0]
        assert (old["error_code"], new["error_code"]) == (0, 0)
        assert {batch[0] for _, batch in old["batches"]} == {MAGIC_ROWS}
        assert {batch[0] for _, batch in new["batches"]} == {MAGIC_ROWS, MAGIC_COLUMNS}
        assert [r for base, b in old["batches"] for r in decode_batch(b, base)] == [
            r for base, b in new["batches"] for r in decode_batch(b, base)]
        assert len([r for base, b in old["batches"] for r in decode_batch(b, base)]) == 201


@pytest.mark.parametrize(("said", "columns"), [
    ({}, False),  # a node from before batch formats: rows, which every node reads
    ({"batch_format": "rows"}, False),
    ({"batch_format": "columns"}, True),
    ({"batch_format": "COLUMNS"}, False),  # nodes send the lowercase name; anything else means rows
    ({"batch_format": 2}, False),
])
def test_metadata_says_which_layout_to_write(said, columns) -> None:
    body = {"nodes": [], "topics": [], **said}
    assert ClusterMetadata.from_response(body, 0.0).columns is columns


def test_an_old_consumer_s_rows_stay_within_its_byte_budget() -> None:
    """Rows take a byte more per record than columns (a fifth more for empty records): the node reads
    4/5 of an old consumer's budget, so the converted answer still fits it (and its frame)."""
    with InProcessCluster(nodes=1) as cluster:
        cluster.create_topic("t", partitions=1)
        with Producer(cluster.bootstrap, linger_ms=0) as p:
            for _ in range(12):
                for _ in range(1000):
                    p.send("t", b"", partition=0)
                p.flush()  # one batch of 1,000 empty records each
        leader = cluster.leader("t", 0)
        assert leader is not None
        budget = 30_000
        request = {"max_wait_ms": 0, "max_bytes": budget, "partitions": [{"topic": "t", "partition": 0, "offset": 0}]}
        old = cluster._dispatch(leader, "fetch", request)["partitions"][0]["batches"]
        new = cluster._dispatch(leader, "fetch", {**request, "columns": True})["partitions"][0]["batches"]
        assert len(old) >= 1 and sum(len(b) for _, b in old) <= budget
        assert sum(len(b) for _, b in new) <= budget and len(new) > len(old)


@pytest.mark.parametrize(("damaged", "kept", "error"), [
    ((), 3, False),  # every batch converted
    ((1,), 1, False),  # the answer ends before a damaged batch
    ((0,), 0, True),  # a damaged first batch is the partition's error
])
def test_rows_for_an_old_consumer_stop_at_a_damaged_batch(damaged, kept, error) -> None:
    batches = []
    for i in range(3):
        batch = bytearray(encode_batch([(5, None, b"v%d" % i, [])], columns=True))
        if i in damaged:
            batch[-1] ^= 1
        batches.append((i, bytes(batch)))
    result = _in_rows(FetchedPartition("t", 0, 3, 0, batches))
    assert [b[0] for _, b in result.batches] == [MAGIC_ROWS] * kept
    assert (result.error is not None) is error


@pytest.mark.parametrize(("configured", "nodes", "reading", "said"), [
    ("columns", [1, 2, 3], {2, 3}, "columns"),
    ("columns", [1, 2, 3], {2}, "rows"),  # node 3 not heard saying it reads columns: it may be older
    ("columns", [1], set(), "columns"),  # a single node
    ("columns", [1, 2, 4], {2, 3}, "rows"),  # node 4, added later, not heard from
    ("rows", [1, 2, 3], {2, 3}, "rows"),  # cluster.ini asks for rows
])
def test_columns_only_once_every_node_reads_them(configured, nodes, reading, said) -> None:
    assert advertised_batch_format(configured, 1, nodes, reading) == said


@pytest.mark.parametrize(("nodes", "reading", "every"), [
    ([1, 2, 3], {2, 3}, True),
    ([1], set(), True),  # a single node: only itself
    ([1, 2, 3], {2}, False),  # node 3 not heard saying it reads them
    ([1, 2, 3, 4], {2, 3}, False),  # a node not heard from at all (down since this one started)
    ([2, 3], {2, 3}, True),  # this node among the nodes or not
])
def test_every_node_reads_is_every_other_node_heard(nodes: list[int], reading: set[int], every: bool) -> None:
    """The rule sets of Kafka batches wait for (``kraft.state.produce_sets``), and columns too."""
    assert every_node_reads(1, nodes, reading) is every
