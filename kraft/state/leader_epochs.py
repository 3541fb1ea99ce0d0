"""A partition's leader epochs: which epoch each part of its log was written in (Kafka's leader epoch
cache, KIP-101 and KIP-320), as pure functions over an immutable value.

A partition's leader epoch is the Raft term of its group's leader. Every replica applies the same
entries with the same terms, so the map built from them at apply (``assign``: the first entry of a
later term starts its epoch at the next offset) is the same on every replica; the partition state
machine keeps it, trims it with the log start and carries it in snapshots.

Owns: the map's rules, as Kafka's ``LeaderEpochFileCache`` has them:
- ``assign``: an epoch enters with the offset its first record will get; an epoch that wrote nothing
  is replaced by the next one that starts at the same offset (one row per start offset, so the map
  never holds more rows than the log holds batches, and at most ``LEADER_EPOCHS_MAX``);
- ``trim``: rows wholly below the log start go; the last of them starts at the log start;
- ``end_offset_for``: OffsetForLeaderEpoch's answer.
Must not: read stores, clocks or terms itself (the state machine hands them in).
"""

from __future__ import annotations

from bisect import bisect_right

# (epoch, start offset) rows, both strictly increasing: epoch e wrote [start, next row's start).
LeaderEpochs = tuple[tuple[int, int], ...]

UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1
LEADER_EPOCHS_MAX = 1024  # rows kept; older ones go (an answer for them is then only later, never wrong)


def latest_epoch(epochs: LeaderEpochs) -> int:
    return epochs[-1][0] if epochs else UNDEFINED_EPOCH


def assign(epochs: LeaderEpochs, epoch: int, start_offset: int) -> LeaderEpochs:
    """The map once ``epoch`` starts at ``start_offset`` (the log's end when its first entry is
    applied); unchanged for an epoch that is not later than the latest."""
    if epoch <= latest_epoch(epochs):
        return epochs
    kept = tuple(row for row in epochs if row[1] < start_offset)
    return (*kept, (epoch, start_offset))[-LEADER_EPOCHS_MAX:]


def trim(epochs: LeaderEpochs, log_start_offset: int) -> LeaderEpochs:
    """The map once the log starts at ``log_start_offset``: the epoch holding it starts there."""
    if not epochs or epochs[0][1] >= log_start_offset:
        return epochs
    first = bisect_right([start for _, start in epochs], log_start_offset) - 1
    return ((epochs[first][0], log_start_offset), *epochs[first + 1:])


def end_offset_for(epochs: LeaderEpochs, requested: int, log_end_offset: int) -> tuple[int, int]:
    """(epoch, end offset) for OffsetForLeaderEpoch: the largest epoch at or below ``requested`` and
    the start offset of the first epoch after it (the log end for the latest epoch); UNDEFINED for
    an epoch after the latest, or for a log without epochs; the requested epoch itself when it is
    older than every row (trimmed away: its end is where the first remaining epoch starts)."""
    if requested == UNDEFINED_EPOCH or not epochs or requested > latest_epoch(epochs):
        return UNDEFINED_EPOCH, UNDEFINED_OFFSET
    if requested == latest_epoch(epochs):
        return requested, log_end_offset
    later = bisect_right([epoch for epoch, _ in epochs], requested)  # the first row after ``requested``
    if later == 0:
        return requested, epochs[0][1]
    return epochs[later - 1][0], epochs[later][1]


def epoch_at(epochs: LeaderEpochs, offset: int) -> int:
    """The epoch the record at ``offset`` was written in (UNDEFINED before the first row)."""
    at = bisect_right([start for _, start in epochs], offset) - 1
    return epochs[at][0] if at >= 0 else UNDEFINED_EPOCH
