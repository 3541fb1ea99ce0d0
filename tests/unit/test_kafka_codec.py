"""The Kafka request/response codec: dicts to every advertised version's bytes and back (via kio)."""

from __future__ import annotations

import io
import struct

import pytest
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from kraft import errors
from kraft.node.kafka.handlers import HANDLERS, supported_versions
from kraft.protocol.kafka import legacy
from kraft.protocol.kafka.codec import (
    KafkaFrameDecoder,
    UnsupportedApi,
    build,
    decode_request,
    encode_response,
    error_code,
    has_schema,
    to_plain,
)

ADVERTISED = [(key, v) for key, m in HANDLERS.items() for v in range(m.MIN_VERSION, m.MAX_VERSION + 1)
              if not legacy.is_legacy(key, v)]  # kio has no schema for these: their own tests below


@pytest.mark.parametrize(("key", "version"), ADVERTISED)
def test_every_advertised_version_has_a_schema_and_an_error_answer(key: int, version: int) -> None:
    assert has_schema(key, version)
    frame = encode_response(key, version, 77, {"error_code": 42})
    schema = load_response_schema(key, version)
    view = memoryview(frame)[4:]
    header, pos = entity_reader(schema.__header_schema__)(view, 0)
    assert header.correlation_id == 77
    entity_reader(schema)(view, pos)


@pytest.mark.parametrize(("key", "version"), ADVERTISED)
def test_a_default_request_decodes_to_plain_values(key: int, version: int) -> None:
    schema = load_request_schema(key, version)
    out = io.BytesIO()
    header_cls = schema.__header_schema__
    entity_writer(header_cls)(out, build(header_cls, {"request_api_key": key, "request_api_version": version,
                                                      "correlation_id": 5, "client_id": "c"}))
    entity_writer(schema)(out, build(schema, {}))
    request = decode_request(out.getvalue() + b"\x00\x00\x00")  # trailing bytes are tolerated
    assert (request.api_key, request.api_version, request.correlation_id, request.client_id) == (key, version, 5, "c")
    assert isinstance(request.body, dict)


def test_nested_values_and_timedeltas_round_trip() -> None:
    body = {"acks": -1, "timeout": 1500, "transactional_id": None,
            "topic_data": [{"name": "t", "partition_data": [{"index": 2, "records": b"\x01\x02"}]}]}
    schema = load_request_schema(0, 7)
    assert to_plain(build(schema, body)) == body


def test_unknown_versions_and_bad_frames() -> None:
    assert has_schema(0, 2) and has_schema(1, 3) and not has_schema(2, 99) and not has_schema(4242, 0)
    with pytest.raises(UnsupportedApi):
        decode_request(b"\x00\x02\x00\x63\x00\x00\x00\x01")  # ListOffsets v99: no schema
    with pytest.raises(errors.MalformedFrame):
        decode_request(b"\x00\x0a\x00\x01\x00\x00\x00\x01\x7f\xff")
    decoder = KafkaFrameDecoder(100)
    decoder.feed(b"\x00\x00\x00\x0b\x00\x03\x00\x01\x00\x00\x00\x07\xff\xff\x00")
    assert decoder.next_frame() is not None and decoder.next_frame() is None
    decoder.feed(b"\x00\x00\x10\x00")
    with pytest.raises(errors.FrameTooLarge):
        decoder.next_frame()


def test_kraft_codes_map_to_kafka_codes() -> None:
    assert int(error_code(errors.NotLeader.code)) == 6
    assert int(error_code(errors.TooManyInFlight.code)) == -1  # kraft-only codes have no Kafka twin
    assert {a["api_key"] for a in supported_versions()} == set(HANDLERS)


@pytest.mark.parametrize("ms", [1001, 45_001, 299_999, 2**31 - 1, 0, -1])
def test_timedeltas_decode_to_their_exact_milliseconds(ms: int) -> None:
    # total_seconds() is a float: 1.001 * 1000 used to truncate to 1000.
    body = {"acks": -1, "timeout": ms, "transactional_id": None, "topic_data": []}
    frame = io.BytesIO()
    schema = load_request_schema(0, 7)
    header_cls = schema.__header_schema__
    entity_writer(header_cls)(frame, build(header_cls, {"request_api_key": 0, "request_api_version": 7,
                                                        "correlation_id": 1, "client_id": "c"}))
    entity_writer(schema)(frame, build(schema, body))
    assert decode_request(frame.getvalue()).body["timeout"] == ms


def test_datetime_fields_take_and_give_epoch_milliseconds() -> None:
    # ProduceResponse v7's log_append_time is a nullable datetime in kio: -1 (Kafka's "none") or ms.
    schema = load_response_schema(0, 7)

    def part(**fields: object) -> dict[str, object]:
        body = {"responses": [{"name": "t", "partition_responses": [{"index": 0, **fields}]}]}
        plain = to_plain(build(schema, body))
        return plain["responses"][0]["partition_responses"][0]

    assert part(log_append_time=1_700_000_000_123)["log_append_time"] == 1_700_000_000_123
    assert part(log_append_time=-1)["log_append_time"] is None
    assert part()["log_append_time"] is None
    frame = encode_response(0, 7, 3, {"responses": [{"name": "t", "partition_responses": [
        {"index": 0, "log_append_time": 1_700_000_000_123}]}]})
    view = memoryview(frame)[4:]
    _, pos = entity_reader(schema.__header_schema__)(view, 0)
    value, _ = entity_reader(schema)(view, pos)
    assert to_plain(value)["responses"][0]["partition_responses"][0]["log_append_time"] == 1_700_000_000_123


# Produce v0-2, written by hand (kio has none): a request as librdkafka 0.9-fallback producers send it.
def _legacy_produce_frame(version: int, records: bytes | None) -> bytes:
    def string(s: str) -> bytes:
        return struct.pack(">h", len(s)) + s.encode()

    header = struct.pack(">hhi", 0, version, 9) + string("rdkafka")
    data = b"" if records is None else records
    part = struct.pack(">ii", 3, -1 if records is None else len(data)) + data
    return header + struct.pack(">hi", -1, 1500) + struct.pack(">i", 1) + string("t") + struct.pack(">i", 1) + part


@pytest.mark.parametrize("version", [0, 1, 2])
def test_legacy_produce_requests_decode_as_later_versions_do(version: int) -> None:
    request = decode_request(_legacy_produce_frame(version, b"\x01\x02"))
    assert (request.api_key, request.api_version, request.correlation_id) == (0, version, 9)
    assert request.client_id == "rdkafka"
    assert request.body == {"transactional_id": None, "acks": -1, "timeout": 1500, "topic_data": [
        {"name": "t", "partition_data": [{"index": 3, "records": b"\x01\x02"}]}]}
    assert decode_request(_legacy_produce_frame(version, None)).body["topic_data"][0]["partition_data"][0][
        "records"] is None


def test_a_truncated_legacy_produce_request_is_malformed_at_every_length() -> None:
    frame = _legacy_produce_frame(1, b"\x01\x02\x03")
    for n in range(8, len(frame)):  # from the 8 bytes every header starts with (peek_header's)
        with pytest.raises(errors.MalformedFrame):
            decode_request(frame[:n])
    with pytest.raises(errors.MalformedFrame):  # an array count no request could hold
        decode_request(struct.pack(">hhi", 0, 1, 9) + struct.pack(">h", -1) + struct.pack(">hii", 1, 1500, 1 << 30))


@pytest.mark.parametrize(("version", "tail"), [
    (0, b""), (1, struct.pack(">i", 0)), (2, struct.pack(">i", 0))])
def test_legacy_produce_responses_have_each_versions_fields(version: int, tail: bytes) -> None:
    frame = encode_response(0, version, 9, {"responses": [{"name": "t", "partition_responses": [
        {"index": 3, "error_code": 0, "base_offset": 42, "log_append_time": 1_700_000_000_000}]}]})
    partition = struct.pack(">ihq", 3, 0, 42) + (struct.pack(">q", 1_700_000_000_000) if version == 2 else b"")
    body = struct.pack(">i", 9) + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t" + struct.pack(">i", 1) + partition
    assert frame == struct.pack(">i", len(body + tail)) + body + tail
    # an error answer (no responses at all) still encodes
    assert encode_response(0, version, 9, {"error_code": 42})[4:] == struct.pack(">ii", 9, 0) + tail


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_legacy_fetch_requests_and_responses(version: int) -> None:
    def string(s: str) -> bytes:
        return struct.pack(">h", len(s)) + s.encode()

    body = struct.pack(">iii", -1, 500, 1) + (struct.pack(">i", 1 << 20) if version == 3 else b"")
    body += struct.pack(">i", 1) + string("t") + struct.pack(">i", 1) + struct.pack(">iqi", 2, 40, 1 << 16)
    request = decode_request(struct.pack(">hhi", 1, version, 9) + string("c") + body)
    assert request.body["topics"] == [{"topic": "t", "partitions": [
        {"partition": 2, "fetch_offset": 40, "partition_max_bytes": 1 << 16, "current_leader_epoch": -1,
         "log_start_offset": -1}]}]
    assert (request.body["max_wait"], request.body["min_bytes"], request.body.get("max_bytes")) == (
        500, 1, (1 << 20) if version == 3 else None)
    frame = encode_response(1, version, 9, {"responses": [{"topic": "t", "partitions": [
        {"partition_index": 2, "error_code": 0, "high_watermark": 44, "records": b"MS"}]}]})
    throttle = struct.pack(">i", 0) if version >= 1 else b""
    want = struct.pack(">i", 9) + throttle + struct.pack(">i", 1) + string("t") + struct.pack(">i", 1) + struct.pack(
        ">ihqi", 2, 0, 44, 2) + b"MS"
    assert frame == struct.pack(">i", len(want)) + want


def test_legacy_list_offsets_v0_lists_one_offset_or_none() -> None:
    def string(s: str) -> bytes:
        return struct.pack(">h", len(s)) + s.encode()

    body = struct.pack(">i", -1) + struct.pack(">i", 1) + string("t") + struct.pack(">i", 2) + struct.pack(
        ">iqi", 0, -2, 1) + struct.pack(">iqi", 1, -1, 1)
    request = decode_request(struct.pack(">hhi", 2, 0, 9) + string("c") + body)
    assert request.body["topics"] == [{"name": "t", "partitions": [
        {"partition_index": 0, "timestamp": -2, "current_leader_epoch": -1},
        {"partition_index": 1, "timestamp": -1, "current_leader_epoch": -1}]}]
    frame = encode_response(2, 0, 9, {"topics": [{"name": "t", "partitions": [
        {"partition_index": 0, "error_code": 0, "offset": 7}, {"partition_index": 1, "error_code": 6, "offset": -1}]}]})
    want = struct.pack(">i", 9) + struct.pack(">i", 1) + string("t") + struct.pack(">i", 2) + struct.pack(
        ">ihiq", 0, 0, 1, 7) + struct.pack(">ihi", 1, 6, 0)
    assert frame == struct.pack(">i", len(want)) + want
