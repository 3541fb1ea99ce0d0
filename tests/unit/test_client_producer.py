"""Producer against an in-process cluster: delivery, partitioning, limits, retries, typed errors."""

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

from kraft import Admin, KraftError, NotLeader, Producer, RecordMetadata, RecordTooLarge, UnknownTopicOrPartition
from kraft.errors import (
    CorruptRecord,
    InvalidRequest,
    NotController,
    OutOfOrderSequence,
    RequestTimedOut,
    UnknownProducerId,
    UnsupportedRequest,
)
from kraft.partitioner import partition_for_key
from kraft.protocol.batch import encode_batch
from kraft.testing import InProcessCluster, wait_until
from kraft.testing.local_cluster import RawClient

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def cluster():
    with InProcessCluster(nodes=3) as c:
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
    with make(cluster, max_block_ms=300, allow_auto_create_topics=False) as p, \
            pytest.raises(UnknownTopicOrPartition):
        p.send("nope", b"v").result(5)
    with Admin(cluster.bootstrap) as admin:
        assert "nope" not in admin.list_topics()


def test_unknown_topic_is_created_on_first_send(cluster):
    with make(cluster) as p:
        meta = p.send("fresh", b"v").result(10)
        assert meta.offset == 0
        assert p.partitions_for("fresh") == [0]  # the cluster's default partitions (1 here)


def test_no_auto_creation_when_the_cluster_turns_it_off():
    with InProcessCluster(nodes=1, auto_create_topics=False) as c, \
            make(c, max_block_ms=300) as p, pytest.raises(UnknownTopicOrPartition):
        p.send("nope", b"v").result(5)


def test_topic_created_while_send_waits(cluster):
    with make(cluster, max_block_ms=10_000, allow_auto_create_topics=False) as p:
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


# --- idempotence ----------------------------------------------------------------------------------


def headers(cluster, topic, partition):
    """(base offset, producer id, base sequence, count) of every batch in the partition's log."""
    return [(base, h.producer_id, h.base_sequence, h.count) for base, h in cluster.batch_headers(topic, partition)]


def values(cluster, topic, partition):
    return [r[3] for r in cluster.records(topic, partition)]


def test_the_node_applies_the_sequence_rules(cluster):
    port = int(cluster.address(cluster.leader("one", 0)).rsplit(":", 1)[1])
    raw = RawClient(port)
    try:
        def produce(producer_id, sequence, n=2):
            batch = encode_batch([(1, None, b"x", [])] * n, producer_id, sequence)
            code, body = raw.call("produce", {"acks": -1, "timeout_ms": 1000,
                                              "entries": [{"topic": "one", "partition": 0, "batch": batch}]})
            assert code == 0
            return body["results"][0]["error_code"], body["results"][0]["base_offset"]

        code, body = raw.call("init_producer_id", {})
        assert code == 0 and body["producer_epoch"] == 0
        pid = body["producer_id"]
        assert produce(pid, 3) == (UnknownProducerId.code, -1)
        assert produce(pid, 0) == (0, 0)
        assert produce(pid, 0) == (0, 0)  # a retry: the first offset, not a second copy
        assert produce(pid, 2) == (0, 2)
        assert produce(pid, 0) == (0, 0)
        assert produce(pid, 7) == (OutOfOrderSequence.code, -1)
        assert produce(pid, 2, n=3) == (OutOfOrderSequence.code, -1)  # same sequence, other count
        assert produce(-1, -1) == (0, 4)  # not idempotent: always appended
        assert produce(-1, -1) == (0, 6)
        assert cluster.high_watermark("one", 0) == 8
    finally:
        raw.close()


def test_idempotent_by_default_batches_carry_id_and_sequences(cluster):
    with make(cluster, linger_ms=1, batch_size=300) as p:
        assert p.enable_idempotence
        futures = []
        for i in range(200):
            futures.append(p.send("one", b"%03d" % i))
            if i % 40 == 39:
                p.flush()
        p.flush()
        assert [f.result().offset for f in futures] == list(range(200))
    batches = headers(cluster, "one", 0)
    assert len(batches) >= 5
    expected_seq = 0
    for base, pid, seq, count in batches:
        assert pid == 1 and seq == expected_seq == base
        expected_seq += count
    assert cluster.requests["init_producer_id"] == 1


def test_not_idempotent_when_disabled_or_acks_0(cluster):
    with make(cluster, enable_idempotence=False) as p:
        p.send("one", b"a").result(5)
    with make(cluster, acks=0) as p:
        assert not p.enable_idempotence
        p.send("one", b"b").result(5)
    wait_until(lambda: cluster.high_watermark("one", 0) == 2)
    assert [(pid, seq) for _, pid, seq, _ in headers(cluster, "one", 0)] == [(-1, -1), (-1, -1)]
    assert cluster.requests["init_producer_id"] == 0
    with pytest.raises(ValueError):
        make(cluster, acks=0, enable_idempotence=True)


def test_lost_answer_is_retried_without_a_second_copy(cluster):
    with make(cluster, request_timeout_ms=300) as p:
        assert p.send("one", b"warm").result(5).offset == 0
        cluster.drop_next_answer("produce")
        before = cluster.requests["produce"]
        assert p.send("one", b"v").result(10).offset == 1  # the offset it got the first time
        assert cluster.requests["produce"] - before == 2
        assert p.send("one", b"after").result(5).offset == 2
    assert values(cluster, "one", 0) == [b"warm", b"v", b"after"]


def test_order_and_single_copies_across_many_retries(cluster):
    with make(cluster, linger_ms=1, batch_size=400, request_timeout_ms=300) as p:
        futures = []
        for i in range(1500):
            futures.append(p.send("t", b"%04d" % i, partition=i % 3))
            if i % 300 == 150:
                cluster.drop_next_answer("produce")  # appended, answer lost, retried
                cluster.fail_next("produce", "t", i % 3, times=2)  # refused, retried
        p.flush()
        metas = [f.result() for f in futures]
    for partition in range(3):
        sent = [b"%04d" % i for i in range(partition, 1500, 3)]
        assert values(cluster, "t", partition) == sent  # every record once, in send order
        assert [m.offset for m in metas[partition::3]] == list(range(len(sent)))
    assert cluster.requests["init_producer_id"] == 1


def test_one_partition_stuck_does_not_stop_the_others(cluster):
    with make(cluster) as p:
        p.send("t", b"warm", partition=0).result(5)
        leader = cluster.leader("t", 0)
        cluster.set_leader("t", 0, None)
        stuck = p.send("t", b"stuck", partition=0)
        assert p.send("t", b"free", partition=1).result(5).offset == 0
        assert not stuck.done()
        cluster.set_leader("t", 0, leader)
        assert stuck.result(5).offset == 1


def test_non_retriable_failure_takes_a_new_producer_id(cluster):
    with make(cluster) as p:
        p.send("one", b"warm").result(5)
        p.send("t", b"other", partition=2).result(5)
        cluster.fail_next("produce", "one", 0, error_code=CorruptRecord.code)
        with pytest.raises(CorruptRecord):
            p.send("one", b"refused").result(5)
        assert p.send("one", b"next").result(5).offset == 1
        assert p.send("t", b"other-2", partition=2).result(5).offset == 1
    assert cluster.requests["init_producer_id"] == 2
    assert [(pid, seq) for _, pid, seq, _ in headers(cluster, "one", 0)] == [(1, 0), (2, 0)]
    assert [(pid, seq) for _, pid, seq, _ in headers(cluster, "t", 2)] == [(1, 0), (2, 0)]


def test_out_of_order_answer_fails_the_batch_and_recovers(cluster):
    with make(cluster) as p:
        p.send("one", b"warm").result(5)
        cluster.fail_next("produce", "one", 0, error_code=OutOfOrderSequence.code)
        with pytest.raises(OutOfOrderSequence):
            p.send("one", b"refused").result(5)
        assert p.send("one", b"next").result(5).offset == 1
    assert values(cluster, "one", 0) == [b"warm", b"next"]


def test_delivery_timeout_takes_a_new_producer_id_and_later_sends_work(cluster):
    with make(cluster, delivery_timeout_ms=800, request_timeout_ms=300) as p:
        p.send("one", b"warm").result(5)
        cluster.drop_next_answer("produce", times=1000)  # appended, but never acknowledged
        lost = p.send("one", b"unknown-outcome")
        with pytest.raises(RequestTimedOut):
            lost.result(10)
        cluster.drop_next_answer("produce", times=0)
        assert p.send("one", b"later").result(5).offset == 2
    assert values(cluster, "one", 0) == [b"warm", b"unknown-outcome", b"later"]
    assert [(pid, seq) for _, pid, seq, _ in headers(cluster, "one", 0)] == [(1, 0), (1, 1), (2, 0)]


def test_init_producer_id_errors(cluster):
    cluster.fail_next_request("init_producer_id", NotController.code, times=2)
    with make(cluster) as p:
        assert p.send("one", b"a").result(5).offset == 0  # retriable: retried
    cluster.fail_next_request("init_producer_id", UnsupportedRequest.code)
    with make(cluster) as p:
        with pytest.raises(UnsupportedRequest, match="enable_idempotence=False"):
            p.send("one", b"b").result(5)
        assert p.send("one", b"c").result(5).offset == 1  # the next batch asks again
    assert cluster.requests["init_producer_id"] == 5


def test_sequence_past_i32_restarts_under_a_new_producer_id(cluster, monkeypatch):
    monkeypatch.setattr("kraft.apis.producer.sender._MAX_SEQUENCE", 2)
    with make(cluster) as p:
        offsets = [p.send("one", b"%d" % i).result(5).offset for i in range(5)]
    assert offsets == list(range(5))
    assert [(pid, seq) for _, pid, seq, _ in headers(cluster, "one", 0)] == [
        (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]


def test_batches_queued_behind_one_in_flight_go_as_one_merged_batch(cluster):
    with make(cluster, batch_size=200, linger_ms=0) as p:
        p.send("one", b"warm").result(5)
        leader = cluster.leader("one", 0)
        cluster.set_leader("one", 0, None)
        before = cluster.requests["metadata"]
        futures = [p.send("one", b"%02d" % i + b"x" * 90) for i in range(60)]  # one batch each
        wait_until(lambda: cluster.requests["metadata"] >= before + 2)  # the sender looks for a leader
        cluster.set_leader("one", 0, leader)
        p.flush()
        assert [f.result().offset for f in futures] == list(range(1, 61))
    batches = headers(cluster, "one", 0)
    assert len(batches) < 10 and sum(b[3] for b in batches) == 61  # merged; sequences contiguous:
    assert [seq for _, _, seq, _ in batches] == [base for base, _, _, _ in batches]
    assert values(cluster, "one", 0)[1:] == [b"%02d" % i + b"x" * 90 for i in range(60)]


def test_merged_batch_too_large_for_the_node_is_split(caplog):
    with InProcessCluster(nodes=3, max_record_bytes=1000) as cluster:  # a partition without a leader
        cluster.create_topic("one", partitions=1)                     # needs 2 or more replicas
        with make(cluster, batch_size=200, linger_ms=0) as p:
            p.send("one", b"warm").result(5)
            leader = cluster.leader("one", 0)
            cluster.set_leader("one", 0, None)
            before = cluster.requests["metadata"]
            futures = [p.send("one", b"%02d" % i + b"y" * 90) for i in range(20)]
            wait_until(lambda: cluster.requests["metadata"] >= before + 2)
            cluster.set_leader("one", 0, leader)
            p.flush()
            assert [f.result().offset for f in futures] == list(range(1, 21))
        assert "no longer merging" in caplog.text
        assert values(cluster, "one", 0)[1:] == [b"%02d" % i + b"y" * 90 for i in range(20)]
        assert [seq for _, _, seq, _ in headers(cluster, "one", 0)] == list(range(21))
