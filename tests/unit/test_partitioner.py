"""murmur2 against the values of Kafka's UtilsTest, and the key -> partition rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.partitioner import murmur2, partition_for_key

KAFKA_VECTORS = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
]


@pytest.mark.parametrize(("text", "expected"), KAFKA_VECTORS)
def test_murmur2_matches_kafka(text, expected):
    assert murmur2(text.encode()) == expected


@given(st.binary(max_size=64))
def test_murmur2_is_signed_32_bit(data):
    assert -(2**31) <= murmur2(data) < 2**31


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1000))
def test_partition_in_range_and_stable(key, n):
    p = partition_for_key(key, n)
    assert 0 <= p < n
    assert p == (murmur2(key) & 0x7FFFFFFF) % n


def test_partition_example():
    # (-973932308 & 0x7fffffff) % 6
    assert partition_for_key(b"21", 6) == (-973932308 & 0x7FFFFFFF) % 6


def test_partition_rejects_zero_partitions():
    with pytest.raises(ValueError):
        partition_for_key(b"k", 0)
