"""CreatePartitions (37) on the wire and through both front ends: requests as kafka-python encodes
them for every version kraft advertises (v2+ flexible), decoded by kraft's codec, answered by the
handler over the broker's typed API (a stub topic "t" with 3 partitions on nodes 1 and 2, placed and
checked by the real ``kraft.placement``), the answers read back by kafka-python; Kafka's error codes
for each way a request can be wrong; the native ``create_partitions`` request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kafka.protocol.admin import CreatePartitionsRequest, CreatePartitionsResponse

from kraft import errors
from kraft.node.kafka import handlers as kafka_handlers
from kraft.protocol.kafka.codec import decode_request, encode_response
from tests.unit.test_front_ends import StubBroker, kafka, kafka_ctx, native, native_ctx

Topic = CreatePartitionsRequest.CreatePartitionsTopic
Assignment = CreatePartitionsRequest.CreatePartitionsTopic.CreatePartitionsAssignment
VERSIONS = list(range(kafka_handlers.HANDLERS[37].MIN_VERSION, kafka_handlers.HANDLERS[37].MAX_VERSION + 1))


def answer(request: Any, version: int, broker: StubBroker) -> dict[str, Any]:
    """The response to a kafka-python request at ``version``, as kafka-python reads it."""
    request.with_header(correlation_id=41, client_id="kp")
    decoded = decode_request(bytes(request.encode(version=version, header=True)))
    assert (decoded.api_key, decoded.api_version) == (37, version)
    body = asyncio.run(kafka_handlers.HANDLERS[37].handle(kafka_ctx(broker), decoded.body))
    assert body is not None
    frame = encode_response(37, version, decoded.correlation_id, body)
    response = CreatePartitionsResponse.decode(frame[4:], version=version, header=True)
    assert response.header.correlation_id == 41
    return response.to_dict()


def test_the_versions_kafka_python_and_librdkafka_send_are_advertised() -> None:
    assert VERSIONS == [0, 1, 2, 3]  # kafka-python 3.0 sends 3, librdkafka 2.16 sends 2


# (topic as kafka-python sends it, error code, message part) — the stub topic "t" has 3 partitions, RF 2.
CASES: list[tuple[Any, int, str | None]] = [
    (Topic(name="t", count=5), 0, None),
    (Topic(name="t", count=4, assignments=[Assignment(broker_ids=[2, 1])]), 0, None),
    (Topic(name="t", count=3), errors.InvalidPartitions.code, "has 3 partitions already"),
    (Topic(name="t", count=2), errors.InvalidPartitions.code, "can only grow"),
    (Topic(name="gone", count=5), errors.UnknownTopicOrPartition.code, "does not exist"),
    (Topic(name="t", count=5, assignments=[Assignment(broker_ids=[1, 2])]), 39, "2 partitions are added but 1"),
    (Topic(name="t", count=4, assignments=[Assignment(broker_ids=[1])]), 39, "replication factor is 2"),
    (Topic(name="t", count=4, assignments=[Assignment(broker_ids=[1, 1])]), 39, "names a node twice"),
    (Topic(name="t", count=4, assignments=[Assignment(broker_ids=[1, 7])]), 39, "does not have: [7]"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("topic", "code", "message"), CASES)
def test_create_partitions_from_kafka_python(version: int, topic: Any, code: int, message: str | None) -> None:
    broker = StubBroker()
    got = answer(CreatePartitionsRequest(topics=[topic], timeout_ms=5000, validate_only=False), version, broker)
    (result,) = got["results"]
    assert (result["name"], result["error_code"]) == (topic.name, code), result
    if message is None:
        assert result["error_message"] is None
    else:
        assert message in result["error_message"]
    (call,) = [c for c in broker.calls if c[0] == "create_partitions"]
    expected_assignment = None if topic.assignments is None else [list(a.broker_ids) for a in topic.assignments]
    assert call[1] == (topic.name, topic.count, expected_assignment, False)


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_only_and_each_topic_on_its_own(version: int) -> None:
    broker = StubBroker()
    got = answer(CreatePartitionsRequest(topics=[Topic(name="t", count=6), Topic(name="gone", count=2)],
                                         timeout_ms=0, validate_only=True), version, broker)
    assert [(r["name"], r["error_code"]) for r in got["results"]] == [("t", 0), ("gone", 3)]
    assert [c[1][3] for c in broker.calls] == [True, True]


def test_a_topic_named_twice_is_an_invalid_request_for_both() -> None:
    broker = StubBroker()
    got = kafka(37, kafka_ctx(broker), {"timeout": 0, "validate_only": False, "topics": [
        {"name": "t", "count": 4, "assignments": None}, {"name": "t", "count": 5, "assignments": None}]})
    assert got is not None
    assert [r["error_code"] for r in got["results"]] == [errors.InvalidRequest.code] * 2
    assert broker.calls == []


def test_native_create_partitions_answers_the_new_partitions() -> None:
    broker = StubBroker()
    got = native("create_partitions", native_ctx(broker), {"topic": "t", "total": 5})
    assert got == {"topic": "t", "previous": 3, "partitions": 5, "assignment": [[2, 1], [1, 2]]}
    got = native("create_partitions", native_ctx(broker), {"topic": "t", "total": 4, "assignment": [[2, 1]],
                                                           "validate_only": True})
    assert got["assignment"] == [[2, 1]]
    assert broker.calls[-1] == ("create_partitions", ("t", 4, [[2, 1]], True))


@pytest.mark.parametrize("body", [
    {"topic": "t"}, {"topic": "t", "total": "5"}, {"topic": "t", "total": True}, {"total": 5},
    {"topic": "t", "total": 5, "assignment": [1, 2]}, {"topic": "t", "total": 5, "assignment": [["1"]]},
    {"topic": "t", "total": 5, "validate_only": 1},
])
def test_native_create_partitions_refuses_a_malformed_body(body: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidRequest):
        native("create_partitions", native_ctx(StubBroker()), body)
