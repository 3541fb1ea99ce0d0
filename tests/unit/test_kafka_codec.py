"""The Kafka request/response codec: dicts to every advertised version's bytes and back (via kio)."""

from __future__ import annotations

import io

import pytest
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from kraft import errors
from kraft.node.kafka.handlers import HANDLERS, supported_versions
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

ADVERTISED = [(key, v) for key, m in HANDLERS.items() for v in range(m.MIN_VERSION, m.MAX_VERSION + 1)]


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
    assert not has_schema(0, 2) and not has_schema(4242, 0)
    with pytest.raises(UnsupportedApi):
        decode_request(b"\x00\x00\x00\x02\x00\x00\x00\x01")
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
