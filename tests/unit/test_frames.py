"""Frame codec: round trips (whole, byte by byte, with trailing bytes) and a total-decoding fuzz."""

from __future__ import annotations

import contextlib
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.errors import FrameTooLarge, MalformedFrame
from kraft.protocol.frames import (
    FrameDecoder,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

# msgpack values the protocol carries: ints, str, bin, nil, bools, floats, arrays, maps.
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=20),
    st.binary(max_size=40),
    st.floats(allow_nan=False),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
bodies = st.dictionaries(st.text(max_size=12), values, max_size=6)
correlation_ids = st.integers(min_value=0, max_value=2**31 - 1)


def _frames(decoder: FrameDecoder) -> list[list]:
    out = []
    while (frame := decoder.next_frame()) is not None:
        out.append(frame)
    return out


# One table drives both directions: (decoded tuple, exact bytes).
VECTORS = [
    (
        ("request", 7, "api_versions", {}),
        b"\x00\x00\x00\x10" + b"\x93\x07\xacapi_versions\x80",
    ),
    (
        ("response", 1, 6, {"message": "x", "leader": 2}),
        b"\x00\x00\x00\x16" + b"\x93\x01\x06\x82\xa7message\xa1x\xa6leader\x02",
    ),
]


@pytest.mark.parametrize(("decoded", "wire"), VECTORS)
def test_vectors_encode_and_decode(decoded, wire):
    kind, cid, second, body = decoded
    if kind == "request":
        assert encode_request(cid, second, body) == wire
    else:
        assert encode_response(cid, second, body) == wire
    dec = FrameDecoder(1024)
    dec.feed(wire)
    frame = dec.next_frame()
    assert frame is not None
    assert (decode_request if kind == "request" else decode_response)(frame) == (cid, second, body)
    assert dec.next_frame() is None


@settings(max_examples=200)
@given(cid=correlation_ids, api=st.text(max_size=20), body=bodies, trailing=st.binary(max_size=3))
def test_request_round_trip_byte_by_byte_with_trailing(cid, api, body, trailing):
    wire = encode_request(cid, api, body)
    dec = FrameDecoder(1 << 20)
    frames = []
    for i in range(len(wire)):
        dec.feed(wire[i : i + 1])
        frames += _frames(dec)
        if i < len(wire) - 1:
            assert frames == []
    dec.feed(trailing)
    frames += _frames(dec)  # fewer than 4 trailing bytes never complete a frame
    assert len(frames) == 1
    assert decode_request(frames[0]) == (cid, api, body)
    assert dec.buffered_bytes == len(trailing)


@settings(max_examples=200)
@given(
    responses=st.lists(
        st.tuples(correlation_ids, st.integers(min_value=-1, max_value=2000), bodies), max_size=4
    ),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_many_responses_in_arbitrary_chunks(responses, chunk):
    wire = b"".join(encode_response(c, e, b) for c, e, b in responses)
    dec = FrameDecoder(1 << 20)
    frames = []
    for i in range(0, len(wire), chunk):
        dec.feed(wire[i : i + chunk])
        frames += _frames(dec)
    assert [decode_response(f) for f in frames] == responses
    assert dec.buffered_bytes == 0


def test_frame_too_large_on_prefix_alone():
    dec = FrameDecoder(100)
    dec.feed(struct.pack(">I", 101))
    with pytest.raises(FrameTooLarge):
        dec.next_frame()


def test_frame_at_limit_is_accepted():
    wire = encode_request(1, "x", {"k": b"a" * 50})
    dec = FrameDecoder(len(wire) - 4)
    dec.feed(wire)
    assert dec.next_frame() is not None


def test_incomplete_frame_needs_more_data():
    wire = encode_request(1, "metadata", {"topics": None})
    dec = FrameDecoder(1024)
    dec.feed(wire[:-1])
    assert dec.next_frame() is None
    dec.feed(wire[-1:])
    assert decode_request(dec.next_frame()) == (1, "metadata", {"topics": None})


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # zero-length frame
        b"\xc1",  # never-used msgpack byte
        msgpack.packb({"a": 1}),  # not an array
        msgpack.packb([1, 2]) + b"\x00",  # extra data inside the frame
        b"\xdd\xff\xff\xff\xff",  # array claiming 4G elements
        b"\x91" * 5000 + b"\x90",  # nesting deeper than msgpack's stack
    ],
)
def test_undecodable_payloads_are_malformed(payload):
    dec = FrameDecoder(1 << 20)
    dec.feed(struct.pack(">I", len(payload)) + payload)
    with pytest.raises(MalformedFrame):
        dec.next_frame()


@pytest.mark.parametrize(
    "frame",
    [[], [1, "a"], [1, "a", {}, 4], ["1", "a", {}], [True, "a", {}], [1, 2, {}], [1, "a", []]],
)
def test_bad_request_shapes(frame):
    with pytest.raises(MalformedFrame):
        decode_request(frame)


@pytest.mark.parametrize(
    "frame", [[1, 0], [1, "0", {}], [1, 0, None], [1.5, 0, {}], [1, False, {}]]
)
def test_bad_response_shapes(frame):
    with pytest.raises(MalformedFrame):
        decode_response(frame)


def test_int_map_keys_decode():
    # node_status answers {"peers": {node_id: bool}}.
    dec = FrameDecoder(1024)
    dec.feed(encode_response(3, 0, {"peers": {1: True, 2: False}}))
    assert decode_response(dec.next_frame()) == (3, 0, {"peers": {1: True, 2: False}})


def test_buffer_compacts_over_long_streams():
    frame = encode_request(1, "fetch", {"pad": b"x" * 1000})
    dec = FrameDecoder(1 << 20)
    for _ in range(1000):
        dec.feed(frame + frame[:10])
        while dec.next_frame() is not None:
            pass
        dec.feed(frame[10:])
        while dec.next_frame() is not None:
            pass
    assert dec.buffered_bytes == 0
    assert len(dec._buf) < 200_000


@settings(max_examples=1000)
@given(data=st.binary(max_size=200), limit=st.integers(min_value=1, max_value=300))
def test_fuzz_any_bytes_decode_or_raise_protocol_error(data, limit):
    dec = FrameDecoder(limit)
    dec.feed(data)
    try:
        while (frame := dec.next_frame()) is not None:
            with contextlib.suppress(MalformedFrame):
                decode_request(frame)
            with contextlib.suppress(MalformedFrame):
                decode_response(frame)
    except (MalformedFrame, FrameTooLarge):
        pass


@settings(max_examples=500)
@given(payload=st.binary(max_size=200))
def test_fuzz_payloads_behind_a_valid_prefix(payload):
    dec = FrameDecoder(1 << 20)
    dec.feed(struct.pack(">I", len(payload)) + payload)
    try:
        frame = dec.next_frame()
    except MalformedFrame:
        return
    assert isinstance(frame, list)
