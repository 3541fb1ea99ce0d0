"""Producer against the fake cluster: delivery, partitioning, limits, retries, typed errors."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import (
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    CancelledError,
    Future,
    InvalidStateError,
    as_completed,
    wait,
)

import pytest

from kraft import KraftError, NotLeader, Producer, RecordMetadata, RecordTooLarge, UnknownTopicOrPartition
from kraft.errors import CorruptRecord, InvalidRequest, RequestTimedOut
from kraft.partitioner import partition_for_key
from kraft.testing import FakeCluster, wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def cluster():
    with FakeCluster(nodes=3) as c:
        c.create_topic("t", partitions=6)
        c.create_topic("one", partitions=1)
        yield c


def make(cluster, **options) -> Producer:
    options.setdefault("request_timeout_ms", 5000)
    options.setdefault("delivery_timeout_ms", 10000)
    return Producer(cluster.bootstrap, **options)


def test_send_returns_metadata_and_record_lands(cluster):
    with make(cluster) as p:
        meta = p.send("one", b"v1", key=b"k", headers={"h": b"x"}, timestamp_ms=1234).result(5)
        assert meta == RecordMetadata("one", 0, 0, 1234)
        meta2 = p.send("one", value=None, key=None, headers=[("a", b"1"), ("b", b"2")]).result(5)
        assert meta2.offset == 1 and meta2.timestamp_ms > 1234
    assert cluster.records("one", 0) == [
        (0, 1234, b"k", b"v1", [("h", b"x")]),
        (1, meta2.timestamp_ms, None, None, [("a", b"1"), ("b", b"2")]),
    ]


def test_order_within_a_partition_is_kept(cluster):
    with make(cluster, linger_ms=1, batch_size=500) as p:
        futures = [p.send("one", b"%d" % i) for i in range(2000)]
        p.flush()
        assert [f.result().offset for f in futures] == list(range(2000))
    assert [r[3] for r in cluster.records("one", 0)] == [b"%d" % i for i in range(2000)]


def test_keyed_records_follow_murmur2(cluster):
    with make(cluster) as p:
        keys = [b"key-%d" % i for i in range(60)]
        futures = [p.send("t", b"v", key=k) for k in keys]
        p.flush()
        for k, f in zip(keys, futures, strict=True):
            assert f.result().partition == partition_for_key(k, 6)


def test_keyless_records_stick_to_a_partition_per_batch(cluster):
    with make(cluster, linger_ms=60_000, batch_size=1200) as p:  # ~10 records of 100 bytes per batch
        futures = [p.send("t", b"x" * 100) for _ in range(600)]
        p.flush()
        partitions = [f.result().partition for f in futures]
    runs = [partitions[0]]
    for a, b in itertools.pairwise(partitions):
        if a != b:
            runs.append(b)
    assert len(runs) >= 30  # a new partition after every full batch
    assert all(a != b for a, b in itertools.pairwise(runs))
    assert len(set(partitions)) == 6
    assert max(Counter(partitions).values()) < 300


def test_explicit_partition_and_out_of_range(cluster):
    with make(cluster) as p:
        assert p.send("t", b"v", partition=4).result(5).partition == 4
        with pytest.raises(UnknownTopicOrPartition):
            p.send("t", b"v", partition=6).result(5)
        assert p.partitions_for("t") == list(range(6))


def test_record_too_large_fails_at_once(cluster):
    with make(cluster, max_record_bytes=1000) as p:
        fut = p.send("t", b"x" * 1000)
        assert fut.done()
        with pytest.raises(RecordTooLarge):
            fut.result()
        assert p.send("t", b"x" * 900).result(5).offset >= 0


def test_wrong_types_raise_type_error(cluster):
    with make(cluster) as p:
        with pytest.raises(TypeError):
            p.send("t", "text")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.send("t", b"v", key=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.send("t", b"v", headers={"h": "text"})  # type: ignore[dict-item]
        assert p.send("t", bytearray(b"ok"), key=memoryview(b"k")).result(5).offset >= 0


def test_acks(cluster):
    with make(cluster, acks=0) as p:
        assert p.send("one", b"v").result(5).offset == -1
    with make(cluster, acks=1) as p:
        assert p.send("one", b"v").result(5).offset == 1
    with pytest.raises(ValueError):
        make(cluster, acks=2)
    assert len(cluster.records("one", 0)) == 2


def test_not_leader_once_is_retried(cluster):
    with make(cluster) as p:
        p.send("one", b"warm").result(5)
        cluster.fail_next("produce", "one", 0)
        before = cluster.requests["produce"]
        assert p.send("one", b"v").result(5).offset == 1
        assert cluster.requests["produce"] - before == 2


def test_leader_move_is_followed(cluster):
    with make(cluster) as p:
        p.send("one", b"a").result(5)
        new_leader = 3 if cluster.leader("one", 0) != 3 else 2
        cluster.set_leader("one", 0, new_leader)
        assert p.send("one", b"b").result(5).offset == 1


def test_retries_stop_at_delivery_timeout_with_last_error(cluster):
    with make(cluster, delivery_timeout_ms=600, request_timeout_ms=300) as p:
        p.send("one", b"warm").result(5)
        cluster.fail_next("produce", "one", 0, times=10_000)
        with pytest.raises(NotLeader):
            p.send("one", b"v").result(10)


def test_non_retriable_errors_are_typed(cluster):
    with make(cluster) as p:
        p.send("one", b"warm").result(5)
        cluster.fail_next("produce", "one", 0, error_code=CorruptRecord.code)
        with pytest.raises(CorruptRecord):
            p.send("one", b"v").result(5)
        cluster.fail_next_request("produce", InvalidRequest.code)
        with pytest.raises(InvalidRequest):
            p.send("one", b"v").result(5)
        assert p.send("one", b"fine").result(5).offset == 1


def test_lost_answer_is_retried_after_request_timeout(cluster):
    with make(cluster, request_timeout_ms=300) as p:
        p.send("one", b"warm").result(5)
        cluster.drop_next("produce")
        assert p.send("one", b"v").result(10).offset >= 1


def test_connection_drop_is_retried(cluster):
    with make(cluster) as p:
        p.send("one", b"warm").result(5)
        cluster.drop_connections()
        assert p.send("one", b"v").result(10).offset == 1


def test_unknown_topic_fails_after_max_block(cluster):
    with make(cluster, max_block_ms=300) as p, pytest.raises(UnknownTopicOrPartition):
        p.send("nope", b"v").result(5)


def test_topic_created_while_send_waits(cluster):
    with make(cluster, max_block_ms=10_000) as p:
        result: list[RecordMetadata] = []
        sender = threading.Thread(target=lambda: result.append(p.send("new", b"v").result(10)))
        before = cluster.requests["metadata"]
        sender.start()
        wait_until(lambda: cluster.requests["metadata"] >= before + 2)
        cluster.create_topic("new", partitions=1)
        sender.join(10)
        assert result == [RecordMetadata("new", 0, 0, result[0].timestamp_ms)]


def test_close_flushes_pending_records(cluster):
    p = make(cluster, linger_ms=60_000)
    futures = [p.send("t", b"x", key=b"%d" % i) for i in range(100)]
    p.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(RuntimeError):
        p.send("t", b"x")


def test_close_with_timeout_fails_what_cannot_be_sent(cluster):
    p = make(cluster, delivery_timeout_ms=60_000)
    p.send("one", b"warm").result(5)
    cluster.set_leader("one", 0, None)
    fut = p.send("one", b"stuck")
    p.close(timeout_s=0.3)
    with pytest.raises(KraftError):
        fut.result(5)


def test_many_threads_dense_offsets(cluster):
    with make(cluster) as p:
        futures: list = []
        lock = threading.Lock()

        def work(n: int) -> None:
            mine = [p.send("t", b"%d" % i, key=b"%d-%d" % (n, i % 7)) for i in range(2000)]
            with lock:
                futures.extend(mine)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        p.flush()
    offsets: dict[int, list[int]] = {}
    for f in futures:
        meta = f.result()
        offsets.setdefault(meta.partition, []).append(meta.offset)
    for partition, offs in offsets.items():
        assert sorted(offs) == list(range(cluster.high_watermark("t", partition)))


def test_flush_timeout(cluster):
    with make(cluster, delivery_timeout_ms=2000) as p:
        p.send("one", b"warm").result(5)
        cluster.set_leader("one", 0, None)
        p.send("one", b"stuck")
        with pytest.raises(RequestTimedOut):
            p.flush(timeout_s=0.2)
        cluster.set_leader("one", 0, 1)
        p.flush(timeout_s=5)


def test_future_result_timeout_and_callbacks(cluster):
    with make(cluster, linger_ms=60_000) as p:
        fut = p.send("one", b"v")
        with pytest.raises(TimeoutError):
            fut.result(0.05)
        seen: list[int] = []
        fut.add_done_callback(lambda f: seen.append(f.result().offset))
        p.flush()
        assert seen == [0]


def test_futures_work_with_wait_as_completed_and_cancel(cluster):
    with make(cluster, linger_ms=60_000) as p:
        futures = [p.send("one", b"%d" % i) for i in range(10)]
        assert all(isinstance(f, Future) and not f.done() and not f.running() for f in futures)
        assert "pending" in repr(futures[0])
        done, not_done = wait(futures, timeout=0.05)
        assert not done and len(not_done) == 10
        assert futures[3].cancel() and futures[3].cancelled() and futures[3].done()
        with pytest.raises(CancelledError):
            futures[3].result()
        seen: list[int] = []
        futures[4].add_done_callback(lambda f: seen.append(f.result().offset))
        p.flush()
        assert seen == [4]
        done, not_done = wait(futures, timeout=5)
        assert len(done) == 10 and not not_done
        assert not futures[5].cancel()
        assert sorted(f.result().offset for f in as_completed(futures[4:], timeout=5)) == list(range(4, 10))
        assert [f.result().offset for i, f in enumerate(futures) if i != 3] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
        assert futures[0].exception() is None and "finished returned RecordMetadata" in repr(futures[0])
        late: list[int] = []
        futures[0].add_done_callback(lambda f: late.append(f.result().partition))
        assert late == [0]
        with pytest.raises(InvalidStateError):
            futures[0].set_result(RecordMetadata("one", 0, 0, 0))


def test_waiters_are_woken_by_completion_and_failure(cluster):
    with make(cluster, linger_ms=200, delivery_timeout_ms=600, request_timeout_ms=300) as p:
        p.send("one", b"warm").result(5)
        first = p.send("one", b"a")
        done, _ = wait([first], timeout=5, return_when=FIRST_COMPLETED)
        assert done == {first} and first.result().offset == 1
        cluster.fail_next("produce", "one", 0, times=10_000)
        failing = [p.send("one", b"x") for _ in range(3)]
        done, _ = wait(failing, timeout=5, return_when=FIRST_EXCEPTION)
        assert len(done) == 3
        assert all(isinstance(f.exception(), NotLeader) for f in failing)
        with pytest.raises(NotLeader):
            failing[0].result()


def test_bad_timestamp_type_raises(cluster):
    with make(cluster) as p:
        with pytest.raises(TypeError):
            p.send("one", b"v", timestamp_ms=1.5)  # type: ignore[arg-type]
        assert p.send("one", b"v", timestamp_ms=7).result(5).timestamp_ms == 7


def test_out_of_range_timestamp_raises(cluster):
    with make(cluster) as p:
        for bad in (2**70, -5):
            with pytest.raises(ValueError):
                p.send("one", b"v", timestamp_ms=bad)
        assert p.send("one", b"fine", timestamp_ms=0).result(5).offset == 0


def test_keyed_partitions_stay_murmur2_through_the_key_hash_cache(cluster, monkeypatch):
    monkeypatch.setattr("kraft.apis.producer.producer._KEY_CACHE_ENTRIES", 8)
    with make(cluster) as p:
        keys = [b"key-%d" % (i % 20) for i in range(100)] + [b"long" * 40, b"long" * 40]
        futures = [p.send("t", b"v", key=k) for k in keys]
        p.flush()
        assert [f.result().partition for f in futures] == [partition_for_key(k, 6) for k in keys]
        assert len(p._key_hashes) <= 8
