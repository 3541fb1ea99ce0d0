"""Streams' and Connect's internal topics on a real node that compacts and purges: a store restores
from its compacted changelog (offsets with gaps, deleted keys gone) on a fresh state dir; a
repartition topic's records are deleted once the app has committed them; a Connect worker resumes
from its compacted offsets topic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraft import Admin, ConsumerRecord, Producer
from kraft.apis.connect.topics import read_to_end
from kraft.apis.streams import Serde, StreamsApp
from kraft.testing.local_cluster import Cluster, wait_for

from .connect.helpers import running_worker
from .streams_apps import FAST_GROUP, word_count_app

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

# Compaction passes and retention checks every 200 ms instead of every 30 s.
CHECK_INTERVAL = "log_retention_check_interval_ms = 200"
# Compact as soon as anything is dirty; drop tombstones at once.
EAGER_COMPACTION = {"min.cleanable.dirty.ratio": 0.01, "delete.retention.ms": 0}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 1, rf=1, extra=CHECK_INTERVAL)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def _create(cluster: Cluster, topic: str, partitions: int) -> None:
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=partitions, replication_factor=1)
    cluster.wait_leaders(topic)


def _profiles_and_clicks(bootstrap: str, state_dir: Path) -> StreamsApp:
    """A table (the latest profile per user; a None value deletes it) and a count of clicks per user:
    two stores, each with its changelog."""
    app = StreamsApp("restore", bootstrap, state_dir=state_dir, commit_interval_ms=100,
                     default_key_serde=Serde.str, default_value_serde=Serde.str, consumer_config=FAST_GROUP)
    app.table("profiles", store="profiles")
    app.stream("clicks").group_by_key().count(store="clicks")
    return app


def _changelog(bootstrap: str, topic: str) -> tuple[list[ConsumerRecord], int]:
    """The changelog's records (partition 0) from its log start, and its end offset."""
    records = read_to_end(bootstrap, topic)
    with Admin(bootstrap) as admin:
        end = admin.describe_topic(topic).partitions[0].high_watermark
    return records, end


def test_a_store_restores_from_its_compacted_changelog(cluster: Cluster, tmp_path: Path) -> None:
    _create(cluster, "profiles", 1)
    _create(cluster, "clicks", 1)
    users = [f"u{i}" for i in range(6)]
    app = _profiles_and_clicks(cluster.bootstrap, tmp_path / "first")
    app.start()
    try:
        app.wait_until_running(30)
        with Admin(cluster.bootstrap) as admin:
            for store in ("profiles", "clicks"):
                topic = f"restore-{store}-changelog"
                assert admin.describe_configs(topic)["cleanup.policy"].value == "compact"
                admin.alter_configs(topic, set=EAGER_COMPACTION)
        # Eight rounds of updates of every user, each committed before the next (a changelog batch
        # each), then two users deleted, then one last update of another key: the last batch of a
        # log (its active head) is never compacted, so it holds only that key.
        with Producer(cluster.bootstrap) as p:
            for r in range(8):
                for user in users:
                    p.send("profiles", key=user.encode(), value=f"{user} v{r}".encode())
                    p.send("clicks", key=user.encode(), value=b"/")
                p.flush()
                wait_for(lambda r=r: app.store("clicks").get("u5") == r + 1
                         and app.store("profiles").get("u5") == f"u5 v{r}", 20, f"round {r} committed")
            for user in ("u1", "u3"):
                p.send("profiles", key=user.encode(), value=None)
            p.flush()
            wait_for(lambda: app.store("profiles").get("u3") is None, 20, "the deletions committed")
            p.send("profiles", key=b"last", value=b"last v0")
            p.send("clicks", key=b"last", value=b"/")
            p.flush()
            wait_for(lambda: app.store("clicks").get("last") == 1 and app.store("profiles").get("last") == "last v0",
                     20, "the last update committed")
    finally:
        app.close()
    assert app.error is None
    profiles = {u: f"{u} v7" for u in users if u not in ("u1", "u3")} | {"last": "last v0"}
    clicks = {u: 8 for u in users} | {"last": 1}

    def compacted(topic: str, size: int) -> tuple[list[ConsumerRecord], int] | None:
        records, end = _changelog(cluster.bootstrap, topic)
        keys = [r.key for r in records]
        return (records, end) if len(keys) == size and len(set(keys)) == size else None

    compacted_records = 0
    for store, latest in (("profiles", profiles), ("clicks", clicks)):
        topic, size = f"restore-{store}-changelog", len(latest)
        records, end = wait_for(lambda t=topic, n=size: compacted(t, n), 30,
                                f"the {store} changelog compacted to one record per key")
        assert all(r.value is not None for r in records), "the tombstones are gone too"
        assert records[-1].offset == end - 1 and end > 2 * len(records), "offsets keep their gaps"
        compacted_records += len(records)

    # A fresh state dir: every store comes back from its compacted changelog alone.
    app = _profiles_and_clicks(cluster.bootstrap, tmp_path / "second")
    app.start()
    try:
        app.wait_until_running(30)
        assert dict(app.store("profiles").all()) == profiles
        assert dict(app.store("clicks").all()) == clicks
        assert app.restored == compacted_records  # read across the gaps, stopped at the end offset
        with Producer(cluster.bootstrap) as p:  # and goes on from there
            p.send("clicks", key=b"u0", value=b"/")
        wait_for(lambda: app.store("clicks").get("u0") == 9, 20, "a new click counted on top of the restored count")
    finally:
        app.close()
    assert app.error is None


def test_repartition_records_are_deleted_once_the_app_committed_them(cluster: Cluster, tmp_path: Path) -> None:
    _create(cluster, "text-lines", 2)
    lines = [f"kraft raft log {i % 7}" for i in range(300)]
    with Producer(cluster.bootstrap) as p:
        for i, line in enumerate(lines):
            p.send("text-lines", value=line.encode(), partition=i % 2)
    expected = Counter(w for line in lines for w in line.split())
    app = word_count_app(cluster.bootstrap, str(tmp_path / "state"), repartition_purge_interval_ms=0)
    [repartition] = app.topology.repartition_topics
    app.start()
    try:
        wait_for(lambda: dict(app.store("word-counts").all()) == expected, 30, "the word counts")
        with Admin(cluster.bootstrap) as admin:
            configs = admin.describe_configs(repartition)
            assert (configs["cleanup.policy"].value, configs["retention.ms"].value) == ("delete", -1)

            def purged() -> list[tuple[int | None, int]] | None:
                parts = [(p.log_start_offset, p.high_watermark) for p in admin.describe_topic(repartition).partitions]
                return parts if all(start == end > 0 for start, end in parts) else None

            parts = wait_for(purged, 30, "every consumed repartition record deleted")
        # The record cache combines a word's occurrences between two commits into one repartition
        # record (its kraft.count header says how many): fewer records than words, none lost (the
        # counts above are exact).
        assert 0 < sum(end for _, end in parts) < sum(expected.values())
    finally:
        app.close()
    assert app.error is None and app._runtime is not None and app._runtime.purges > 0

    # Restarted after the purge: the app resumes at its committed offsets, which are the log starts.
    more = [f"stream table {i}" for i in range(20)]
    with Producer(cluster.bootstrap) as p:
        for i, line in enumerate(more):
            p.send("text-lines", value=line.encode(), partition=i % 2)
    expected += Counter(w for line in more for w in line.split())
    app = word_count_app(cluster.bootstrap, str(tmp_path / "state"), repartition_purge_interval_ms=0)
    app.start()
    try:
        wait_for(lambda: dict(app.store("word-counts").all()) == expected, 30, "the counts of old and new lines")
    finally:
        app.close()
    assert app.error is None


def test_a_connect_worker_resumes_from_its_compacted_offsets_topic(cluster: Cluster, tmp_path: Path) -> None:
    src = tmp_path / "in.log"
    src.write_text("".join(f"line {i}\n" for i in range(60)))
    # Five lines a poll: twelve offset commits of the same source partition (one key).
    connectors = [{"name": "tail", "class": "file-source", "file": str(src), "topic": "lines",
                   "batch_max_lines": 5, "poll_interval_ms": 50}]

    def copied() -> list[str]:
        return [(r.value or b"").decode() for r in read_to_end(cluster.bootstrap, "lines")]

    with running_worker(cluster.bootstrap, connectors):
        wait_for(lambda: len(copied()) == 60, 30, "the first 60 lines")
        with Admin(cluster.bootstrap) as admin:
            assert admin.describe_configs("_connect-offsets")["cleanup.policy"].value == "compact"
            admin.alter_configs("_connect-offsets", set=EAGER_COMPACTION)

    def offsets_compacted() -> list[ConsumerRecord] | None:
        records, end = _changelog(cluster.bootstrap, "_connect-offsets")
        # The key's latest record below the active head, and the head (the last commit).
        return records if end >= 12 and len(records) <= 2 else None

    records = wait_for(offsets_compacted, 30, "the offsets topic compacted")
    assert len({r.key for r in records}) == 1
    with src.open("a") as f:
        f.write("".join(f"line {i}\n" for i in range(60, 70)))
    with running_worker(cluster.bootstrap, connectors):
        wait_for(lambda: len(copied()) >= 70, 30, "the new lines")
    assert copied() == [f"line {i}" for i in range(70)], "resumed after the last stored offset: nothing twice"
