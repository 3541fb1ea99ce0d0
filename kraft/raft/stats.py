"""What the Raft layer of a node counts: elections, store commits (each one fsync with
``fsync = always``), how many journal appends each commit made durable, how long proposals take
to commit, how long each driver-loop iteration works, and how many produce proposals were joined
into sets (``kraft.state.produce_sets``).

Owns: ``RaftStats``, one per node, shared by its groups (through ``GroupTimers``), its driver and
its store's commit hook. Must not: know the Prometheus format (``kraft.node.metrics`` reads it).
"""

from __future__ import annotations

from kraft.histogram import APPENDS_BUCKETS, FSYNC_BUCKETS_S, LATENCY_BUCKETS_S, Histogram


class RaftStats:
    """The node's Raft groups together. ``elections_started``/``leaderships_won`` and the commit
    figures are written by the driver thread; ``commit_latency`` (a proposal's submit to its
    applied, durable outcome) by the asyncio loop."""

    def __init__(self) -> None:
        self.elections_started = 0  # a replica became a candidate
        self.leaderships_won = 0  # a replica became leader
        self.store_commits = 0  # store commits that wrote something (each one fsync with fsync=always)
        self.fsync = Histogram(FSYNC_BUCKETS_S)  # duration of those commits
        self.appends_per_commit = Histogram(APPENDS_BUCKETS)  # journal entries each of them made durable
        self.commit_latency = Histogram(LATENCY_BUCKETS_S)
        # One driver-loop iteration's work (messages in, ticks, the commit, sends; not its wait): a
        # long one delays every group's heartbeats, and a peer hears nothing from this node meanwhile.
        self.loop_iteration = Histogram(LATENCY_BUCKETS_S)
        self.produce_sets = 0  # entries that joined several queued produce proposals (driver thread)
        self.produce_set_batches = 0  # the proposals in them

    def joined(self, proposals: int) -> None:
        self.produce_sets += 1
        self.produce_set_batches += proposals

    def state_changed(self, candidate: bool, leader: bool) -> None:
        if candidate:
            self.elections_started += 1
        if leader:
            self.leaderships_won += 1

    def store_committed(self, seconds: float) -> None:
        self.store_commits += 1
        self.fsync.observe(seconds)
