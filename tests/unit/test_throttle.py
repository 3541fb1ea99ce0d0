"""The learner throttle's token bucket (kraft.raft.throttle), on a fake clock: time is an argument."""

from __future__ import annotations

import pytest

from kraft.raft.throttle import BURST_S, UNLIMITED, LearnerThrottle

RATE = 1_000_000  # bytes/s


def drain(throttle: LearnerThrottle, now: float, message_bytes: int) -> int:
    """Send ``message_bytes`` messages at ``now`` while the bucket allows; bytes sent."""
    sent = 0
    while throttle.allowance(now) > 0:
        throttle.spend(message_bytes)
        sent += message_bytes
    return sent


def test_off_lets_everything_through_and_holds_nothing() -> None:
    throttle = LearnerThrottle(0)
    assert not throttle.enabled
    for _ in range(1000):
        assert throttle.allowance(0.0) == UNLIMITED
        throttle.spend(10_000_000)
    assert throttle.stats().held == 0
    assert throttle.stats().sent_bytes == 10_000_000_000


def test_a_full_bucket_allows_its_burst_then_holds_back() -> None:
    throttle = LearnerThrottle(RATE)
    assert throttle.allowance(0.0) == int(RATE * BURST_S)
    assert drain(throttle, 0.0, 50_000) == RATE * BURST_S
    assert throttle.allowance(0.0) == 0
    assert throttle.stats().held == 2  # the drain's last look and the one above


def test_the_long_run_rate_holds_whatever_the_message_size() -> None:
    for message in (1_000, 64_000, 2_000_000):  # the last is ten times the bucket
        throttle = LearnerThrottle(RATE)
        sent, now = 0, 0.0
        for _ in range(1000):  # 100 s in ticks of 100 ms
            now += 0.1
            sent += drain(throttle, now, message)
        # Never more than the burst plus the rate plus one message in debt ...
        assert sent <= RATE * (now + BURST_S) + message
        # ... and never much less: the throttle paces, it does not starve.
        assert sent >= RATE * now - message


def test_a_message_larger_than_the_bucket_still_goes_and_the_debt_is_repaid() -> None:
    throttle = LearnerThrottle(RATE)
    assert throttle.allowance(0.0) > 0
    throttle.spend(5 * RATE)  # 5 s of tokens at once
    assert throttle.allowance(4.0) == 0
    assert throttle.allowance(5.0 + BURST_S) > 0


def test_idle_time_saves_up_no_more_than_the_burst() -> None:
    throttle = LearnerThrottle(RATE)
    assert throttle.allowance(3600.0) == int(RATE * BURST_S)


def test_the_allowance_is_what_the_bucket_holds() -> None:
    throttle = LearnerThrottle(RATE)
    throttle.spend(int(RATE * BURST_S) - 1000)
    assert throttle.allowance(0.0) == 1000
    assert throttle.allowance(0.0078125) == 1000 + RATE // 128


def test_a_clock_that_steps_back_adds_no_tokens() -> None:
    throttle = LearnerThrottle(RATE)
    throttle.allowance(10.0)
    throttle.spend(int(RATE * BURST_S))
    assert throttle.allowance(5.0) == 0
    assert throttle.allowance(10.0) == 0
    assert throttle.allowance(10.125) == RATE // 8  # refilled from 10.0 (times exact in binary)


def test_a_tiny_rate_still_lets_one_message_through_at_a_time() -> None:
    throttle = LearnerThrottle(1)  # 1 byte/s: the bucket holds 1 byte, never less
    assert throttle.allowance(0.0) == 1
    throttle.spend(100)
    assert throttle.allowance(50.0) == 0
    assert throttle.allowance(101.0) == 1


def test_sent_bytes_count_everything_spent() -> None:
    throttle = LearnerThrottle(RATE)
    throttle.spend(123)
    throttle.spend(456)
    assert throttle.stats().sent_bytes == 579
    assert throttle.stats().bytes_per_s == RATE


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        LearnerThrottle(-1)
