"""The idempotent producer against a real 3-node cluster: a leader killed mid-stream (kill -9) must
leave every acknowledged record at its acknowledged offset, and no record written twice."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin, Consumer, Producer, TopicPartition
from kraft.testing.local_cluster import Cluster, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

TOPIC = "idem"
PARTITIONS = 3


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 3)
    try:
        c.start_all()
        with Admin(c.bootstrap) as admin:
            admin.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
        c.wait_leaders(TOPIC)
        yield c
    finally:
        c.stop_all()


class NumberedProducer:
    """Sends b"v%08d" values round-robin over the partitions until stopped; keeps what was
    acknowledged (partition, offset, value, when) and what failed."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer(bootstrap, acks="all", linger_ms=2, delivery_timeout_ms=90_000,
                                 request_timeout_ms=5_000)
        assert self.producer.enable_idempotence
        self.acked: list[tuple[int, int, bytes, float]] = []
        self.failed: list[tuple[bytes, BaseException]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numbered-producer", daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            window = []
            for _ in range(100):  # a window of sends in flight, then wait for their answers
                value = b"v%08d" % i
                window.append((value, self.producer.send(TOPIC, value=value, partition=i % PARTITIONS)))
                i += 1
            for value, fut in window:
                try:
                    meta = fut.result(timeout=120)
                    self.acked.append((meta.partition, meta.offset, value, time.monotonic()))
                except Exception as exc:  # outcome unknown: may or may not be in the log (once)
                    self.failed.append((value, exc))

    def acked_after(self, t: float, partition: int | None = None) -> int:
        return sum(1 for p, _, _, at in self.acked if at > t and (partition is None or p == partition))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=150)
        self.producer.close(timeout_s=30)
        assert not self._thread.is_alive(), "the producer thread did not finish"


def read_to_high_watermarks(bootstrap: str, timeout_s: float = 90) -> dict[int, list[tuple[int, bytes]]]:
    """(offset, value) of every record of every partition, from the start to its high watermark."""
    with Admin(bootstrap) as admin:
        ends = {p.partition: p.high_watermark for p in admin.describe_topic(TOPIC).partitions}
    got: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    with Consumer(bootstrap) as consumer:
        consumer.assign(tps)
        consumer.seek_to_beginning()

        def done() -> bool:
            for rec in consumer.poll(timeout_ms=500):
                got[rec.partition].append((rec.offset, rec.value))
            return all(consumer.position(tp) >= ends[tp.partition] for tp in tps)

        wait_for(done, timeout_s, f"reading {TOPIC} up to the high watermarks {ends}", interval_s=0)
    return got


def test_kill_leader_while_producing_writes_each_acknowledged_value_once(cluster: Cluster) -> None:
    victim = cluster.leaders(TOPIC)[0]
    bp = NumberedProducer(cluster.bootstrap)
    bp.start()
    try:
        wait_for(lambda: len(bp.acked) >= 3000, 60, "3000 acknowledged records before the kill")
        cluster.kill(victim)  # SIGKILL: answers of batches it committed may never leave
        killed_at = time.monotonic()
        wait_for(lambda: all(bp.acked_after(killed_at, p) >= 1000 for p in range(PARTITIONS)), 60,
                 "every partition accepting writes again after the kill")
    finally:
        bp.stop()
    assert not bp.failed, f"{len(bp.failed)} sends failed, e.g. {bp.failed[:3]}"
    cluster.wait_leaders(TOPIC, exclude={victim})

    got = read_to_high_watermarks(cluster.bootstrap)
    at = {(p, offset): value for p, records in got.items() for offset, value in records}
    wrong = [(p, o, v, at.get((p, o))) for p, o, v, _ in bp.acked if at.get((p, o)) != v]
    assert not wrong, f"{len(wrong)} acknowledged records lost or moved, e.g. {wrong[:5]}"
    twice = [v for v, n in Counter(v for records in got.values() for _, v in records).items() if n > 1]
    assert not twice, f"{len(twice)} values written twice, e.g. {twice[:5]}"
    for p, records in got.items():
        assert [o for o, _ in records] == list(range(len(records))), f"partition {p}: offsets not dense"
        numbers = [int(v[1:]) for _, v in records]
        assert numbers == sorted(numbers), f"partition {p}: values out of send order"
        assert all(n % PARTITIONS == p for n in numbers)
