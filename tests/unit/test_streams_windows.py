"""Window definitions (pure) and windowed aggregation semantics through the test driver:
tumbling, hopping, sliding and session windows, out-of-order and late records, grace, suppress."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kraft.apis.streams import (
    JoinWindows,
    Serde,
    SessionWindows,
    SlidingWindows,
    StreamsBuilder,
    TimeWindows,
    TopologyTestDriver,
    Windowed,
    until_window_closes,
    windowed_serde,
)

from .streams_backends import both_backends


@pytest.fixture(autouse=True, params=["memory", "lmdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from both_backends(sys.modules[__name__], request, tmp_path, monkeypatch)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**12), st.integers(1, 10**5), st.integers(1, 10**5))
def test_window_starts_are_exactly_the_windows_containing_ts(ts: int, size: int, advance: int) -> None:
    advance = min(advance, size)
    w = TimeWindows.of(size).advance_by(advance)
    starts = w.window_starts(ts)
    assert starts == sorted(starts)
    assert all(s % advance == 0 and s <= ts < s + size for s in starts)
    expected = sum(1 for k in range(max(0, (ts - size) // advance), ts // advance + 1)
                   if k * advance <= ts < k * advance + size)
    assert len(starts) == expected


def test_tumbling_window_example() -> None:
    assert TimeWindows.of(10).window_starts(25) == [20]
    assert TimeWindows.of(10).advance_by(5).window_starts(25) == [20, 25]
    assert TimeWindows.of(10).advance_by(5).window_starts(3) == [0]


@pytest.mark.parametrize("bad", [lambda: TimeWindows.of(0), lambda: TimeWindows.of(10, -1),
                                 lambda: TimeWindows.of(10).advance_by(11), lambda: SessionWindows.of(0)
                                 if hasattr(SessionWindows, "of") else SessionWindows.with_inactivity_gap(0),
                                 lambda: JoinWindows.of(-1), lambda: SlidingWindows.of(0)])
def test_invalid_windows_are_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        bad()


def _windowed_counts(windows, events, suppress=False):  # type: ignore[no-untyped-def]
    b = StreamsBuilder("w")
    table = b.stream("clicks", key_serde=Serde.str).group_by_key().windowed_by(windows).count(store="counts")
    if suppress:
        table = table.suppress(until_window_closes)
    table.to_stream().to("out")
    d = TopologyTestDriver(b)
    for key, ts in events:
        d.pipe_input("clicks", key, "x", ts)
    size = getattr(windows, "size_ms", None)
    session = isinstance(windows, SessionWindows)
    out = d.read_output("out", value_serde=Serde.int,
                        windowed_key_serde=windowed_serde(Serde.str, size, session=session))
    return d, out


def _final(out):  # type: ignore[no-untyped-def]
    latest = {}
    for rec in out:
        latest[rec.key] = rec.value
    return {k: v for k, v in latest.items() if v is not None}


def test_tumbling_counts_with_out_of_order_and_late_records() -> None:
    events = [("a", 1), ("a", 3), ("b", 12), ("a", 11), ("a", 8),  # 8: out of order, window [0,10) still open
              ("a", 16), ("a", 2),                                    # 2: late, [0,10) closed at 16 - 5
              ("a", 14)]
    d, out = _windowed_counts(TimeWindows.of(size_ms=10, grace_ms=5), events)
    assert _final(out) == {Windowed("a", 0, 10): 3, Windowed("a", 10, 20): 3, Windowed("b", 10, 20): 1}
    assert d.dropped_late() == 1
    assert [r.value for r in out if r.key == Windowed("a", 0, 10)] == [1, 2, 3]  # emitted on every update


def test_grace_period_boundary_is_exclusive_of_window_end() -> None:
    # Window [0,10) with grace 5 closes once stream time reaches 15.
    _, out = _windowed_counts(TimeWindows.of(10, 5), [("a", 14), ("a", 9)])
    assert _final(out)[Windowed("a", 0, 10)] == 1
    d, out = _windowed_counts(TimeWindows.of(10, 5), [("a", 15), ("a", 9)])
    assert Windowed("a", 0, 10) not in _final(out) and d.dropped_late() == 1


def test_hopping_windows_count_every_overlapping_window() -> None:
    _, out = _windowed_counts(TimeWindows.of(10, 100).advance_by(5), [("k", 7), ("k", 12)])
    assert _final(out) == {Windowed("k", 0, 10): 1, Windowed("k", 5, 15): 2, Windowed("k", 10, 20): 1}


def test_suppress_emits_one_final_result_per_window_when_it_closes() -> None:
    events = [("a", 1), ("a", 4), ("b", 5), ("a", 12), ("a", 9), ("a", 14)]
    _, out = _windowed_counts(TimeWindows.of(10, 3), events, suppress=True)
    # Stream time 14 closes [0,10) (10 + 3 <= 14) but not [10,20).
    assert out == [(Windowed("a", 0, 10), 3, 9), (Windowed("b", 0, 10), 1, 5)]
    _, out = _windowed_counts(TimeWindows.of(10, 3), [*events, ("z", 40)], suppress=True)
    assert [(r.key, r.value) for r in out] == [(Windowed("a", 0, 10), 3), (Windowed("b", 0, 10), 1),
                                               (Windowed("a", 10, 20), 2)]


def test_session_windows_merge_and_forward_the_merged_away_sessions_as_deletions() -> None:
    events = [("u", 0), ("u", 3), ("u", 20), ("u", 10)]  # 10 bridges [0,3] and [20,20] (gap 10)
    _, out = _windowed_counts(SessionWindows.with_inactivity_gap(10, grace_ms=100), events)
    assert out[-3:] == [(Windowed("u", 0, 3), None, 10), (Windowed("u", 20, 20), None, 10),
                        (Windowed("u", 0, 20), 4, 10)]
    assert _final(out) == {Windowed("u", 0, 20): 4}


def test_session_windows_drop_late_records() -> None:
    d, out = _windowed_counts(SessionWindows.with_inactivity_gap(5, grace_ms=2), [("u", 100), ("u", 1)])
    assert _final(out) == {Windowed("u", 100, 100): 1} and d.dropped_late() == 1


def test_session_windows_with_suppress_and_no_grace_emit_each_final_session_once() -> None:
    # A session's end is inclusive: [0, 3] closes once stream time passes 3 (grace 0), so every
    # in-order update of it (at stream time == its end) must be kept for the final result.
    events = [("u", 0), ("u", 3), ("v", 3), ("u", 20), ("v", 21)]
    _, out = _windowed_counts(SessionWindows.with_inactivity_gap(5, grace_ms=0), events, suppress=True)
    assert [(r.key, r.value) for r in out] == [(Windowed("u", 0, 3), 2), (Windowed("v", 3, 3), 1),
                                               (Windowed("u", 20, 20), 1)]


def test_sliding_windows_put_early_records_in_the_window_from_zero() -> None:
    _, out = _windowed_counts(SlidingWindows.of(10, grace_ms=100), [("k", 5), ("k", 8)])
    assert [(r.key, r.value) for r in out] == [(Windowed("k", 0, 10), 1), (Windowed("k", 0, 10), 2),
                                               (Windowed("k", 6, 16), 1)]


def _brute_force_sliding(times: list[int], diff: int) -> dict[tuple[int, int], int]:
    """Every window [s, s+diff] that ends at a record or starts just after one, with its count."""
    out = {}
    for t in times:
        for start in (max(0, t - diff), t + 1):  # a record earlier than diff is in [0, diff]
            n = sum(1 for u in times if start <= u <= start + diff)
            if n:
                out[(start, start + diff)] = n
    return out


@pytest.mark.parametrize("seed", range(5))
def test_sliding_windows_match_a_brute_force_definition(seed: int) -> None:
    rng = random.Random(seed)
    times = [rng.randrange(0, 60) for _ in range(12)]
    _, out = _windowed_counts(SlidingWindows.of(10, grace_ms=1000), [("k", t) for t in times])
    got = {(w.start_ms, w.end_ms): v for w, v in _final(out).items()}
    assert got == _brute_force_sliding(times, 10), f"seed {seed}, times {times}"


def test_window_store_queries_return_windows_with_their_end() -> None:
    d, _ = _windowed_counts(TimeWindows.of(10, 100), [("a", 1), ("a", 12), ("a", 15), ("b", 3)])
    view = d.store("counts")
    assert view.fetch("a") == [(Windowed("a", 0, 10), 1), (Windowed("a", 10, 20), 2)]
    assert view.fetch("a", 5, 30) == [(Windowed("a", 10, 20), 2)]
    d, _ = _windowed_counts(SessionWindows.with_inactivity_gap(5, 100), [("a", 1), ("a", 4), ("a", 30)])
    assert d.store("counts").fetch_sessions("a") == [(Windowed("a", 1, 4), 2), (Windowed("a", 30, 30), 1)]


def test_purge_drops_windows_past_retention_and_keeps_the_rest() -> None:
    b = StreamsBuilder("w")
    b.stream("clicks", key_serde=Serde.str).group_by_key().windowed_by(TimeWindows.of(10, 0)) \
        .count(store="counts", retention_ms=30)
    d = TopologyTestDriver(b)
    for ts in [1, 15, 25, 70]:
        d.pipe_input("clicks", "a", "x", ts)
    # Stream time 70, retention 30: windows ending before 40 go ([0,10), [10,20), [20,30)).
    assert d.purge() == 3
    assert d.store("counts").fetch("a") == [(Windowed("a", 70, 80), 1)]


def test_retention_shorter_than_window_and_grace_is_refused() -> None:
    from kraft.apis.streams import TopologyError
    b = StreamsBuilder("w")
    with pytest.raises(TopologyError):
        b.stream("c").group_by_key().windowed_by(TimeWindows.of(10, 5)).count(retention_ms=14)


def test_purge_of_join_buffers_keeps_what_can_still_join() -> None:
    b = StreamsBuilder("j", default_key_serde=Serde.str, default_value_serde=Serde.str)
    b.stream("L").join(b.stream("R"), lambda x, y: x + y, JoinWindows.of(10, grace_ms=5)).to("out")
    d = TopologyTestDriver(b)
    d.pipe_input("L", "k", "old", 0)
    d.pipe_input("L", "k", "recent", 90)
    d.pipe_input("R", "k", "now", 100)
    assert d.purge() == 1  # "old" (0 < 100 - 25) can no longer join anything
    d.pipe_input("R", "k", "again", 95)
    assert [r.value for r in d.read_output("out", Serde.str, Serde.str)] == ["recentnow", "recentagain"]


def _model_counts(events: list[tuple[str, int]], size: int, advance: int, grace: int) -> dict[Windowed, int]:
    """What hopping/tumbling counts must be: stream time is the running max; a record counts in each
    of its windows that has not closed (end > stream time - grace) when it arrives."""
    counts: dict[Windowed, int] = {}
    stream_time = -1
    for key, ts in events:
        stream_time = max(stream_time, ts)
        for start in range(ts - ts % advance, -1, -advance):
            if start + size <= ts:
                break
            if start + size > stream_time - grace:
                w = Windowed(key, start, start + size)
                counts[w] = counts.get(w, 0) + 1
    return counts


@pytest.mark.parametrize("seed", range(8))
def test_windowed_counts_match_a_model_with_out_of_order_and_late_records(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([10, 20, 30])
    advance = rng.choice([a for a in (5, 10, size) if a <= size])
    grace = rng.choice([0, 5, 25])
    events, t = [], 0
    for _ in range(60):
        t += rng.randint(0, 6)
        events.append((rng.choice("abc"), max(0, t - rng.choice([0, 0, 0, 3, 12, 40]))))  # some out of order
    d, out = _windowed_counts(TimeWindows.of(size, grace).advance_by(advance), events)
    assert _final(out) == _model_counts(events, size, advance, grace), f"seed {seed}"
    expected_late = sum(1 for i, (k, ts) in enumerate(events)
                        for start in range(ts - ts % advance, -1, -advance)
                        if start + size > ts and start + size <= max(e[1] for e in events[:i + 1]) - grace)
    assert d.dropped_late() == expected_late
