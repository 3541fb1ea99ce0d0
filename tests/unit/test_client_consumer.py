"""Consumer against an in-process cluster: positions, seeks, long-poll, resets, retries, iteration."""

from __future__ import annotations

import threading
import time

import pytest

from kraft import Consumer, ConsumerRecord, OffsetOutOfRange, Producer, TopicPartition
from kraft.errors import CorruptRecord
from kraft.testing import InProcessCluster, wait_until

pytestmark = pytest.mark.timeout(30)
TP0 = TopicPartition("t", 0)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=3) as c:
        c.create_topic("t", partitions=3)
        yield c


def make(cluster, **options) -> Consumer:
    options.setdefault("fetch_max_wait_ms", 100)
    options.setdefault("request_timeout_ms", 5000)
    return Consumer(cluster.bootstrap, **options)


def poll_n(consumer: Consumer, n: int, timeout_s: float = 10) -> list[ConsumerRecord]:
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        assert time.monotonic() < deadline, f"got {len(out)} of {n} records"
        out += consumer.poll(200)
    return out


def test_reads_from_the_beginning_by_default(cluster):
    cluster.append("t", 0, [b"a", b"b"], key=b"k", timestamp_ms=5)
    cluster.append("t", 0, [b"c"])
    with make(cluster) as c:
        c.assign([TP0])
        assert c.assignment() == {TP0}
        records = poll_n(c, 3)
        assert [(r.offset, r.value) for r in records] == [(0, b"a"), (1, b"b"), (2, b"c")]
        assert records[0] == ConsumerRecord("t", 0, 0, b"k", b"a", 5, ())
        assert c.position(TP0) == 3
        assert c.poll(50) == []


def test_round_trip_with_producer_keys_and_headers(cluster):
    with Producer(cluster.bootstrap) as p:
        for i in range(300):
            p.send("t", b"v%d" % i, key=b"k%d" % i, headers={"i": b"%d" % i})
        p.flush()
    with make(cluster) as c:
        c.assign([TopicPartition("t", i) for i in range(3)])
        records = poll_n(c, 300)
    assert sorted(r.value for r in records) == sorted(b"v%d" % i for i in range(300))
    for r in records:
        assert r.key == b"k" + r.value[1:]
        assert r.headers == (("i", r.value[1:]),)
    for partition in range(3):
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == list(range(len(offsets)))


def test_seek_into_the_middle_of_a_batch(cluster):
    cluster.append("t", 0, [b"%d" % i for i in range(10)])
    with make(cluster) as c:
        c.assign([TP0])
        c.seek(TP0, 7)
        assert c.position(TP0) == 7
        assert [r.offset for r in poll_n(c, 3)] == [7, 8, 9]
        c.seek(TP0, 2)
        assert poll_n(c, 1)[0].offset == 2


def test_seek_to_end_and_beginning(cluster):
    cluster.append("t", 0, [b"a", b"b"])
    cluster.append("t", 1, [b"c"])
    with make(cluster) as c:
        c.assign([TP0, TopicPartition("t", 1)])
        c.seek_to_end()
        assert c.position(TP0) == 2
        assert c.position(TopicPartition("t", 1)) == 1
        assert c.poll(100) == []
        cluster.append("t", 0, [b"new"])
        assert [r.value for r in poll_n(c, 1)] == [b"new"]
        c.seek_to_beginning([TP0])
        assert c.position(TP0) == 0
        assert c.end_offsets([TP0]) == {TP0: 3}
        assert c.beginning_offsets([TP0]) == {TP0: 0}


def test_auto_offset_reset_latest(cluster):
    cluster.append("t", 0, [b"old"])
    with make(cluster, auto_offset_reset="latest") as c:
        c.assign([TP0])
        assert c.position(TP0) == 1
        cluster.append("t", 0, [b"new"])
        assert [r.value for r in poll_n(c, 1)] == [b"new"]


def test_long_poll_returns_when_data_arrives(cluster):
    with make(cluster, fetch_max_wait_ms=10_000) as c:
        c.assign([TP0])
        assert c.position(TP0) == 0
        got: list[list[ConsumerRecord]] = []
        poller = threading.Thread(target=lambda: got.append(c.poll(10_000)))
        start = time.monotonic()
        before = cluster.requests["fetch"]
        poller.start()
        wait_until(lambda: cluster.requests["fetch"] > before)
        cluster.append("t", 0, [b"x"])
        poller.join(10)
        assert time.monotonic() - start < 5
        assert [r.value for r in got[0]] == [b"x"]


def test_poll_timeout_returns_empty(cluster):
    with make(cluster) as c:
        c.assign([TP0])
        start = time.monotonic()
        assert c.poll(200) == []
        assert 0.15 < time.monotonic() - start < 2


def test_not_leader_and_leader_move_are_retried(cluster):
    cluster.append("t", 0, [b"a"])
    with make(cluster) as c:
        c.assign([TP0])
        cluster.fail_next("fetch", "t", 0)
        assert [r.value for r in poll_n(c, 1)] == [b"a"]
        cluster.set_leader("t", 0, 3 if cluster.leader("t", 0) != 3 else 2)
        cluster.append("t", 0, [b"b"])
        assert [r.value for r in poll_n(c, 1)] == [b"b"]


def test_offset_out_of_range_resets_to_earliest(cluster):
    for i in range(5):
        cluster.append("t", 0, [b"%d" % i])
    cluster.delete_records("t", 0, 3)
    with make(cluster) as c:
        c.assign([TP0])
        c.seek(TP0, 1)
        assert [r.offset for r in poll_n(c, 2)] == [3, 4]


def test_offset_past_the_end_resets_to_earliest(cluster):
    for i in range(5):
        cluster.append("t", 0, [b"%d" % i])
    with make(cluster) as c:
        c.assign([TP0])
        c.seek(TP0, 7)
        assert [r.offset for r in poll_n(c, 5)] == [0, 1, 2, 3, 4]


def test_offset_out_of_range_with_reset_none_raises(cluster):
    cluster.append("t", 0, [b"a"])
    with make(cluster, auto_offset_reset="none") as c:
        c.assign([TP0])
        with pytest.raises(OffsetOutOfRange):
            c.poll(100)
        c.seek(TP0, 5)
        with pytest.raises(OffsetOutOfRange):
            poll_n(c, 1)
        c.seek(TP0, 0)
        assert poll_n(c, 1)[0].value == b"a"


def test_corrupt_batch_raises(cluster):
    cluster.fail_next("fetch", "t", 0, error_code=CorruptRecord.code)
    with make(cluster) as c:
        c.assign([TP0])
        with pytest.raises(CorruptRecord):
            poll_n(c, 1)


def test_max_records_and_fairness(cluster):
    cluster.append("t", 0, [b"a"] * 50)
    cluster.append("t", 1, [b"b"] * 50)
    with make(cluster, max_poll_records=10) as c:
        c.assign([TP0, TopicPartition("t", 1)])
        records = poll_n(c, 100)
        assert len(records) == 100
        assert len(c.poll(0, max_records=5)) == 0


def test_buffered_records_are_handed_out_while_the_loop_thread_is_busy(cluster):
    """A poll whose records are already buffered takes them on its own thread: it neither waits
    for the client's loop thread nor crosses over to it."""
    cluster.append("t", 0, [b"%d" % i for i in range(10)])  # one batch: one fetch buffers all ten
    with make(cluster, max_poll_records=3) as c:
        c.assign([TP0])
        assert [r.offset for r in poll_n(c, 3)] == [0, 1, 2]
        busy, release, released = threading.Event(), threading.Event(), threading.Event()

        def hold_the_loop() -> None:
            busy.set()
            release.wait(10)
            released.set()

        c._core.call_soon(hold_the_loop)
        assert busy.wait(5)
        try:
            assert [r.offset for r in c.poll(1000)] == [3, 4, 5]
            assert [r.offset for r in c.poll(1000)] == [6, 7, 8]
            assert not released.is_set()
        finally:
            release.set()
        assert [r.offset for r in poll_n(c, 1)] == [9]
        assert c.position(TP0) == 10


def test_iteration(cluster):
    cluster.append("t", 2, [b"%d" % i for i in range(5)])
    with make(cluster) as c:
        c.assign([TopicPartition("t", 2)])
        seen = []
        for record in c:
            seen.append(record.value)
            if len(seen) == 5:
                break
        assert seen == [b"0", b"1", b"2", b"3", b"4"]


def test_closed_consumer_refuses_to_poll(cluster):
    c = make(cluster)
    c.close()
    with pytest.raises(RuntimeError):
        c.poll(10)
    c.close()


def test_reassign_drops_old_partitions(cluster):
    cluster.append("t", 0, [b"a"])
    cluster.append("t", 1, [b"b"])
    with make(cluster) as c:
        c.assign([TP0])
        assert poll_n(c, 1)[0].value == b"a"
        c.assign([TopicPartition("t", 1)])
        assert c.assignment() == {TopicPartition("t", 1)}
        assert poll_n(c, 1)[0].value == b"b"


def test_a_caught_up_partition_does_not_hold_back_another_on_the_same_node():
    # One node leads both partitions. Partition 0 has nothing, so its fetch long-polls for 5 s;
    # partition 1's next records must still arrive at once (one fetch per node at a time made them
    # wait for partition 0's long poll to run out).
    with InProcessCluster(nodes=1) as one:
        one.create_topic("u", partitions=2)
        one.append("u", 1, [b"%d" % i for i in range(200)])
        with make(one, fetch_max_wait_ms=5000, max_poll_records=10) as c:
            c.assign([TopicPartition("u", 0), TopicPartition("u", 1)])
            assert len(poll_n(c, 200)) == 200
            one.append("u", 1, [b"late"] * 5)
            start = time.monotonic()
            assert [r.value for r in poll_n(c, 5)] == [b"late"] * 5
            assert time.monotonic() - start < 2.5


def test_seek_does_not_wait_for_a_fetch_sent_before_it(cluster):
    cluster.append("t", 0, [b"a", b"b", b"c"])
    with make(cluster, fetch_max_wait_ms=5000) as c:
        c.assign([TP0])
        before = cluster.requests["fetch"]
        assert len(poll_n(c, 3)) == 3
        wait_until(lambda: cluster.requests["fetch"] >= before + 2)  # the next one long-polls at the end
        c.seek(TP0, 1)
        start = time.monotonic()
        assert [r.value for r in poll_n(c, 2)] == [b"b", b"c"]
        assert time.monotonic() - start < 2.5


def test_prefetched_records_keep_their_order_and_positions(cluster):
    # Small answers (max_partition_fetch_bytes) make many fetches; with prefetching, answers land
    # while poll is draining earlier ones: every record once, in order, and position() follows poll.
    for i in range(20):
        cluster.append("t", 0, [b"%d-%d" % (i, j) for j in range(25)])
    with make(cluster, max_partition_fetch_bytes=200, max_poll_records=7) as c:
        c.assign([TP0])
        seen: list[int] = []
        while len(seen) < 500:
            records = c.poll(1000)
            assert records, f"stalled after {len(seen)} records"
            seen += [r.offset for r in records]
            assert c.position(TP0) == seen[-1] + 1
        assert seen == list(range(500))
