"""Serdes: round-trips, Kafka-compatible byte layouts, None handling, type errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.apis.streams import Serde, Windowed, windowed_serde
from kraft.apis.streams.serdes import deserialize_windowed, infer_serialize, serialize_windowed

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSONABLE = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
                        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@given(st.binary())
def test_bytes_round_trip(data: bytes) -> None:
    assert Serde.bytes.deserialize(Serde.bytes.serialize(data)) == data


@given(st.text())
def test_str_round_trip_is_utf8(text: str) -> None:
    assert Serde.str.serialize(text) == text.encode("utf-8")
    assert Serde.str.deserialize(Serde.str.serialize(text)) == text


@given(LONGS)
def test_int_is_kafka_long_big_endian(n: int) -> None:
    data = Serde.int.serialize(n)
    assert data == struct.pack(">q", n) and len(data) == 8
    assert Serde.int.deserialize(data) == n


def test_int_layout_example() -> None:
    assert Serde.int.serialize(1) == b"\x00" * 7 + b"\x01"
    assert Serde.int.serialize(-1) == b"\xff" * 8


@given(JSONABLE)
def test_json_and_msgpack_round_trip(obj: object) -> None:
    assert Serde.json.deserialize(Serde.json.serialize(obj)) == obj
    assert Serde.msgpack.deserialize(Serde.msgpack.serialize(obj)) == obj


def test_none_is_never_passed_to_user_functions() -> None:
    calls = []
    serde = Serde(serialize=lambda o: calls.append(o) or b"x", deserialize=lambda b: calls.append(b) or "y")
    assert serde.serialize(None) is None and serde.deserialize(None) is None
    assert calls == []
    assert serde.serialize(1) == b"x" and serde.deserialize(b"1") == "y"


@pytest.mark.parametrize(("serde", "bad"), [(Serde.str, b"x"), (Serde.int, "1"), (Serde.int, True),
                                            (Serde.bytes, "x")])
def test_wrong_types_raise_type_error(serde: Serde, bad: object) -> None:
    with pytest.raises(TypeError):
        serde.serialize(bad)


def test_int_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        Serde.int.deserialize(b"\x00\x01")


@given(st.text(), st.integers(0, 2**62), st.integers(1, 10**9))
def test_windowed_key_is_key_bytes_then_start(key: str, start: int, size: int) -> None:
    w = Windowed(key, start, start + size)
    data = serialize_windowed(Serde.str, w)
    assert data == key.encode() + struct.pack(">q", start)
    assert deserialize_windowed(Serde.str, data, size) == w
    assert windowed_serde(Serde.str, size).deserialize(windowed_serde(Serde.str, size).serialize(w)) == w


@given(st.binary(), st.integers(0, 2**61), st.integers(0, 10**9))
def test_session_windowed_key_is_key_end_start(key: bytes, start: int, length: int) -> None:
    w = Windowed(key, start, start + length)
    data = serialize_windowed(Serde.bytes, w, session=True)
    assert data == key + struct.pack(">q", start + length) + struct.pack(">q", start)
    assert deserialize_windowed(Serde.bytes, data, session=True) == w


def test_inferred_serialization_by_type() -> None:
    assert infer_serialize(b"ab") == b"ab"
    assert infer_serialize("é") == "é".encode()
    assert infer_serialize(7) == struct.pack(">q", 7)
    assert infer_serialize({"a": [1]}) == b'{"a":[1]}'
    assert infer_serialize(None) is None
