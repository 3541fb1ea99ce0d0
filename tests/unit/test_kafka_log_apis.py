"""DeleteRecords (21) and DescribeLogDirs (35) on the wire: requests as kafka-python encodes them, for
every version kraft advertises (v2+ flexible), decoded by kraft's codec, answered by the handlers over
the broker's typed API, and the answers read back by kafka-python. And what advertising them does
to kafka-python's guess of the broker's version (nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kafka.protocol.admin import (
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
)
from kafka.protocol.api_key import ApiKey
from kafka.protocol.broker_version_data import infer_broker_version_from_api_versions

from kraft.node.kafka import handlers as kafka_handlers
from kraft.protocol.kafka.codec import decode_request, encode_response
from tests.unit.test_front_ends import StubBroker, kafka_ctx


def answer(request: Any, version: int) -> tuple[int, dict[str, Any]]:
    """(correlation id, response as kafka-python reads it) for a kafka-python request at ``version``."""
    request.with_header(correlation_id=41, client_id="kp")
    decoded = decode_request(bytes(request.encode(version=version, header=True)))
    assert (decoded.api_key, decoded.api_version) == (request.API_KEY, version)
    handler = kafka_handlers.HANDLERS[decoded.api_key]
    body = asyncio.run(handler.handle(kafka_ctx(StubBroker()), decoded.body))
    assert body is not None
    frame = encode_response(decoded.api_key, version, decoded.correlation_id, body)
    response_cls = DeleteRecordsResponse if decoded.api_key == 21 else DescribeLogDirsResponse
    response = response_cls.decode(frame[4:], version=version, header=True)
    return response.header.correlation_id, response.to_dict()


def advertised(key: int) -> list[int]:
    m = kafka_handlers.HANDLERS[key]
    return list(range(m.MIN_VERSION, m.MAX_VERSION + 1))


def test_the_advertised_versions_are_what_clients_use() -> None:
    assert advertised(21) == [0, 1, 2]  # librdkafka asks 0-1, kafka-python up to 2
    assert advertised(35) == [1, 2, 3, 4]  # v0 is gone from Kafka 4's schemas; 5 is left out (below)


@pytest.mark.parametrize("version", advertised(21))
def test_delete_records_from_kafka_python(version: int) -> None:
    request = DeleteRecordsRequest(topics=[("t", [(0, 5), (1, 5), (2, -1)]), ("gone", [(0, 1)])], timeout_ms=1000)
    cid, got = answer(request, version)
    assert cid == 41
    assert got["topics"] == [
        {"name": "t", "partitions": [{"partition_index": 0, "low_watermark": 5, "error_code": 0},
                                     {"partition_index": 1, "low_watermark": -1, "error_code": 6},
                                     {"partition_index": 2, "low_watermark": 11, "error_code": 0}]},
        {"name": "gone", "partitions": [{"partition_index": 0, "low_watermark": -1, "error_code": 3}]}]


@pytest.mark.parametrize("version", advertised(35))
@pytest.mark.parametrize("topics", [None, [("t", [0, 1])]])
def test_describe_log_dirs_from_kafka_python(version: int, topics: list[Any] | None) -> None:
    cid, got = answer(DescribeLogDirsRequest(topics=topics), version)
    assert cid == 41
    (log_dir,) = got["results"]
    assert (log_dir["error_code"], log_dir["log_dir"]) == (0, "/data/1")
    assert log_dir["topics"] == [{"name": "t", "partitions": [
        {"partition_index": 0, "partition_size": 640, "offset_lag": 0, "is_future_key": False}]}]
    if version >= 4:
        assert (log_dir["total_bytes"], log_dir["usable_bytes"]) == (1000, 400)


def test_advertising_them_leaves_kafka_pythons_broker_version_alone() -> None:
    # kafka-python guesses the broker's version from the advertised ranges and changes its requests
    # by it; DescribeLogDirs v5 alone would make kraft "Kafka 4.3".
    ranges = {ApiKey(m["api_key"]): (m["min_version"], m["max_version"])
              for m in kafka_handlers.supported_versions() if m["api_key"] in ApiKey._value2member_map_}
    without = {k: v for k, v in ranges.items() if k not in (ApiKey.DeleteRecords, ApiKey.DescribeLogDirs)}
    assert infer_broker_version_from_api_versions(ranges) == infer_broker_version_from_api_versions(without)
    assert infer_broker_version_from_api_versions({**ranges, ApiKey.DescribeLogDirs: (1, 5)}) == (4, 3)
